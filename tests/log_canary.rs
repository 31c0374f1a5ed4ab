//! No secret of the auth material ever reaches a log (SPEC 3.7, issue 11).
//!
//! Every secret-bearing field of the material (`verification_tokens`,
//! `sigv4_keys[].secret_access_key` and `session_token`,
//! `oauth_clients[].client_secret`, `oauth_signing_keys[].private_key_pem`,
//! and a secret that is not JSON at all) is seeded with a unique canary, in
//! every wrong shape a document can take: wrong JSON type, wrong nesting,
//! invalid base64 or PEM, duplicate ids, bad characters. The good secrets
//! around it are canaries too, and so is the token each test request
//! presents. Then the binary runs, at `RUST_LOG` trace, debug and info:
//!
//! - (a) start-up with `REDOX_SECRET_FILE` naming the bad document: the
//!   local server (debug binary) and Lambda mode (release binary under the
//!   fake Runtime API, whose `/init/error` body is checked too);
//! - (b) the refresh path: good material at start-up, the bad document
//!   written over it, the TTL left to expire, and requests sent so the
//!   re-fetch fails and logs its warning;
//! - (c) Secrets Manager (moto): AWSCURRENT good with the bad document as
//!   AWSPREVIOUS (its "is ignored" warning), and the bad document as
//!   AWSCURRENT (start-up refused).
//!
//! No canary may appear in stdout, stderr or the init-error body. Each run
//! also checks that it exercised what it claims (the refusal, the warning,
//! the served request), so an empty log cannot pass by accident.

mod support;

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use redox_destination::auth::material::Material;
use serde_json::{Value, json};
use support::{
    ChildGuard, Moto, RuntimeApi, free_port, function_url_event, http_request, lambda_answer,
    release_binary,
};

const LEVELS: [&str; 3] = ["trace", "debug", "info"];

// ---- canaries and documents -------------------------------------------------------

/// A random lower-case alphanumeric string.
fn random_id(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes).expect("OS randomness");
    bytes
        .iter()
        .map(|b| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[usize::from(*b) % 36]))
        .collect()
}

/// A secret that must never be logged. Its two random parts are searched
/// for, so a log that prints the secret truncated or cut still counts.
#[derive(Debug, Clone)]
struct Canary {
    text: String,
    head: String,
    tail: String,
}

const ID_LEN: usize = 10;

impl Canary {
    fn new(field: &str, shape: &str) -> Canary {
        let head = random_id(ID_LEN);
        let tail = random_id(ID_LEN);
        Canary {
            text: format!("CANARY-{head}-{field}-{shape}-{tail}"),
            head,
            tail,
        }
    }
}

/// Every canary of one run, registered as it is made.
#[derive(Default)]
struct Canaries(Mutex<Vec<Canary>>);

impl Canaries {
    fn make(&self, field: &str, shape: &str) -> String {
        let canary = Canary::new(field, shape);
        let text = canary.text.clone();
        self.0.lock().expect("canaries").push(canary);
        text
    }

    fn all(&self) -> Vec<Canary> {
        self.0.lock().expect("canaries").clone()
    }
}

/// Finds canaries in one pass over a text (logs at trace level are large):
/// every window of a run of `[a-z0-9]` is looked up among the random parts.
struct Detector {
    canaries: Vec<Canary>,
    ids: HashMap<String, usize>,
}

impl Detector {
    fn new(canaries: Vec<Canary>) -> Detector {
        let mut ids = HashMap::new();
        for (i, canary) in canaries.iter().enumerate() {
            ids.insert(canary.head.clone(), i);
            ids.insert(canary.tail.clone(), i);
        }
        Detector { canaries, ids }
    }

    /// The canaries `output` shows, each once.
    fn find(&self, output: &str) -> Vec<&Canary> {
        let mut found: Vec<usize> = Vec::new();
        let runs = output.split(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit()));
        for run in runs.filter(|run| run.len() >= ID_LEN) {
            for start in 0..=run.len() - ID_LEN {
                if let Some(&i) = self.ids.get(&run[start..start + ID_LEN])
                    && !found.contains(&i)
                {
                    found.push(i);
                }
            }
        }
        found.into_iter().map(|i| &self.canaries[i]).collect()
    }
}

fn pkcs8_pem() -> String {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("an Ed25519 key");
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(pkcs8.as_ref())
    )
}

