//! Shared pieces of the integration tests: the moto AWS emulator, a fake
//! Lambda Runtime API that drives the release binary as Lambda would, the
//! local server as a child process, and a tiny HTTP client.
//!
//! Nothing here is skipped when a tool is missing: the test fails and says
//! how to install it.

#![allow(dead_code)]

pub mod aws;
pub mod faults;
pub mod function_url;
pub mod jwt;
pub mod server;
pub mod signers;
pub mod template;

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free local port")
}

pub fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            // Another process that took the same free port would answer too,
            // while this one failed to bind and is exiting.
            thread::sleep(Duration::from_millis(50));
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{what} exited ({status}): port {port} was taken by another process");
            }
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening on port {port}: {status}");
        }
        thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on port {port} within 30 s");
}

/// A child process killed when the test ends, even by panic.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The Python virtual environment `make venv` creates.
pub fn venv_bin(tool: &str) -> PathBuf {
    let path = repo_root().join(".venv/bin").join(tool);
    assert!(
        path.exists(),
        "{} is missing: run `make venv` (creates .venv with the pinned moto, boto3 and linters \
         from requirements-dev.txt), or `python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt`",
        path.display()
    );
    path
}

/// A moto server on a free port, with request recording to a temp file.
pub struct Moto {
    pub port: u16,
    child: Option<ChildGuard>,
    pub recording: PathBuf,
    _dir: tempfile::TempDir,
}

impl Moto {
    pub fn start() -> Moto {
        let server = venv_bin("moto_server");
        let dir = tempfile::tempdir().expect("temp dir");
        let recording = dir.path().join("moto-recording.jsonl");
        let log = std::fs::File::create(dir.path().join("moto.log")).expect("moto log");
        let port = free_port();
        let mut child = Command::new(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start moto_server");
        wait_for_port(port, &mut child, "moto_server");
        Moto {
            port,
            child: Some(ChildGuard(child)),
            recording,
            _dir: dir,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the emulator, as if AWS were unreachable.
    pub fn stop(&mut self) {
        self.child.take();
    }

    pub fn start_recording(&self) {
        http_request(
            self.port,
            "POST",
            "/moto-api/recorder/start-recording",
            &[],
            b"",
        );
    }

    /// How many recorded requests carried `X-Amz-Target: <target>`.
    pub fn recorded_calls(&self, target: &str) -> usize {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|req| req["headers"]["X-Amz-Target"].as_str() == Some(target))
            .count()
    }

    /// Environment for anything that talks to this emulator.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint()),
            ("AWS_REGION".into(), REGION.into()),
            ("AWS_DEFAULT_REGION".into(), REGION.into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }

    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new(REGION))
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "tests",
            ))
            .load()
            .await
    }
}

/// A plain HTTP/1.1 answer.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {}", self.text()))
    }
}

/// Sends one HTTP/1.1 request (Connection: close) and reads the answer.
pub fn http_request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpAnswer {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!("{method} {target} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body).expect("write body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read answer");
    parse_answer(&raw)
}

/// Parses a raw HTTP/1.1 answer (as `curl -i` prints it, too).
pub fn parse_answer(raw: &[u8]) -> HttpAnswer {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("no header end in answer");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    HttpAnswer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(line_end) = data.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = usize::from_str_radix(
            std::str::from_utf8(&data[..line_end]).unwrap_or("0").trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = line_end + 2;
        out.extend_from_slice(&data[start..start + size]);
        data = &data[start + size + 2..];
    }
}

/// The local server (debug binary) as a child process.
pub struct LocalServer {
    pub port: u16,
    _child: ChildGuard,
}

impl LocalServer {
    pub fn start(env: &[(String, String)]) -> LocalServer {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_redox-destination"));
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("REDOX_LISTEN", format!("127.0.0.1:{port}"))
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = command.spawn().expect("start the local server");
        wait_for_port(port, &mut child, "redox-destination");
        LocalServer {
            port,
            _child: ChildGuard(child),
        }
    }

    pub fn post(&self, headers: &[(&str, &str)], body: &[u8]) -> HttpAnswer {
        http_request(self.port, "POST", "/", headers, body)
    }
}

/// Where `make build-release` puts the release build: the static x86_64
/// binaries (`+crt-static`) that the tests, the benchmarks and the image use.
pub const RELEASE_DIR: &str = "target/x86_64-unknown-linux-gnu/release";

/// The release binary, which `make test` builds before the tests run
/// (`REDOX_RELEASE_BIN` names another).
pub fn release_binary() -> PathBuf {
    match std::env::var_os("REDOX_RELEASE_BIN") {
        Some(path) => existing_release_binary(PathBuf::from(path)),
        None => release_binary_named("redox-destination"),
    }
}

/// Another binary of the release build (`make build-release` builds all).
pub fn release_binary_named(name: &str) -> PathBuf {
    existing_release_binary(repo_root().join(RELEASE_DIR).join(name))
}

fn existing_release_binary(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "{} is missing: run `make build-release` first (`make test` does)",
        path.display()
    );
    path
}

