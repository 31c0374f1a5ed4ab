//! Lambda mode under load: the release binary polls a Runtime API emulator,
//! with SQS, S3 and Secrets Manager on moto, and each case is invoked N times.
//! Per case it reports the function's CPU per invocation (utime + stime from
//! `/proc/<pid>/stat`, the figure Lambda bills in latency at 128 MB), wall
//! time p50/p99 (dominated by the emulators), peak RSS (`VmHWM`) and init.
//!
//! A benchmark, never a test: nothing here asserts on timings, only that
//! each case gets the answer it should (so a broken path is not "fast").
//!
//! - `make perf`: release build (`make build-release`), then the full run;
//!   the table goes to stdout and to `target/perf/lambda-mode.md`.
//! - `REDOX_PERF_N=5 cargo bench --bench lambda_mode`: every case N times.
//! - `cargo test --benches` runs it once with N=3, as a smoke test.
//! - `REDOX_PERF_CASES=token,refused`: only those cases (names as printed).
//! - `REDOX_RELEASE_BIN`: another binary to measure. By default it is
//!   `make build-release`'s static binary under
//!   `target/x86_64-unknown-linux-gnu/release`, which `cargo bench` (building
//!   this harness, with dev-dependency features, under `target/release`)
//!   cannot change.
//!
//! Each case runs in a fresh function process (so peak RSS is the case's
//! own), after warm-up invocations that are not counted. Bodies are fixed
//! text (no randomness), so runs are comparable; SigV4 events are signed at
//! run time and re-signed every minute, inside the verifier's 300 s window.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use support::aws::World;
use support::signers::{ACCESS_KEY, REGION, SECRET, SERVICE};

const TOKEN: &str = "perf-verification-token-0123456789abcdef";
const WRONG_TOKEN: &str = "perf-verification-token-0123456789abcdeX";
/// The domain `support::function_url_event` puts in the request context.
const HOST: &str = "abcdefghijklmnop.lambda-url.us-east-1.on.aws";
const QUEUE: &str = "redox-perf";
const BUCKET: &str = "redox-perf-payloads";
const SECRET_NAME: &str = "redox-perf-material";
/// `/proc/<pid>/stat` counts CPU in USER_HZ ticks: 100 per second on every
/// Linux ABI Lambda runs (x86-64, arm64).
const TICK_MS: f64 = 10.0;
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------
// Bodies and events