/// The good material: every secret in it is a canary too (text before a
/// PEM block is ignored by the parser, so the key carries one as well).
struct Good {
    doc: Value,
    token: String,
}

fn good_material(canaries: &Canaries) -> Good {
    let token = canaries.make("good", "token");
    let doc = json!({
        "verification_tokens": [token],
        "sigv4_keys": [
            {"access_key_id": "AKIDCANARYGOOD", "secret_access_key": canaries.make("good", "sigv4-secret"),
             "region": "us-east-1", "service": "lambda"},
            {"access_key_id": "ASIACANARYGOOD", "secret_access_key": canaries.make("good", "session-secret"),
             "region": "us-east-1", "service": "lambda", "session_token": canaries.make("good", "session-token")},
        ],
        "oauth_clients": [{"client_id": "redox", "client_secret": canaries.make("good", "client-secret")}],
        "oauth_signing_keys": [{"kid": "k1",
            "private_key_pem": format!("{}\n{}", canaries.make("good", "pem"), pkcs8_pem())}],
    });
    Good { doc, token }
}

/// One bad document: a field in a wrong shape, holding a canary.
#[derive(Debug, Clone)]
struct Shape {
    name: String,
    text: String,
}

fn set(doc: &Value, pointer: &str, value: Value) -> String {
    let mut doc = doc.clone();
    let (parent, last) = pointer.rsplit_once('/').expect("a pointer");
    let target = doc.pointer_mut(parent).expect("the parent exists");
    match target {
        Value::Array(list) => list[last.parse::<usize>().expect("an index")] = value,
        other => other[last] = value,
    }
    doc.to_string()
}

