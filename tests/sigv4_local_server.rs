//! End to end over a real socket: the debug binary serves locally with two
//! SigV4 keys from a secret file, and requests signed by three independent
//! signers — curl `--aws-sigv4`, botocore's `SigV4Auth` and aws-sigv4 — are
//! answered 200 and spooled, while a copy of each with one body byte changed
//! is answered 401 and spools nothing.
//!
//! curl 7.88 signs the path as sent and the query unsorted (SPEC 2), so its
//! request keeps to a path without percent-escapes and a sorted query; the
//! botocore request covers an unsorted query, a percent-encoded path and a
//! session token.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

const REGION: &str = "us-east-1";
const SERVICE: &str = "lambda";
const ACCESS_KEY: &str = "AKIDREDOXTEST";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYredoxTEST";
const SESSION_ACCESS_KEY: &str = "ASIAREDOXSESSION";
const SESSION_SECRET: &str = "session/secret+0123456789abcdefghijklmn";
const SESSION_TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+token/value==";
const BODY: &str = r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival","Logs":[{"ID":"d9f5d293-7110-461e-a875-3beb089e79f3","AttemptID":"925d1617-2fe0-468c-a14c-f8c04b572c54"}]}}"#;

/// The binary as a local server; killed when dropped, even on a failed assert.
struct Server {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let secret_file = dir.path().join("secret.json");
        let material = serde_json::json!({
            "verification_tokens": ["tok"],
            "sigv4_keys": [
                {"access_key_id": ACCESS_KEY, "secret_access_key": SECRET,
                 "region": REGION, "service": SERVICE},
                {"access_key_id": SESSION_ACCESS_KEY, "secret_access_key": SESSION_SECRET,
                 "region": REGION, "service": SERVICE, "session_token": SESSION_TOKEN},
            ]
        });
        std::fs::write(&secret_file, material.to_string()).expect("secret file");
        let spool = dir.path().join("spool");
        std::fs::create_dir(&spool).expect("spool dir");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let addr = free_local_addr();
        let child = Command::new(env!("CARGO_BIN_EXE_redox-destination"))
            .env_clear()
            .env("REDOX_LISTEN", addr.to_string())
            .env("REDOX_SECRET_FILE", &secret_file)
            .env("REDOX_SPOOL_DIR", &spool)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("the redox-destination binary starts");
        let mut server = Server { child, addr, dir };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if TcpStream::connect(self.addr).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the server exited with {status}:\n{}", self.log());
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the server did not listen on {}:\n{}",
            self.addr,
            self.log()
        );
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn host(&self) -> String {
        self.addr.to_string()
    }

    fn spooled(&self) -> usize {
        std::fs::read_dir(self.dir.path().join("spool"))
            .expect("spool dir")
            .filter_map(|entry| entry.ok())
            .filter(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.ends_with(".json") && !name.starts_with('.')
            })
            .count()
    }

    /// Sends raw request bytes; returns the status code.
    fn send(&self, raw: &[u8]) -> u16 {
        let mut stream = TcpStream::connect(self.addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        stream.write_all(raw).expect("write request");
        // Read by content-length: a replayed request may not ask for close.
        status_of(&read_http_message(&mut stream))
    }

    /// An accepted request gets 200 and one more spool file; its tampered
    /// copy gets 401 and none.
    fn assert_accepted_then_tampered_refused(&self, signer: &str, raw: &[u8]) {
        let before = self.spooled();
        assert_eq!(
            self.send(raw),
            200,
            "{signer}: signed request\n{}",
            self.log()
        );
        assert_eq!(self.spooled(), before + 1, "{signer}: one message spooled");
        let tampered = with_one_body_byte_changed(raw);
        assert_eq!(
            self.send(&tampered),
            401,
            "{signer}: tampered copy\n{}",
            self.log()
        );
        assert_eq!(self.spooled(), before + 1, "{signer}: nothing more spooled");
    }
}

fn free_local_addr() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr")
}

fn status_of(response: &[u8]) -> u16 {
    let text = String::from_utf8_lossy(response);
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {text:?}"))
}

fn raw_request(method: &str, target: &str, headers: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// Flips the low bit of one body byte (inside "Arrival"), length unchanged.
fn with_one_body_byte_changed(raw: &[u8]) -> Vec<u8> {
    let body_start = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers")
        + 4;
    let offset = BODY.find("Arrival").expect("marker") + 3;
    let mut tampered = raw.to_vec();
    tampered[body_start + offset] ^= 0x01;
    assert_ne!(tampered, raw);
    tampered
}

/// Reads one HTTP/1.1 message (head, then content-length bytes of body).
fn read_http_message(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).expect("read");
        assert!(n > 0, "connection closed before the message was complete");
        raw.extend_from_slice(&chunk[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().expect("content-length"))
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                return raw;
            }
        }
    }
}