/// A Redox PatientAdmin message padded with notes to just under `size` bytes
/// (the same text as the `request_path` criterion bench).
fn message(size: usize) -> String {
    let head = r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival","EventDateTime":"2026-11-28T10:00:00.000Z","Test":true,"Source":{"ID":"7ce6f387-c33c-417d-8682-81e83628cbd9","Name":"Redox Dev Tools"},"Destinations":[{"ID":"af394f14-b34a-464f-8d24-895f370af4c9","Name":"Redox EMR"}],"Logs":[{"ID":"d9f5d293-7110-461e-a875-3beb089e79f3","AttemptID":"925d1617-2fe0-468c-a14c-f8c04b572c54"}],"FacilityCode":null},"Patient":{"Identifiers":[{"ID":"0000000001","IDType":"MR"}],"Demographics":{"FirstName":"Timothy","LastName":"Bixby","DOB":"2008-01-06","Sex":"Male"},"Notes":["#;
    let note = r#""Patient arrived for a scheduled visit; vitals recorded and reviewed by the attending clinician.","#;
    let mut body = String::with_capacity(size + 64);
    body.push_str(head);
    while body.len() + note.len() + 4 < size {
        body.push_str(note);
    }
    body.push_str(r#""end"]}}"#);
    body
}

fn token_event(token: &str, body: &str) -> Vec<u8> {
    let bearer = format!("Bearer {token}");
    support::function_url_event(
        "POST",
        "/",
        "",
        &[
            ("host", HOST),
            ("content-type", "application/json"),
            ("verification-token", token),
            ("authorization", &bearer),
            ("user-agent", "Redox"),
        ],
        body.as_bytes(),
    )
}

/// A Function URL event signed now by the aws-sigv4 crate, as Redox's
/// AwsSigv4 credential signs (`content-type;host;x-amz-date`, no body hash
/// header: the function hashes the body itself).
fn sigv4_event(body: &str) -> Vec<u8> {
    let identity = Credentials::new(ACCESS_KEY, SECRET, None, None, "perf").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let signable = SignableRequest::new(
        "POST",
        format!("https://{HOST}/"),
        [("content-type", "application/json")].into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
    let mut headers = vec![
        ("host".to_owned(), HOST.to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    headers.extend(
        instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    support::function_url_event("POST", "/", "", &refs, body.as_bytes())
}

/// Where a case's events come from.
enum Events {
    Fixed(Arc<[u8]>),
    /// Signed at run time, re-signed when older than a minute.
    Signed {
        body: String,
        signed: Option<(Instant, Arc<[u8]>)>,
    },
}

impl Events {
    fn next(&mut self) -> Arc<[u8]> {
        match self {
            Events::Fixed(event) => event.clone(),
            Events::Signed { body, signed } => {
                if signed
                    .as_ref()
                    .is_none_or(|(at, _)| at.elapsed() > Duration::from_secs(60))
                {
                    *signed = Some((Instant::now(), sigv4_event(body).into()));
                }
                signed.as_ref().map(|(_, e)| e.clone()).expect("signed")
            }
        }
    }
}

struct Case {
    name: &'static str,
    what: &'static str,
    /// Counted invocations: enough that one 10 ms tick is under 5 % of the
    /// case's total CPU even after the targets are met.
    n: usize,
    warmup: usize,
    expect_status: u16,
    events: Events,
}

fn cases() -> Vec<Case> {
    let small = message(2 * 1024);
    vec![
        Case {
            name: "token",
            what: "token push, 2 KB PatientAdmin",
            n: 2000,
            warmup: 50,
            expect_status: 200,
            events: Events::Fixed(token_event(TOKEN, &small).into()),
        },
        Case {
            name: "refused",
            what: "refused push (wrong token), 2 KB",
            n: 8000,
            warmup: 50,
            expect_status: 401,
            events: Events::Fixed(token_event(WRONG_TOKEN, &small).into()),
        },
        Case {
            name: "sigv4-256k",
            what: "SigV4-signed push, 256 KB",
            n: 400,
            warmup: 20,
            expect_status: 200,
            events: Events::Signed {
                body: message(256 * 1024),
                signed: None,
            },
        },
        Case {
            name: "offload-1m",
            what: "token push, 1 MB, offloaded to S3",
            n: 200,
            warmup: 10,
            expect_status: 200,
            events: Events::Fixed(token_event(TOKEN, &message(1024 * 1024)).into()),
        },
        Case {
            name: "body-6m",
            what: "token push, 6 MB, offloaded (for RSS)",
            n: 10,
            warmup: 2,
            expect_status: 200,
            events: Events::Fixed(token_event(TOKEN, &message(6_000_000)).into()),
        },
    ]
}

// ---------------------------------------------------------------------------
// The Runtime API emulator

/// What the emulator saw, in order, with when.
enum Seen {
    Next(Instant),
    Response { status: u16, at: Instant },
    InvocationError(String),
    InitError(String),
}

/// A Lambda Runtime API (2018-06-01) that hands out events the harness
/// queues and reports every call back; one thread per connection (the
/// runtime keeps one alive), so it costs the function nothing.
struct Emulator {
    port: u16,
    events: Sender<Arc<[u8]>>,
    seen: Receiver<Seen>,
}

impl Emulator {
    fn start() -> Emulator {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the runtime API");
        let port = listener.local_addr().expect("addr").port();
        let (events, pending) = mpsc::channel::<Arc<[u8]>>();
        let pending = Arc::new(Mutex::new(pending));
        let (report, seen) = mpsc::channel();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let pending = pending.clone();
                let report = report.clone();
                thread::spawn(move || serve_connection(stream, &pending, &report));
            }
        });
        Emulator { port, events, seen }
    }

    fn wait(&self, child: &mut FunctionChild) -> Seen {
        let deadline = Instant::now() + ANSWER_TIMEOUT;
        loop {
            match self.seen.recv_timeout(Duration::from_millis(200)) {
                Ok(Seen::InitError(e)) => child.fail(&format!("init error: {e}")),
                Ok(Seen::InvocationError(e)) => child.fail(&format!("invocation error: {e}")),
                Ok(seen) => return seen,
                Err(RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Ok(Some(status)) = child.child.try_wait() {
                        child.fail(&format!("the function exited: {status}"));
                    }
                }
                Err(_) => child.fail("no call from the function within 60 s"),
            }
        }
    }

    fn wait_next(&self, child: &mut FunctionChild) -> Instant {
        match self.wait(child) {
            Seen::Next(at) => at,
            _ => child.fail("expected /invocation/next"),
        }
    }

    /// Queues one event and returns the answer's status and wall time; the
    /// function is back in `/next` (idle) when this returns.
    fn invoke(&self, child: &mut FunctionChild, event: Arc<[u8]>) -> (u16, Duration) {
        let sent = Instant::now();
        self.events.send(event).expect("emulator alive");
        let (status, at) = match self.wait(child) {
            Seen::Response { status, at } => (status, at),
            _ => child.fail("expected an invocation response"),
        };
        self.wait_next(child);
        (status, at - sent)
    }
}

struct HttpRequest {
    method: String,
    path: String,
    body: Vec<u8>,
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut length = 0usize;
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
            assert!(
                !(name.eq_ignore_ascii_case("transfer-encoding")),
                "the runtime sent a chunked body; the emulator reads content-length only"
            );
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(HttpRequest { method, path, body })
}

fn serve_connection(
    stream: TcpStream,
    pending: &Mutex<Receiver<Arc<[u8]>>>,
    report: &Sender<Seen>,
) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().expect("clone stream");
    let mut reader = BufReader::new(stream);
    let mut served = 0u64;
    while let Some(request) = read_request(&mut reader) {
        let path = request
            .path
            .strip_prefix("/2018-06-01/runtime/")
            .unwrap_or("");
        if request.method == "GET" && path == "invocation/next" {
            let _ = report.send(Seen::Next(Instant::now()));
            let Ok(event) = pending.lock().expect("lock").recv() else {
                return;
            };
            served += 1;
            let deadline = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                + 15_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
                 lambda-runtime-aws-request-id: perf-{served}\r\n\
                 lambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: arn:aws:lambda:us-east-1:123456789012:function:redox-destination\r\n\
                 lambda-runtime-trace-id: Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1\r\n\r\n",
                event.len()
            );
            if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&event).is_err() {
                return;
            }
            continue;
        }
        let at = Instant::now();
        let text = || String::from_utf8_lossy(&request.body).into_owned();
        let seen = if path == "init/error" {
            Seen::InitError(text())
        } else if path.ends_with("/response") {
            let status = serde_json::from_slice::<serde_json::Value>(&request.body)
                .ok()
                .and_then(|v| v["statusCode"].as_u64())
                .unwrap_or(0) as u16;
            Seen::Response { status, at }
        } else {
            Seen::InvocationError(format!("{} {}: {}", request.method, request.path, text()))
        };
        let _ = report.send(seen);
        let answer = b"HTTP/1.1 202 Accepted\r\ncontent-length: 16\r\n\r\n{\"status\":\"OK\"}\n";
        if writer.write_all(answer).is_err() {
            return;
        }
    }
}