/// Every wrong shape of every secret-bearing field.
fn bad_shapes(canaries: &Canaries, good: &Good) -> Vec<Shape> {
    let doc = &good.doc;
    let mut shapes = Vec::new();
    let mut add = |name: &str, text: String| {
        shapes.push(Shape {
            name: name.to_owned(),
            text,
        })
    };
    let c = |field: &str, shape: &str| canaries.make(field, shape);
    let key = |secret: Value| {
        json!({"access_key_id": "AKIDCANARYBAD", "secret_access_key": secret,
               "region": "us-east-1", "service": "lambda"})
    };

    // verification_tokens
    add(
        "tokens-string-not-list",
        set(doc, "/verification_tokens", json!(c("tokens", "string"))),
    );
    add(
        "tokens-objects-not-strings",
        set(
            doc,
            "/verification_tokens",
            json!([{"token": c("tokens", "objects")}]),
        ),
    );
    add(
        "tokens-nested-list",
        set(
            doc,
            "/verification_tokens",
            json!([[c("tokens", "nested")]]),
        ),
    );
    add(
        "tokens-object-not-list",
        set(
            doc,
            "/verification_tokens",
            json!({"current": c("tokens", "object")}),
        ),
    );
    add(
        "tokens-number",
        set(doc, "/verification_tokens", json!([4242])),
    );
    add(
        "tokens-mixed-types",
        set(
            doc,
            "/verification_tokens",
            json!([c("tokens", "mixed"), 42]),
        ),
    );
    add(
        "tokens-control-character",
        set(
            doc,
            "/verification_tokens/0",
            json!(format!("{}\u{1}", c("tokens", "control"))),
        ),
    );
    add(
        "tokens-padded",
        set(
            doc,
            "/verification_tokens/0",
            json!(format!(" {}", c("tokens", "padded"))),
        ),
    );
    add(
        "tokens-duplicate",
        set(doc, "/verification_tokens", {
            let t = c("tokens", "duplicate");
            json!([t.clone(), t])
        }),
    );
    // sigv4_keys[].secret_access_key
    add(
        "sigv4-keys-string-not-list",
        set(doc, "/sigv4_keys", json!(c("sigv4", "string"))),
    );
    add(
        "sigv4-keys-list-of-strings",
        set(doc, "/sigv4_keys", json!([c("sigv4", "strings")])),
    );
    add(
        "sigv4-keys-object-not-list",
        set(doc, "/sigv4_keys", key(json!(c("sigv4", "object")))),
    );
    add(
        "sigv4-keys-nested-list",
        set(
            doc,
            "/sigv4_keys",
            json!([[key(json!(c("sigv4", "nested")))]]),
        ),
    );
    add(
        "sigv4-secret-number",
        set(doc, "/sigv4_keys/0/secret_access_key", json!(123_456)),
    );
    add(
        "sigv4-secret-list",
        set(
            doc,
            "/sigv4_keys/0/secret_access_key",
            json!([c("sigv4-secret", "list")]),
        ),
    );
    add(
        "sigv4-secret-object",
        set(
            doc,
            "/sigv4_keys/0/secret_access_key",
            json!({"v": c("sigv4-secret", "object")}),
        ),
    );
    add(
        "sigv4-secret-padded",
        set(
            doc,
            "/sigv4_keys/0/secret_access_key",
            json!(format!("{} ", c("sigv4-secret", "padded"))),
        ),
    );
    add(
        "sigv4-secret-misspelt-field",
        set(
            doc,
            "/sigv4_keys/0",
            json!({
        "access_key_id": "AKIDCANARYBAD", "secret_acess_key": c("sigv4-secret", "misspelt"),
        "region": "us-east-1", "service": "lambda"}),
        ),
    );
    add(
        "sigv4-duplicate-access-key-id",
        set(
            doc,
            "/sigv4_keys",
            json!([
                key(json!(c("sigv4-secret", "duplicate-1"))),
                key(json!(c("sigv4-secret", "duplicate-2")))
            ]),
        ),
    );
    add(
        "sigv4-region-with-slash",
        set(
            doc,
            "/sigv4_keys/0",
            json!({
        "access_key_id": "AKIDCANARYBAD", "secret_access_key": c("sigv4-secret", "bad-region"),
        "region": "us-east-1/x", "service": "lambda"}),
        ),
    );
    // sigv4_keys[].session_token
    add(
        "session-token-list",
        set(
            doc,
            "/sigv4_keys/1/session_token",
            json!([c("session-token", "list")]),
        ),
    );
    add(
        "session-token-object",
        set(
            doc,
            "/sigv4_keys/1/session_token",
            json!({"v": c("session-token", "object")}),
        ),
    );
    add(
        "session-token-number",
        set(doc, "/sigv4_keys/1/session_token", json!(7)),
    );
    add(
        "session-token-control-character",
        set(
            doc,
            "/sigv4_keys/1/session_token",
            json!(format!("{}\n", c("session-token", "control"))),
        ),
    );
    // oauth_clients[].client_secret
    add(
        "clients-string-not-list",
        set(doc, "/oauth_clients", json!(c("clients", "string"))),
    );
    add(
        "clients-list-of-strings",
        set(doc, "/oauth_clients", json!([c("clients", "strings")])),
    );
    add(
        "client-secret-list",
        set(
            doc,
            "/oauth_clients/0/client_secret",
            json!([c("client-secret", "list")]),
        ),
    );
    add(
        "client-secret-number",
        set(doc, "/oauth_clients/0/client_secret", json!(99)),
    );
    add(
        "client-secret-control-character",
        set(
            doc,
            "/oauth_clients/0/client_secret",
            json!(format!("{}\u{7}", c("client-secret", "control"))),
        ),
    );
    add(
        "client-secret-misspelt-field",
        set(
            doc,
            "/oauth_clients/0",
            json!({"client_id": "redox", "clientsecret": c("client-secret", "misspelt")}),
        ),
    );
    add(
        "clients-duplicate-id",
        set(
            doc,
            "/oauth_clients",
            json!([
        {"client_id": "redox", "client_secret": c("client-secret", "duplicate-1")},
        {"client_id": "redox", "client_secret": c("client-secret", "duplicate-2")}]),
        ),
    );
    // oauth_signing_keys[].private_key_pem
    add(
        "signing-keys-string-not-list",
        set(
            doc,
            "/oauth_signing_keys",
            json!(c("signing-keys", "string")),
        ),
    );
    add(
        "signing-keys-list-of-strings",
        set(
            doc,
            "/oauth_signing_keys",
            json!([c("signing-keys", "strings")]),
        ),
    );
    add(
        "pem-not-pem",
        set(
            doc,
            "/oauth_signing_keys/0/private_key_pem",
            json!(c("pem", "not-pem")),
        ),
    );
    add(
        "pem-invalid-base64",
        set(
            doc,
            "/oauth_signing_keys/0/private_key_pem",
            json!(format!(
                "-----BEGIN PRIVATE KEY-----\n{}!!\n-----END PRIVATE KEY-----",
                c("pem", "base64")
            )),
        ),
    );
    add(
        "pem-sec1",
        set(
            doc,
            "/oauth_signing_keys/0/private_key_pem",
            json!(format!(
                "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----",
                c("pem", "sec1")
            )),
        ),
    );
    add(
        "pem-not-a-key",
        set(
            doc,
            "/oauth_signing_keys/0/private_key_pem",
            json!(format!(
                "{}\n-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----",
                c("pem", "not-a-key"),
                STANDARD.encode([0x30u8, 0x03, 0x02, 0x01, 0x00])
            )),
        ),
    );
    add(
        "pem-list",
        set(
            doc,
            "/oauth_signing_keys/0/private_key_pem",
            json!([c("pem", "list")]),
        ),
    );
    add(
        "signing-keys-duplicate-kid",
        set(
            doc,
            "/oauth_signing_keys",
            json!([
        {"kid": "k1", "private_key_pem": format!("{}\n{}", c("pem", "duplicate-1"), pkcs8_pem())},
        {"kid": "k1", "private_key_pem": format!("{}\n{}", c("pem", "duplicate-2"), pkcs8_pem())}]),
        ),
    );
    // the document as a whole
    add(
        "wrong-nesting",
        json!({"auth_material": doc.clone(), "note": c("document", "nesting")}).to_string(),
    );
    add(
        "unknown-top-level-field",
        set(
            doc,
            "/verification_token",
            json!([c("document", "misspelt")]),
        ),
    );
    add("truncated-json", {
        let text = set(
            doc,
            "/verification_tokens/0",
            json!(c("document", "truncated")),
        );
        let cut = text.rfind("CANARY").expect("canary") + 30;
        text[..cut].to_owned()
    });
    add(
        "not-json-control-character",
        format!("{}\u{1}\n", c("non-json", "control")),
    );
    add("not-json-brace", format!("{{{}", c("non-json", "brace")));
    add(
        "not-json-plain-token",
        format!("{}\n", c("non-json", "plain")),
    );
    add(
        "not-json-array",
        json!([c("non-json", "array")]).to_string(),
    );
    shapes
}