/// The release binary running in Lambda mode.
pub struct FunctionProcess {
    pub child: ChildGuard,
    log: tempfile::NamedTempFile,
}

impl FunctionProcess {
    /// Waits for the process to exit and returns its status.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        self.child.0.wait().expect("wait for the function")
    }

    /// Peak resident memory (VmHWM) of the running process, in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.0.id()))
            .expect("read /proc status of the function");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM in /proc status")
    }

    /// Everything the function logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

/// What the function sent back for one invocation.
#[derive(Debug, Clone)]
pub enum Invocation {
    Response(serde_json::Value),
    Error(serde_json::Value),
}

#[derive(Default)]
struct RuntimeState {
    pending: VecDeque<(String, Vec<u8>, Duration)>,
    results: Vec<(String, Invocation)>,
    init_error: Option<serde_json::Value>,
    next_calls: usize,
}

/// A fake Lambda Runtime API (the 2018-06-01 protocol) that the release
/// binary polls exactly as it polls Lambda's.
pub struct RuntimeApi {
    pub port: u16,
    state: Arc<(Mutex<RuntimeState>, Condvar)>,
    counter: Mutex<u64>,
}

impl RuntimeApi {
    pub fn start() -> RuntimeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind runtime api");
        let port = listener.local_addr().expect("addr").port();
        let state: Arc<(Mutex<RuntimeState>, Condvar)> = Arc::default();
        let shared = state.clone();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let shared = shared.clone();
                thread::spawn(move || serve_runtime_connection(stream, shared));
            }
        });
        RuntimeApi {
            port,
            state,
            counter: Mutex::new(0),
        }
    }

    /// Environment Lambda gives a function.
    pub fn lambda_env(&self) -> Vec<(String, String)> {
        vec![
            (
                "AWS_LAMBDA_RUNTIME_API".into(),
                format!("127.0.0.1:{}", self.port),
            ),
            (
                "AWS_LAMBDA_FUNCTION_NAME".into(),
                "redox-destination".into(),
            ),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "128".into()),
            ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME".into(),
                "/aws/lambda/redox-destination".into(),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "test".into()),
        ]
    }

    /// Starts the release binary against this API; its stderr (the
    /// function's log) goes to a file the returned value can read.
    pub fn start_function(&self, env: &[(String, String)]) -> FunctionProcess {
        self.start_binary(&release_binary(), env)
    }

    /// Like [`RuntimeApi::start_function`], with another binary.
    pub fn start_binary(&self, binary: &Path, env: &[(String, String)]) -> FunctionProcess {
        let log = tempfile::NamedTempFile::new().expect("log file");
        let child = Command::new(binary)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.lambda_env())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("log file"))
            .spawn()
            .expect("start the release binary");
        FunctionProcess {
            child: ChildGuard(child),
            log,
        }
    }

    /// Queues an event and waits for the function's answer to it.
    pub fn invoke(&self, event: &[u8]) -> Invocation {
        self.invoke_with_deadline(event, Duration::from_secs(15))
    }

    /// Like [`RuntimeApi::invoke`], with the invocation's deadline
    /// (`Lambda-Runtime-Deadline-Ms`) `budget` after the function receives it.
    pub fn invoke_with_deadline(&self, event: &[u8], budget: Duration) -> Invocation {
        let id = {
            let mut counter = self.counter.lock().unwrap();
            *counter += 1;
            format!("request-{}", *counter)
        };
        let (lock, cvar) = &*self.state;
        lock.lock()
            .unwrap()
            .pending
            .push_back((id.clone(), event.to_vec(), budget));
        cvar.notify_all();
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut state = lock.lock().unwrap();
        loop {
            if let Some(pos) = state.results.iter().position(|(rid, _)| *rid == id) {
                return state.results.remove(pos).1;
            }
            if let Some(error) = &state.init_error {
                panic!("the function failed to initialise: {error}");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no answer to {id} within 60 s");
            state = cvar.wait_timeout(state, left).unwrap().0;
        }
    }

    /// Waits for an `/init/error` report.
    pub fn wait_init_error(&self, timeout: Duration) -> Option<serde_json::Value> {
        let (lock, cvar) = &*self.state;
        let deadline = Instant::now() + timeout;
        let mut state = lock.lock().unwrap();
        loop {
            if let Some(error) = &state.init_error {
                return Some(error.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = cvar.wait_timeout(state, left).unwrap().0;
        }
    }

    /// How many times the function asked for its next event.
    pub fn next_calls(&self) -> usize {
        self.state.0.lock().unwrap().next_calls
    }
}

fn read_http_request(stream: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&buf[..n]);
        if let Some(pos) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?;
    let mut parts = request_line.split(' ');
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = raw[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some((method, path, body))
}

fn write_http(stream: &mut TcpStream, status: u16, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status} OK\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

fn serve_runtime_connection(mut stream: TcpStream, shared: Arc<(Mutex<RuntimeState>, Condvar)>) {
    let (lock, cvar) = &*shared;
    while let Some((method, path, body)) = read_http_request(&mut stream) {
        let prefix = "/2018-06-01/runtime/";
        let Some(rest) = path.strip_prefix(prefix) else {
            write_http(&mut stream, 404, &[], b"{}");
            continue;
        };
        if method == "GET" && rest == "invocation/next" {
            let (id, event, budget) = {
                let mut state = lock.lock().unwrap();
                state.next_calls += 1;
                cvar.notify_all();
                loop {
                    if let Some(next) = state.pending.pop_front() {
                        break next;
                    }
                    state = cvar.wait(state).unwrap();
                }
            };
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                + budget.as_millis();
            write_http(
                &mut stream,
                200,
                &[
                    ("content-type", "application/json".into()),
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:redox-destination".into(),
                    ),
                    ("lambda-runtime-trace-id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1".into()),
                ],
                &event,
            );
            continue;
        }
        let value: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
        if method == "POST" && rest == "init/error" {
            lock.lock().unwrap().init_error = Some(value);
            cvar.notify_all();
            write_http(&mut stream, 202, &[], b"{\"status\":\"OK\"}");
            continue;
        }
        if method == "POST"
            && let Some(tail) = rest.strip_prefix("invocation/")
            && let Some((id, kind)) = tail.split_once('/')
        {
            let result = match kind {
                "response" => Invocation::Response(value),
                _ => Invocation::Error(value),
            };
            lock.lock().unwrap().results.push((id.to_string(), result));
            cvar.notify_all();
            write_http(&mut stream, 202, &[], b"{\"status\":\"OK\"}");
            continue;
        }
        write_http(&mut stream, 404, &[], b"{}");
    }
}

/// A Function URL event (payload 2.0) around a request.
pub fn function_url_event(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    use base64::Engine as _;
    let (body, is_base64) = match std::str::from_utf8(body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(body), true),
    };
    let headers: serde_json::Map<String, serde_json::Value> = headers
        .iter()
        .map(|(n, v)| {
            (
                n.to_ascii_lowercase(),
                serde_json::Value::String(v.to_string()),
            )
        })
        .collect();
    serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": raw_path, "rawQueryString": raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous", "apiId": "abcdefghijklmnop",
            "domainName": "abcdefghijklmnop.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghijklmnop",
            "http": {"method": method, "path": raw_path, "protocol": "HTTP/1.1",
                     "sourceIp": "198.51.100.7", "userAgent": "test"},
            "requestId": "id", "routeKey": "$default", "stage": "$default",
            "time": "28/Nov/2026:10:00:00 +0000", "timeEpoch": 1_795_860_000_000u64
        },
        "body": body, "isBase64Encoded": is_base64
    })
    .to_string()
    .into_bytes()
}

/// The HTTP answer inside a Lambda response.
pub fn lambda_answer(invocation: &Invocation) -> (u16, serde_json::Value) {
    match invocation {
        Invocation::Response(value) => (
            value["statusCode"].as_u64().expect("statusCode") as u16,
            value.clone(),
        ),
        Invocation::Error(value) => panic!("the function reported an invocation error: {value}"),
    }
}

/// Writes a file into a temp dir and returns its path.
pub fn write_file(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write file");
    path
}