// ---------------------------------------------------------------------------
// The function process

struct FunctionChild {
    child: Child,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl FunctionChild {
    /// Starts the binary in Lambda mode. Its log goes to a pipe drained by a
    /// thread, as Lambda's log pipe is, keeping the last lines for errors.
    fn spawn(api_port: u16, env: &[(String, String)]) -> FunctionChild {
        let mut child = Command::new(support::release_binary())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{api_port}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", "redox-destination")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/redox-destination")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "perf")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the release binary");
        let log: Arc<Mutex<VecDeque<String>>> = Arc::default();
        let stderr = child.stderr.take().expect("stderr pipe");
        let keep = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut keep = keep.lock().expect("lock");
                if keep.len() == 40 {
                    keep.pop_front();
                }
                keep.push_back(line);
            }
        });
        FunctionChild { child, log }
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        thread::sleep(Duration::from_millis(100));
        let log: Vec<String> = self.log.lock().expect("lock").iter().cloned().collect();
        panic!(
            "lambda_mode bench: {why}\nlast lines of the function's log:\n{}",
            log.join("\n")
        );
    }

    fn proc_file(&self, name: &str) -> String {
        std::fs::read_to_string(format!("/proc/{}/{name}", self.child.id()))
            .unwrap_or_else(|e| panic!("read /proc/<pid>/{name}: {e}"))
    }

    /// utime + stime of every thread, live and exited, in ticks.
    fn cpu_ticks(&self) -> u64 {
        let stat = self.proc_file("stat");
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .expect("comm in stat")
            .1
            .split_whitespace()
            .collect();
        // Fields 14 and 15 of stat(5); the slice starts at field 3.
        let field = |i: usize| fields[i - 3].parse::<u64>().expect("tick count");
        field(14) + field(15)
    }

    /// CPU time of the live threads in nanoseconds (`schedstat`): precise
    /// enough for the few milliseconds of an init.
    fn cpu_ns_live_threads(&self) -> u64 {
        let dir = format!("/proc/{}/task", self.child.id());
        std::fs::read_dir(dir)
            .expect("task dir")
            .flatten()
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
            .sum()
    }

    /// Peak resident set (`VmHWM`) in KiB.
    fn peak_rss_kib(&self) -> u64 {
        self.proc_file("status")
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }
}

