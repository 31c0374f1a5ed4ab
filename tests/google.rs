//! The `google` method (issue 27): Redox's Google Workload Identity
//! Federation and OAuth 2.0 with JWT Bearer for GCP strategies, against a
//! stand-in for Google (`tests/fixtures/google/fake_google.py`: Google's
//! JWKS and token-info answer shapes, ID tokens signed by PyJWT), through
//! the release binary in server mode and in Lambda mode behind a Function
//! URL front.
//!
//! - ID tokens: the pinned service account's, for the configured audience,
//!   queued; for another audience, of another account, with
//!   `email_verified` false, expired, signed by a key Google does not
//!   publish, `alg` HS256 or `none`: 401, nothing queued;
//! - access tokens: the pinned account's queued; another account's, or one
//!   token-info refuses: 401; token-info down, hanging or answering 5xx:
//!   503 with `Retry-After` within the deadline; 1,000 pushes with one
//!   token make one call; 1,000 random Bearer values from one address make
//!   at most the per-address cap of calls;
//! - `send` presents a token made elsewhere as it is.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use support::function_url::FunctionUrl;
use support::server::{Server, TOKEN, read_answer};
use support::{ChildGuard, HttpAnswer, RuntimeApi, http_request, release_binary, repo_root};

const AUDIENCE: &str = "https://redox-destination.example.com";
const SA_ID: &str = "110022003300440055006";
const SA_EMAIL: &str = "redox-push@hospital-proj.iam.gserviceaccount.com";
const STRANGER_ID: &str = "999888777666555444333";
const STRANGER_EMAIL: &str = "anyone@another-proj.iam.gserviceaccount.com";
const PUSH: &str = r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival"}}"#;

// ---- the stand-in for Google --------------------------------------------

struct FakeGoogle {
    _child: ChildGuard,
    port: u16,
}