/// Records one request sent to `listener` and answers 200, so a client that
/// signs and sends in one step can be replayed.
fn capture_one_request(listener: TcpListener) -> Vec<u8> {
    let (mut stream, _) = listener.accept().expect("accept");
    let raw = read_http_message(&mut stream);
    stream
        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        .expect("answer");
    raw
}

fn curl_sigv4_args(host: &str, target: &str) -> Vec<String> {
    vec![
        "-sS".into(),
        "-o".into(),
        "/dev/null".into(),
        "-w".into(),
        "%{http_code}".into(),
        "--aws-sigv4".into(),
        format!("aws:amz:{REGION}:{SERVICE}"),
        "--user".into(),
        format!("{ACCESS_KEY}:{SECRET}"),
        "-H".into(),
        "content-type: application/json".into(),
        "--data-binary".into(),
        BODY.into(),
        format!("http://{host}{target}"),
    ]
}

#[test]
fn curl_signed_requests_are_queued_and_tampered_copies_refused() {
    let server = Server::start();
    // Within curl 7.88's bounds: no percent-escapes, query already sorted.
    let target = "/redox/push?alpha=1&beta=two";

    let before = server.spooled();
    let sent = Command::new("curl")
        .args(curl_sigv4_args(&server.host(), target))
        .output()
        .expect("curl runs (apt-get install curl)");
    assert!(
        sent.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&sent.stdout),
        "200",
        "{}",
        server.log()
    );
    assert_eq!(server.spooled(), before + 1);

    // The same signer recorded (Host stays the server's through --connect-to),
    // then replayed as sent and with one body byte changed.
    let recorder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let recorder_addr = recorder.local_addr().expect("addr");
    let capture = thread::spawn(move || capture_one_request(recorder));
    let mut args = curl_sigv4_args(&server.host(), target);
    args.insert(0, "--connect-to".into());
    args.insert(1, format!("{}:{}", server.host(), recorder_addr));
    let recorded = Command::new("curl").args(args).output().expect("curl runs");
    assert!(
        recorded.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&recorded.stderr)
    );
    let raw = capture.join().expect("capture thread");
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    assert!(head.contains(&format!("host: {}", server.host())), "{head}");
    assert!(
        head.contains("signedheaders=content-type;host;x-amz-date"),
        "{head}"
    );
    server.assert_accepted_then_tampered_refused("curl", &raw);
}

const BOTOCORE_SIGNER: &str = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

url, body, key, secret, token, region, service = sys.argv[1:8]
request = AWSRequest(method="POST", url=url, data=body.encode(),
                     headers={"Content-Type": "application/json"})
SigV4Auth(Credentials(key, secret, token), service, region).add_auth(request)
print(json.dumps(list(request.headers.items())))
"#;

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make venv` to install botocore for the independent-signer tests",
        python.display()
    );
    python
}

#[test]
fn botocore_signed_requests_are_queued_and_tampered_copies_refused() {
    let python = venv_python();
    let server = Server::start();
    // Unsorted query, a percent-encoded path and a session token.
    let target = "/redox/a%20b/push?zeta=last&alpha=a%2Fb&alpha=first";
    let url = format!("http://{}{target}", server.host());
    let output = Command::new(python)
        .arg("-c")
        .arg(BOTOCORE_SIGNER)
        .args([
            &url,
            BODY,
            SESSION_ACCESS_KEY,
            SESSION_SECRET,
            SESSION_TOKEN,
            REGION,
            SERVICE,
        ])
        .output()
        .expect("the venv python runs");
    assert!(
        output.status.success(),
        "botocore signer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let signed: Vec<(String, String)> =
        serde_json::from_slice(&output.stdout).expect("headers as JSON pairs");
    assert!(
        signed
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token")),
        "{signed:?}"
    );
    let mut headers = vec![("host".to_owned(), server.host())];
    headers.extend(signed);
    let raw = raw_request("POST", target, &headers, BODY.as_bytes());
    server.assert_accepted_then_tampered_refused("botocore", &raw);
}

#[test]
fn aws_sigv4_signed_requests_are_queued_and_tampered_copies_refused() {
    let server = Server::start();
    let target = "/redox/%40push/x%3Ay?zeta=last&alpha=first";
    let credentials = Credentials::new(ACCESS_KEY, SECRET, None, None, "sigv4-local-server");
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name(SERVICE)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let content_type = [("content-type", "application/json")];
    let signable = SignableRequest::new(
        "POST",
        format!("http://{}{target}", server.host()),
        content_type.iter().copied(),
        SignableBody::Bytes(BODY.as_bytes()),
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
    let mut headers = vec![
        ("host".to_owned(), server.host()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    headers.extend(
        instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    let raw = raw_request("POST", target, &headers, BODY.as_bytes());
    server.assert_accepted_then_tampered_refused("aws-sigv4", &raw);
}