// ---- running the binary ------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Door {
    Local,
    Lambda,
}

enum Front {
    Local(u16),
    Lambda(RuntimeApi),
}

struct Process {
    child: ChildGuard,
    front: Front,
    stdout: PathBuf,
    stderr: PathBuf,
}

#[derive(Debug)]
enum Ready {
    Serving,
    Exited(std::process::ExitStatus),
    InitError(Value),
}

impl Process {
    fn start(door: Door, env: &[(String, String)], dir: &Path) -> Process {
        let stdout = dir.join("stdout.log");
        let stderr = dir.join("stderr.log");
        let (binary, front, door_env) = match door {
            Door::Local => {
                let port = free_port();
                (
                    PathBuf::from(env!("CARGO_BIN_EXE_redox-destination")),
                    Front::Local(port),
                    vec![("REDOX_LISTEN".to_owned(), format!("127.0.0.1:{port}"))],
                )
            }
            Door::Lambda => {
                let api = RuntimeApi::start();
                let env = api.lambda_env();
                (release_binary(), Front::Lambda(api), env)
            }
        };
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(door_env)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(std::fs::File::create(&stdout).expect("stdout file"))
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .stdin(Stdio::null())
            .spawn()
            .expect("start redox-destination");
        Process {
            child: ChildGuard(child),
            front,
            stdout,
            stderr,
        }
    }

    fn child(&mut self) -> &mut Child {
        &mut self.child.0
    }