impl FakeGoogle {
    fn start() -> FakeGoogle {
        let mut child = Command::new(support::venv_bin("python"))
            .arg(repo_root().join("tests/fixtures/google/fake_google.py"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the stand-in for Google (run `make venv` for PyJWT)");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the stand-in prints its port");
        let port = line.trim().parse().unwrap_or_else(|_| {
            panic!(
                "the stand-in for Google did not start (is PyJWT installed? `make venv`): {line:?}"
            )
        });
        FakeGoogle {
            _child: ChildGuard(child),
            port,
        }
    }

    fn control(&self, path: &str, body: &Value) -> Value {
        let answer = http_request(
            self.port,
            "POST",
            path,
            &[("content-type", "application/json")],
            body.to_string().as_bytes(),
        );
        assert_eq!(answer.status, 200, "{path}: {}", answer.text());
        answer.json()
    }

    /// An ID token for `claims` over the defaults (the pinned account, the
    /// audience, an hour's life), signed by Google's key or a stranger's.
    fn id_token(&self, changes: Value) -> String {
        self.id_token_with(changes, "google", "RS256", json!({}))
    }

    fn id_token_with(&self, changes: Value, key: &str, alg: &str, header: Value) -> String {
        let now = now_secs();
        let mut claims = json!({
            "iss": "https://accounts.google.com", "aud": AUDIENCE, "azp": SA_ID,
            "sub": SA_ID, "email": SA_EMAIL, "email_verified": true,
            "iat": now, "exp": now + 3600,
        });
        for (name, value) in changes.as_object().expect("changes") {
            if value.is_null() {
                claims.as_object_mut().expect("claims").remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        let token = self.control(
            "/control/id-token",
            &json!({"claims": claims, "key": key, "alg": alg, "header": header}),
        );
        token["token"].as_str().expect("token").to_owned()
    }

    fn access_token(&self, azp: &str, email: Option<&str>, expires_in: u64) -> String {
        let token = self.control(
            "/control/access-token",
            &json!({"azp": azp, "email": email, "expires_in": expires_in}),
        );
        token["token"].as_str().expect("token").to_owned()
    }

    fn mode(&self, tokeninfo: &str) {
        self.control("/control/mode", &json!({"tokeninfo": tokeninfo}));
    }

    fn tokeninfo_calls(&self) -> u64 {
        let answer = http_request(self.port, "GET", "/control/calls", &[], b"");
        answer.json()["tokeninfo"].as_u64().expect("count")
    }

    fn env(&self) -> Vec<(String, String)> {
        vec![
            ("REDOX_GOOGLE_AUDIENCE".into(), AUDIENCE.into()),
            (
                "REDOX_GOOGLE_JWKS_URL".into(),
                format!("http://127.0.0.1:{}/oauth2/v3/certs", self.port),
            ),
            (
                "REDOX_GOOGLE_TOKENINFO_URL".into(),
                format!("http://127.0.0.1:{}/tokeninfo", self.port),
            ),
        ]
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// The auth material: the verification token, and the pinned account by
/// both its unique id and its email.
fn material(dir: &std::path::Path) -> String {
    let path = dir.join("material.json");
    std::fs::write(
        &path,
        json!({
            "verification_tokens": [TOKEN],
            "google_service_accounts": [{"unique_id": SA_ID, "email": SA_EMAIL}],
        })
        .to_string(),
    )
    .expect("material");
    path.to_string_lossy().into_owned()
}

// ---- the destination, in either mode -------------------------------------

/// The release binary in server mode, or in Lambda mode behind a Function
/// URL front; both spool what they accept.
enum Destination {
    Server {
        server: Server,
        _material: tempfile::TempDir,
    },
    Lambda {
        front: FunctionUrl,
        _function: support::FunctionProcess,
        spool: tempfile::TempDir,
        _material: tempfile::TempDir,
    },
}

impl Destination {
    fn server(google: &FakeGoogle, extra: &[(&str, &str)]) -> Destination {
        let dir = tempfile::tempdir().expect("dir");
        let material = material(dir.path());
        let mut env: Vec<(String, String)> = google.env();
        env.push(("REDOX_SECRET_FILE".into(), material));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Destination::Server {
            server: Server::start(&env),
            _material: dir,
        }
    }

    fn lambda(google: &FakeGoogle, extra: &[(&str, &str)]) -> Destination {
        let dir = tempfile::tempdir().expect("dir");
        let spool = tempfile::tempdir().expect("spool");
        let api = Arc::new(RuntimeApi::start());
        let mut env = google.env();
        env.extend([
            ("REDOX_SECRET_FILE".into(), material(dir.path())),
            (
                "REDOX_SPOOL_DIR".into(),
                spool.path().to_string_lossy().into_owned(),
            ),
            ("REDOX_METRICS".into(), "off".into()),
        ]);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let function = api.start_function(&env);
        if let Some(error) = api.wait_init_error(Duration::from_millis(1500)) {
            panic!("the function failed to start: {error}\n{}", function.log());
        }
        let front = FunctionUrl::start(api);
        Destination::Lambda {
            front,
            _function: function,
            spool,
            _material: dir,
        }
    }

    fn port(&self) -> u16 {
        match self {
            Destination::Server { server, .. } => server.port,
            Destination::Lambda { front, .. } => front.port,
        }
    }

    /// One push on a new connection; the answer is read as one HTTP
    /// message (the Function URL front keeps the connection open).
    fn push_bearer(&self, bearer: &str) -> HttpAnswer {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port())).expect("connect");
        let request = format!(
            "POST / HTTP/1.1\r\nhost: redox-destination.example.com\r\n\
             content-type: application/json\r\nauthorization: Bearer {bearer}\r\n\
             content-length: {}\r\n\r\n{PUSH}",
            PUSH.len()
        );
        stream.write_all(request.as_bytes()).expect("write");
        read_answer(&mut stream, Duration::from_secs(30)).unwrap_or_else(|| {
            if let Destination::Lambda { _function, .. } = self {
                eprintln!("the function's log:\n{}", _function.log());
            }
            panic!("{}: no answer", self.name())
        })
    }

    fn spooled(&self) -> usize {
        let dir = match self {
            Destination::Server { server, .. } => server.dir.path().join("spool"),
            Destination::Lambda { spool, .. } => spool.path().to_owned(),
        };
        std::fs::read_dir(dir)
            .expect("spool dir")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
            .count()
    }

    /// Everything the destination logged so far.
    fn log(&self) -> String {
        match self {
            Destination::Server { server, .. } => server.log(),
            Destination::Lambda { _function, .. } => _function.log(),
        }
    }

    /// No token reached a log line, whole or in part.
    fn assert_never_logged(&self, tokens: &[&str]) {
        let log = self.log();
        for token in tokens {
            // The token, and the signature part of a JWT or the last part
            // of an access token on its own.
            let last_part = token.rsplit('.').next().filter(|p| p.len() >= 16);
            for part in [Some(*token), last_part].into_iter().flatten() {
                assert!(
                    !log.contains(part),
                    "{}: a token (or its last part) is in the log",
                    self.name()
                );
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Destination::Server { .. } => "server mode",
            Destination::Lambda { .. } => "Lambda mode",
        }
    }
}

// ---- ID tokens -------------------------------------------------------------

#[test]
fn id_tokens_of_the_pinned_service_account_are_queued_and_no_other_google_token() {
    let google = FakeGoogle::start();
    for destination in [
        Destination::server(&google, &[]),
        Destination::lambda(&google, &[]),
    ] {
        let mode = destination.name();
        let good = google.id_token(json!({}));
        let answer = destination.push_bearer(&good);
        assert_eq!(answer.status, 200, "{mode}: {}", answer.text());
        // Minted without the email (no `includeEmail`): pinned by its id.
        let no_email = google.id_token(json!({"email": null, "email_verified": null}));
        assert_eq!(destination.push_bearer(&no_email).status, 200, "{mode}");
        let legacy_issuer = google.id_token(json!({"iss": "accounts.google.com"}));
        assert_eq!(
            destination.push_bearer(&legacy_issuer).status,
            200,
            "{mode}"
        );
        assert_eq!(destination.spooled(), 3, "{mode}");

        let refused = [
            (
                "another audience",
                google.id_token(json!({"aud": "https://elsewhere.example.com"})),
            ),
            (
                "a stranger's service account",
                google.id_token(
                    json!({"sub": STRANGER_ID, "azp": STRANGER_ID, "email": STRANGER_EMAIL}),
                ),
            ),
            (
                "the pinned email on another account",
                google.id_token(json!({"sub": STRANGER_ID, "azp": STRANGER_ID})),
            ),
            (
                "email_verified false",
                google.id_token(json!({"email_verified": false})),
            ),
            (
                "expired",
                google.id_token(json!({"iat": now_secs() - 7200, "exp": now_secs() - 3600})),
            ),
            (
                "a key Google does not publish",
                google.id_token_with(json!({}), "stranger", "RS256", json!({})),
            ),
            (
                "HS256",
                google.id_token_with(json!({}), "google", "HS256", json!({})),
            ),
            ("alg none", unsigned(&google.id_token(json!({})))),
        ];
        for (what, token) in &refused {
            let answer = destination.push_bearer(token);
            assert_eq!(answer.status, 401, "{mode}, {what}: {}", answer.text());
        }
        assert_eq!(destination.spooled(), 3, "{mode}: nothing else queued");
        let mut used: Vec<&str> = vec![&good, &no_email, &legacy_issuer];
        used.extend(refused.iter().map(|(_, token)| token.as_str()));
        destination.assert_never_logged(&used);
    }
}

/// The token with `alg: none` and no signature.
fn unsigned(token: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims = token.split('.').nth(1).expect("claims");
    format!(
        "{}.{claims}.",
        b64.encode(r#"{"alg":"none","typ":"JWT","kid":"google-key-1"}"#)
    )
}

// ---- access tokens ---------------------------------------------------------

#[test]
fn access_tokens_are_checked_at_token_info_and_pinned_to_the_service_account() {
    let google = FakeGoogle::start();
    // Four lookups from this test's one address within the minute.
    let calls = [("REDOX_GOOGLE_MAX_LOOKUPS_PER_ADDRESS", "10")];
    for destination in [
        Destination::server(&google, &calls),
        Destination::lambda(&google, &calls),
    ] {
        let mode = destination.name();
        let pinned = google.access_token(SA_ID, None, 3600);
        assert_eq!(destination.push_bearer(&pinned).status, 200, "{mode}");
        let with_email = google.access_token(SA_ID, Some(SA_EMAIL), 3600);
        assert_eq!(destination.push_bearer(&with_email).status, 200, "{mode}");
        let stranger = google.access_token(STRANGER_ID, Some(STRANGER_EMAIL), 3600);
        let answer = destination.push_bearer(&stranger);
        assert_eq!(answer.status, 401, "{mode}: {}", answer.text());
        let unknown = "ya29.c.not-a-token-google-ever-issued";
        assert_eq!(destination.push_bearer(unknown).status, 401, "{mode}");
        assert_eq!(destination.spooled(), 2, "{mode}");
        destination.assert_never_logged(&[&pinned, &with_email, &stranger, unknown]);
    }
}

#[test]
fn a_thousand_pushes_with_one_access_token_make_one_token_info_call() {
    let google = FakeGoogle::start();
    let destination = Destination::server(&google, &[]);
    let token = google.access_token(SA_ID, None, 3600);
    let before = google.tokeninfo_calls();
    for _ in 0..1000 {
        let answer = destination.push_bearer(&token);
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let calls = google.tokeninfo_calls() - before;
    println!("1,000 pushes with one access token: {calls} token-info call(s)");
    assert_eq!(calls, 1);
    assert_eq!(destination.spooled(), 1000);
}

#[test]
fn a_thousand_random_bearer_values_from_one_address_make_at_most_the_cap_of_calls() {
    let google = FakeGoogle::start();
    let destination = Destination::server(&google, &[]);
    let before = google.tokeninfo_calls();
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..1000 {
        let answer = destination.push_bearer(&format!("ya29.random-{i:04}-{}", now_secs()));
        *statuses.entry(answer.status).or_insert(0) += 1;
        if answer.status == 429 {
            assert!(answer.header("retry-after").is_some());
        }
    }
    let calls = google.tokeninfo_calls() - before;
    println!("1,000 random Bearer values from one address: {calls} call(s), answers {statuses:?}");
    assert!(calls <= 1, "{calls} calls");
    assert!(
        statuses.keys().all(|s| *s == 401 || *s == 429),
        "{statuses:?}"
    );
    // Values of no Google shape are never sent to Google at all.
    for i in 0..100 {
        let answer = destination.push_bearer(&format!("random-{i}"));
        assert_eq!(answer.status, 401);
    }
    assert_eq!(google.tokeninfo_calls() - before, calls);
    assert_eq!(destination.spooled(), 0);
}

#[test]
fn token_info_down_hanging_or_answering_5xx_is_503_with_retry_after_within_the_deadline() {
    let google = FakeGoogle::start();
    for destination in [Destination::server(
        &google,
        &[
            ("REDOX_REQUEST_TIMEOUT_MS", "3000"),
            ("REDOX_AWS_TIMEOUT_MS", "1500"),
            ("REDOX_GOOGLE_MAX_LOOKUPS_PER_ADDRESS", "100"),
        ],
    )] {
        for mode in ["500", "hang", "drop"] {
            google.mode(mode);
            let token = google.access_token(SA_ID, None, 3600);
            let started = Instant::now();
            let answer = destination.push_bearer(&token);
            let took = started.elapsed();
            println!("token-info {mode}: {} in {took:?}", answer.status);
            assert_eq!(answer.status, 503, "{mode}: {}", answer.text());
            assert_eq!(answer.header("retry-after"), Some("10"), "{mode}");
            assert!(took < Duration::from_secs(4), "{mode}: {took:?}");
        }
        google.mode("ok");
        let token = google.access_token(SA_ID, None, 3600);
        assert_eq!(destination.push_bearer(&token).status, 200);
        assert_eq!(destination.spooled(), 1, "nothing queued during the outage");
    }
}

// ---- the CLI -----------------------------------------------------------------

#[test]
fn send_presents_a_google_token_made_elsewhere_as_it_is() {
    let google = FakeGoogle::start();
    let destination = Destination::server(&google, &[]);
    let token = google.access_token(SA_ID, None, 3600);
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{token}\n")).expect("token file");
    let url = format!("http://127.0.0.1:{}/", destination.port());
    let output = Command::new(release_binary())
        .args(["send", &url, "--count", "3", "--bearer-file"])
        .arg(&file)
        .env_clear()
        .output()
        .expect("send runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("3 answered (200 x3)"), "{stdout}");
    assert!(!stdout.contains(&token), "the token is never printed");
    let stranger = google.access_token(STRANGER_ID, None, 3600);
    let output = Command::new(release_binary())
        .args(["send", &url])
        .env_clear()
        .env("REDOX_BEARER_TOKEN", &stranger)
        .output()
        .expect("send runs");
    assert!(!output.status.success());
    assert_eq!(destination.spooled(), 3);
}