impl Drop for FunctionChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// Running the cases

struct Row {
    case: String,
    n: usize,
    init_ms: f64,
    cpu_total_ms: f64,
    cpu_per_inv_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    peak_rss_mib: f64,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

fn run_case(case: &mut Case, n: usize, warmup: usize, env: &[(String, String)]) -> Row {
    let emulator = Emulator::start();
    let started = Instant::now();
    let mut child = FunctionChild::spawn(emulator.port, env);
    let first_next = emulator.wait_next(&mut child);
    let init_ms = (first_next - started).as_secs_f64() * 1e3;
    let check = |child: &mut FunctionChild, status: u16| {
        if status != case.expect_status {
            child.fail(&format!(
                "{}: status {status}, expected {}",
                case.name, case.expect_status
            ));
        }
    };
    for _ in 0..warmup {
        let (status, _) = emulator.invoke(&mut child, case.events.next());
        check(&mut child, status);
    }
    let mut walls = Vec::with_capacity(n);
    let before = child.cpu_ticks();
    for _ in 0..n {
        let event = case.events.next();
        let (status, wall) = emulator.invoke(&mut child, event);
        check(&mut child, status);
        walls.push(wall);
    }
    let ticks = child.cpu_ticks() - before;
    let peak_rss_mib = child.peak_rss_kib() as f64 / 1024.0;
    walls.sort();
    let cpu_total_ms = ticks as f64 * TICK_MS;
    Row {
        case: case.name.to_owned(),
        n,
        init_ms,
        cpu_total_ms,
        cpu_per_inv_ms: cpu_total_ms / n as f64,
        p50_ms: percentile(&walls, 0.50),
        p99_ms: percentile(&walls, 0.99),
        peak_rss_mib,
    }
}

/// Process start to the first `/next`, `starts` times: wall time and the CPU
/// the process used to get there (material fetched from Secrets Manager).
fn run_init(starts: usize, env: &[(String, String)]) -> Row {
    let mut walls = Vec::with_capacity(starts);
    let mut cpu_ns = 0u64;
    let mut peak_rss_kib = 0u64;
    for _ in 0..starts {
        let emulator = Emulator::start();
        let started = Instant::now();
        let mut child = FunctionChild::spawn(emulator.port, env);
        let first_next = emulator.wait_next(&mut child);
        walls.push(first_next - started);
        cpu_ns += child.cpu_ns_live_threads();
        peak_rss_kib = peak_rss_kib.max(child.peak_rss_kib());
    }
    walls.sort();
    let cpu_total_ms = cpu_ns as f64 / 1e6;
    Row {
        case: "init".into(),
        n: starts,
        init_ms: percentile(&walls, 0.50),
        cpu_total_ms,
        cpu_per_inv_ms: cpu_total_ms / starts as f64,
        p50_ms: percentile(&walls, 0.50),
        p99_ms: percentile(&walls, 0.99),
        peak_rss_mib: peak_rss_kib as f64 / 1024.0,
    }
}

/// moto with the queue, the bucket and the secret (token plus SigV4 key,
/// with an AWSPREVIOUS version as after a rotation); the function's env.
async fn emulated_aws(world: &World) -> Vec<(String, String)> {
    let material = serde_json::json!({
        "verification_tokens": [TOKEN],
        "sigv4_keys": [{"access_key_id": ACCESS_KEY, "secret_access_key": SECRET,
                        "region": REGION, "service": SERVICE}]
    })
    .to_string();
    let secret = world.secret(SECRET_NAME, &material).await;
    world
        .secrets
        .put_secret_value()
        .secret_id(&secret)
        .secret_string(&material)
        .send()
        .await
        .expect("second secret version");
    let queue = world.queue(QUEUE).await;
    world
        .s3
        .create_bucket()
        .bucket(BUCKET)
        .send()
        .await
        .expect("create bucket");
    let mut env = world.moto.aws_env();
    env.extend([
        ("REDOX_SECRET_ID".to_owned(), secret),
        ("REDOX_QUEUE_URL".to_owned(), queue),
        ("REDOX_PAYLOAD_BUCKET".to_owned(), BUCKET.to_owned()),
    ]);
    env
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} CPUs ({model})")
}

fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(support::repo_root())
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    };
    let head = git(&["rev-parse", "--short", "HEAD"]);
    let dirty = !git(&["status", "--porcelain", "--untracked-files=no"]).is_empty();
    if dirty {
        format!("{head} (with uncommitted changes)")
    } else {
        head
    }
}

fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year}-{month:02}-{day:02} {:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60
    )
}

fn table(rows: &[Row], whats: &[(String, &str)]) -> String {
    let mut out = String::from(
        "| case | what | N | init ms | CPU/inv ms | CPU total ms | p50 ms | p99 ms | peak RSS MiB |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let what = whats
            .iter()
            .find(|(name, _)| *name == row.case)
            .map_or("", |(_, w)| w);
        // Under 20 ticks, one tick is over 5 % of the total: flag it.
        let coarse = if row.case != "init" && row.cpu_total_ms < 20.0 * TICK_MS {
            " (±10 ms tick)"
        } else {
            ""
        };
        out.push_str(&format!(
            "| {} | {what} | {} | {:.1} | {:.3}{coarse} | {:.0} | {:.2} | {:.2} | {:.1} |\n",
            row.case,
            row.n,
            row.init_ms,
            row.cpu_per_inv_ms,
            row.cpu_total_ms,
            row.p50_ms,
            row.p99_ms,
            row.peak_rss_mib
        ));
    }
    out
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` does not: then
    // this is a smoke run.
    let benching = std::env::args().any(|a| a == "--bench");
    let n_override: Option<usize> = std::env::var("REDOX_PERF_N")
        .ok()
        .map(|n| n.parse().expect("REDOX_PERF_N is a count"))
        .or((!benching).then_some(3));
    let only: Option<Vec<String>> = std::env::var("REDOX_PERF_CASES")
        .ok()
        .map(|list| list.split(',').map(|s| s.trim().to_owned()).collect());
    let wanted = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|c| c == name));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let world = runtime.block_on(World::start());
    let env = runtime.block_on(emulated_aws(&world));
    eprintln!(
        "lambda_mode: measuring {}",
        support::release_binary().display()
    );

    let mut rows = Vec::new();
    let mut whats = vec![(
        "init".to_owned(),
        "process start → first /next (wall p50; CPU/inv = CPU per start)",
    )];
    if wanted("init") {
        let starts = n_override.unwrap_or(20).max(1);
        eprintln!("lambda_mode: init ({starts} starts)");
        rows.push(run_init(starts, &env));
    }
    for mut case in cases() {
        whats.push((case.name.to_owned(), case.what));
        if !wanted(case.name) {
            continue;
        }
        let n = n_override.unwrap_or(case.n).max(1);
        let warmup = if n_override.is_some() { 1 } else { case.warmup };
        eprintln!("lambda_mode: {} ({n} invocations)", case.name);
        rows.push(run_case(&mut case, n, warmup, &env));
        // Keep moto small between cases.
        let queue_url = env
            .iter()
            .find(|(k, _)| k == "REDOX_QUEUE_URL")
            .map(|(_, v)| v.clone())
            .expect("queue url");
        let _ = runtime.block_on(world.sqs.purge_queue().queue_url(queue_url).send());
    }

    let report = format!(
        "Machine: {}  \nDate: {}  \nCommit: {}  \nBinary: {}\n\n{}",
        machine(),
        utc_now(),
        commit(),
        support::release_binary().display(),
        table(&rows, &whats)
    );
    println!("{report}");
    if benching {
        let dir = support::repo_root().join("target/perf");
        let written = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("lambda-mode.md"), &report));
        if let Err(error) = written {
            eprintln!("lambda_mode: could not write target/perf/lambda-mode.md: {error}");
        }
    }
}