    /// Serving requests, refused start-up (exit or `/init/error`), or stuck.
    fn wait_ready(&mut self) -> Ready {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Front::Lambda(api) = &self.front {
                if let Some(error) = api.wait_init_error(Duration::from_millis(10)) {
                    return Ready::InitError(error);
                }
                if api.next_calls() > 0 {
                    return Ready::Serving;
                }
            }
            // The banner is printed once the socket is bound: a port that
            // answers could belong to another test's listener.
            if let Front::Local(_) = self.front
                && std::fs::read_to_string(&self.stdout)
                    .is_ok_and(|out| out.contains("listening on http://"))
            {
                return Ready::Serving;
            }
            if let Ok(Some(status)) = self.child().try_wait() {
                if let Front::Lambda(api) = &self.front
                    && let Some(error) = api.wait_init_error(Duration::from_millis(200))
                {
                    return Ready::InitError(error);
                }
                return Ready::Exited(status);
            }
            thread::sleep(Duration::from_millis(10));
        }
        panic!("redox-destination neither served nor stopped within 30 s");
    }

    /// Starts and waits; a local server whose free port was taken in the
    /// meantime (tests bind ports concurrently) is started again.
    fn start_ready(door: Door, env: &[(String, String)], dir: &Path) -> (Process, Ready) {
        for _ in 0..3 {
            let mut process = Process::start(door, env, dir);
            let ready = process.wait_ready();
            let lost_port = matches!(ready, Ready::Exited(_))
                && std::fs::read_to_string(&process.stderr)
                    .is_ok_and(|err| err.contains("cannot listen"));
            if !lost_port {
                return (process, ready);
            }
        }
        panic!("no free port for the local server after 3 attempts");
    }

    /// Sends one push presenting `token`; returns the HTTP status.
    fn push(&self, token: &str) -> u16 {
        let bearer = format!("Bearer {token}");
        let headers = [
            ("content-type", "application/json"),
            ("verification-token", token),
            ("authorization", bearer.as_str()),
        ];
        let body = br#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival","Logs":[{"ID":"log-1","AttemptID":"a-1"}]}}"#;
        match &self.front {
            Front::Local(port) => http_request(*port, "POST", "/", &headers, body).status,
            Front::Lambda(api) => {
                lambda_answer(&api.invoke(&function_url_event("POST", "/", "", &headers, body))).0
            }
        }
    }

    /// Stops the process (if it still runs) and returns everything it wrote.
    fn finish(mut self) -> Vec<(&'static str, String)> {
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child().try_wait() {
                break;
            }
            if matches!(self.front, Front::Local(_)) {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child().kill();
        let _ = self.child().wait();
        let mut outputs = vec![
            (
                "stdout",
                std::fs::read_to_string(&self.stdout).unwrap_or_default(),
            ),
            (
                "stderr",
                std::fs::read_to_string(&self.stderr).unwrap_or_default(),
            ),
        ];
        if let Front::Lambda(api) = &self.front
            && let Some(error) = api.wait_init_error(Duration::ZERO)
        {
            outputs.push(("init-error body", error.to_string()));
        }
        outputs
    }
}

/// What one run wrote, and whether it exercised what it claims.
struct Run {
    label: String,
    outputs: Vec<(&'static str, String)>,
    control: Result<(), String>,
}

type Job = Box<dyn FnOnce() -> Run + Send>;

/// Runs the jobs on `parallel` threads; a panicking job is a failed control.
fn run_all(jobs: Vec<(String, Job)>, parallel: usize) -> Vec<Run> {
    let jobs: Arc<Mutex<Vec<(String, Job)>>> = Arc::new(Mutex::new(jobs));
    let runs: Arc<Mutex<Vec<Run>>> = Arc::default();
    let workers: Vec<_> = (0..parallel)
        .map(|_| {
            let (jobs, runs) = (jobs.clone(), runs.clone());
            thread::spawn(move || {
                loop {
                    let Some((label, job)) = jobs.lock().expect("jobs").pop() else {
                        return;
                    };
                    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job))
                        .unwrap_or_else(|panic| Run {
                            label: label.clone(),
                            outputs: Vec::new(),
                            control: Err(format!(
                                "the run panicked: {}",
                                panic
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                                    .unwrap_or_default()
                            )),
                        });
                    runs.lock().expect("runs").push(run);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().expect("a worker thread");
    }
    std::mem::take(&mut *runs.lock().expect("runs"))
}

/// Fails with every leak and every failed control, each with its context.
fn assert_no_canary(what: &str, canaries: &Canaries, runs: &[Run]) {
    let detector = Detector::new(canaries.all());
    let mut leaks = Vec::new();
    let mut controls = Vec::new();
    for run in runs {
        if let Err(why) = &run.control {
            controls.push(format!("  {}: {why}", run.label));
        }
        for (place, output) in &run.outputs {
            for canary in detector.find(output) {
                let line = output
                    .lines()
                    .find(|l| l.contains(canary.head.as_str()) || l.contains(canary.tail.as_str()))
                    .unwrap_or_default();
                let shown: String = line.chars().take(400).collect();
                leaks.push(format!(
                    "  {} — {place} shows {}:\n      {shown}",
                    run.label, canary.text
                ));
            }
        }
    }
    leaks.sort();
    controls.sort();
    eprintln!(
        "log canary {what}: {} runs, {} canaries, {} leaks, {} failed controls",
        runs.len(),
        detector.canaries.len(),
        leaks.len(),
        controls.len()
    );
    assert!(
        leaks.is_empty() && controls.is_empty(),
        "{what}: {} secret(s) reached the output and {} run(s) did not exercise their path\n\
         leaks:\n{}\nfailed controls:\n{}",
        leaks.len(),
        controls.len(),
        leaks.join("\n"),
        controls.join("\n")
    );
}

fn is_invalid(text: &str) -> bool {
    Material::from_secret_text(text).is_err()
}

fn write(path: &Path, text: &str) {
    let mut file = std::fs::File::create(path).expect("create the material file");
    file.write_all(text.as_bytes())
        .expect("write the material file");
    file.sync_all().expect("sync the material file");
}

fn base_env(dir: &Path, level: &str) -> Vec<(String, String)> {
    let spool = dir.join("spool");
    std::fs::create_dir_all(&spool).expect("spool folder");
    vec![
        ("RUST_LOG".into(), level.into()),
        ("REDOX_SPOOL_DIR".into(), spool.display().to_string()),
    ]
}

/// Start-up with the document in `REDOX_SECRET_FILE`: refused naming the
/// variable when the document is invalid, else serving (one push sent,
/// presenting a canary token).
fn start_up_run(door: Door, shape: Shape, level: &'static str, token: String) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("material.json");
    write(&file, &shape.text);
    let mut env = base_env(dir.path(), level);
    env.push(("REDOX_SECRET_FILE".into(), file.display().to_string()));
    let (process, ready) = Process::start_ready(door, &env, dir.path());
    let mut control = Ok(());
    match (&ready, is_invalid(&shape.text)) {
        (Ready::Serving, false) => {
            process.push(&token);
        }
        (Ready::Serving, true) => control = Err("served with invalid material".into()),
        (Ready::Exited(status), true) if status.success() => {
            control = Err("exited with success on invalid material".into())
        }
        (Ready::InitError(body), true)
            if !body["errorMessage"]
                .as_str()
                .is_some_and(|m| m.contains("REDOX_SECRET_FILE")) =>
        {
            control = Err(format!(
                "the /init/error report does not name the variable: {body}"
            ))
        }
        (Ready::Exited(_) | Ready::InitError(_), true) => {}
        (other, false) => control = Err(format!("valid material, but {other:?}")),
    }
    let outputs = process.finish();
    if is_invalid(&shape.text) && control.is_ok() {
        let mentioned = outputs
            .iter()
            .any(|(_, text)| text.contains("REDOX_SECRET_FILE"));
        if !mentioned {
            control = Err("the refusal does not name REDOX_SECRET_FILE".into());
        }
        if door == Door::Lambda && !matches!(ready, Ready::InitError(_)) {
            control = Err(format!("no /init/error report: {ready:?}"));
        }
    }
    Run {
        label: format!("{door:?} start-up, {}, RUST_LOG={level}", shape.name),
        outputs,
        control,
    }
}

fn start_up_jobs(door: Door, canaries: &Arc<Canaries>) -> Vec<(String, Job)> {
    let good = good_material(canaries);
    let shapes = bad_shapes(canaries, &good);
    let mut jobs: Vec<(String, Job)> = Vec::new();
    for level in LEVELS {
        for shape in &shapes {
            let (shape, token) = (shape.clone(), canaries.make("request", "token"));
            jobs.push((
                format!("{door:?} {level} {}", shape.name),
                Box::new(move || start_up_run(door, shape, level, token)),
            ));
        }
    }
    jobs
}

#[test]
fn bad_material_at_local_server_start_up_never_reaches_its_output() {
    let canaries = Arc::new(Canaries::default());
    let runs = run_all(start_up_jobs(Door::Local, &canaries), 24);
    assert_no_canary(
        "local server start-up (REDOX_SECRET_FILE)",
        &canaries,
        &runs,
    );
}

#[test]
fn bad_material_at_lambda_start_up_never_reaches_its_log_or_init_error() {
    let canaries = Arc::new(Canaries::default());
    let runs = run_all(start_up_jobs(Door::Lambda, &canaries), 24);
    assert_no_canary("Lambda start-up (REDOX_SECRET_FILE)", &canaries, &runs);
}

/// Good material at start-up, then the bad document over it: a wrong token
/// after the re-fetch interval (re-fetch after a miss) and a good one after
/// the TTL (refresh of stale material) both re-read the file and fail.
fn refresh_run(door: Door, shape: Shape, level: &'static str, good: String, token: String) -> Run {
    const TTL: Duration = Duration::from_secs(2);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("material.json");
    write(&file, &good);
    let mut env = base_env(dir.path(), level);
    env.extend([
        ("REDOX_SECRET_FILE".into(), file.display().to_string()),
        ("REDOX_SECRET_TTL_SECS".into(), TTL.as_secs().to_string()),
        ("REDOX_SECRET_REFETCH_SECS".into(), "1".into()),
    ]);
    let (process, ready) = Process::start_ready(door, &env, dir.path());
    let started = Instant::now();
    let mut control = Ok(());
    if matches!(ready, Ready::Serving) {
        write(&file, &shape.text);
        thread::sleep(Duration::from_millis(1200));
        let miss = process.push(&format!("{token}-wrong"));
        thread::sleep((TTL + Duration::from_millis(300)).saturating_sub(started.elapsed()));
        let stale = process.push(&token);
        if miss != 401 {
            control = Err(format!("a wrong token was answered {miss}"));
        }
        // The stale copy keeps serving the good token when the file is bad.
        if is_invalid(&shape.text) && stale != 401 && stale != 200 {
            control = Err(format!(
                "a push after the failed refresh was answered {stale}"
            ));
        }
    } else {
        control = Err(format!("did not start with good material: {ready:?}"));
    }
    let outputs = process.finish();
    if control.is_ok() && is_invalid(&shape.text) {
        let warned = outputs.iter().any(|(_, text)| {
            text.contains("auth material refresh failed")
                || text.contains("re-fetch after a credential miss failed")
        });
        if !warned {
            control = Err("the failed refresh logged no warning".into());
        }
    }
    Run {
        label: format!("{door:?} refresh, {}, RUST_LOG={level}", shape.name),
        outputs,
        control,
    }
}

#[test]
fn a_failed_refresh_of_the_material_file_never_logs_a_secret() {
    let canaries = Arc::new(Canaries::default());
    let good = good_material(&canaries);
    let shapes = bad_shapes(&canaries, &good);
    let mut jobs: Vec<(String, Job)> = Vec::new();
    for door in [Door::Local, Door::Lambda] {
        for level in LEVELS {
            for shape in &shapes {
                let (shape, doc) = (shape.clone(), good.doc.to_string());
                let token = good.token.clone();
                jobs.push((
                    format!("{door:?} {level} {}", shape.name),
                    Box::new(move || refresh_run(door, shape, level, doc, token)),
                ));
            }
        }
    }
    let runs = run_all(jobs, 96);
    assert_no_canary("refresh of REDOX_SECRET_FILE", &canaries, &runs);
}

/// A moto server, checked to be moto: its free port may have been taken by
/// another test's listener before moto bound it.
fn moto() -> Moto {
    for _ in 0..3 {
        let moto = Moto::start();
        if http_request(moto.port, "GET", "/moto-api/data.json", &[], b"").status == 200 {
            return moto;
        }
    }
    panic!("moto_server did not get a port of its own after 3 attempts");
}

/// Start-up from Secrets Manager: the bad document as AWSPREVIOUS (ignored
/// with a warning; a push is then served) or as AWSCURRENT (refused).
fn secrets_manager_run(
    door: Door,
    shape: Shape,
    level: &'static str,
    secret_id: String,
    previous: bool,
    aws_env: Vec<(String, String)>,
    token: String,
) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = base_env(dir.path(), level);
    env.extend(aws_env);
    env.push(("REDOX_SECRET_ID".into(), secret_id));
    env.push(("REDOX_AWS_TIMEOUT_MS".into(), "10000".into()));
    let (process, ready) = Process::start_ready(door, &env, dir.path());
    let invalid = is_invalid(&shape.text);
    let mut control = Ok(());
    match (&ready, previous, invalid) {
        (Ready::Serving, true, _) | (Ready::Serving, false, false) => {
            let status = process.push(&token);
            if previous && status != 200 {
                control = Err(format!("the AWSCURRENT token was answered {status}"));
            }
        }
        (Ready::Exited(_) | Ready::InitError(_), false, true) => {}
        (other, _, _) => control = Err(format!("unexpected start-up: {other:?}")),
    }
    let outputs = process.finish();
    if control.is_ok() && invalid {
        let expected = if previous {
            "AWSPREVIOUS version is ignored"
        } else {
            "REDOX_SECRET_ID"
        };
        if !outputs.iter().any(|(_, text)| text.contains(expected)) {
            control = Err(format!("the output does not say {expected:?}"));
        }
    }
    let stage = if previous {
        "AWSPREVIOUS"
    } else {
        "AWSCURRENT"
    };
    Run {
        label: format!(
            "{door:?} Secrets Manager {stage}, {}, RUST_LOG={level}",
            shape.name
        ),
        outputs,
        control,
    }
}

#[test]
fn a_bad_secrets_manager_version_never_logs_a_secret() {
    let canaries = Arc::new(Canaries::default());
    let good = good_material(&canaries);
    let shapes = bad_shapes(&canaries, &good);
    let moto = moto();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let secrets = runtime.block_on(async {
        let client = aws_sdk_secretsmanager::Client::new(&moto.sdk_config().await);
        let mut secrets = Vec::new();
        for (i, shape) in shapes.iter().enumerate() {
            let previous = format!("redox-canary-previous-{i}");
            let current = format!("redox-canary-current-{i}");
            for name in [&previous, &current] {
                client
                    .create_secret()
                    .name(name)
                    .secret_string(&shape.text)
                    .send()
                    .await
                    .expect("create the secret");
            }
            // The good document becomes AWSCURRENT, the bad one AWSPREVIOUS.
            client
                .put_secret_value()
                .secret_id(&previous)
                .secret_string(good.doc.to_string())
                .send()
                .await
                .expect("put the good version");
            secrets.push((shape.clone(), previous, current));
        }
        secrets
    });
    let aws_env = moto.aws_env();
    let mut jobs: Vec<(String, Job)> = Vec::new();
    for door in [Door::Local, Door::Lambda] {
        for level in LEVELS {
            for (shape, previous, current) in &secrets {
                for (secret_id, is_previous) in [(previous, true), (current, false)] {
                    let (shape, secret_id, aws_env) =
                        (shape.clone(), secret_id.clone(), aws_env.clone());
                    let token = good.token.clone();
                    jobs.push((
                        format!("{door:?} {level} {} {is_previous}", shape.name),
                        Box::new(move || {
                            secrets_manager_run(
                                door,
                                shape,
                                level,
                                secret_id,
                                is_previous,
                                aws_env,
                                token,
                            )
                        }),
                    ));
                }
            }
        }
    }
    let runs = run_all(jobs, 32);
    assert_no_canary("Secrets Manager (moto)", &canaries, &runs);
    drop(moto);
}

#[test]
fn the_canary_search_finds_a_canary_however_it_is_cut() {
    // The detector itself: a canary shown whole, cut at the end, cut at the
    // start, or inside JSON, is found; other text is not.
    let canaries = Canaries::default();
    let text = canaries.make("check", "detector");
    let other = canaries.make("check", "other");
    let detector = Detector::new(canaries.all());
    let found = |output: &str| -> Vec<String> {
        detector
            .find(output)
            .iter()
            .map(|c| c.text.clone())
            .collect()
    };
    let both = vec![other.clone(), text.clone()];
    let just = |t: &String| vec![t.clone()];
    assert_eq!(
        found(&format!("error: invalid type: string \"{text}\"")),
        just(&text)
    );
    assert_eq!(found(&text[..text.len() - 12]), just(&text));
    assert_eq!(found(&text[18..]), just(&text));
    assert_eq!(found(&json!({"reason": text}).to_string()), just(&text));
    assert_eq!(found(&format!("{other} and {text}")), both);
    assert!(found("CANARY-----check-detector----- 0123456789abcdef").is_empty());
}
