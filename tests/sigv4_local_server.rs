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

mod support;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::signers::{
    BODY, aws_requests_auth_send, aws_requests_auth_signed, aws_sigv4_signed, botocore_signed,
    curl_signed, curl_sigv4_args, material_json, read_http_message, with_one_body_byte_changed,
};

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
        std::fs::write(&secret_file, material_json()).expect("secret file");
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

    // The same signer recorded, then replayed as sent and with one body
    // byte changed.
    let raw = curl_signed(&server.host(), target);
    server.assert_accepted_then_tampered_refused("curl", &raw);
}

#[test]
fn botocore_signed_requests_are_queued_and_tampered_copies_refused() {
    let server = Server::start();
    // Unsorted query, a percent-encoded path and a session token.
    let target = "/redox/a%20b/push?zeta=last&alpha=a%2Fb&alpha=first";
    let raw = botocore_signed(&server.host(), target, true);
    server.assert_accepted_then_tampered_refused("botocore", &raw);
}

#[test]
fn aws_sigv4_signed_requests_are_queued_and_tampered_copies_refused() {
    let server = Server::start();
    let target = "/redox/%40push/x%3Ay?zeta=last&alpha=first";
    let raw = aws_sigv4_signed(&server.host(), target);
    server.assert_accepted_then_tampered_refused("aws-sigv4", &raw);
}

/// Replaces the value of `name` in a raw request (the header must be there).
fn with_header_value(raw: &[u8], name: &str, value: &str) -> Vec<u8> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut found = false;
    let lines: Vec<String> = head
        .split("\r\n")
        .map(|line| match line.split_once(':') {
            Some((n, _)) if n.eq_ignore_ascii_case(name) => {
                found = true;
                format!("{n}: {value}")
            }
            _ => line.to_owned(),
        })
        .collect();
    assert!(found, "no {name} in {head}");
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(&raw[end..]);
    out
}

/// aws-requests-auth sends `x-amz-content-sha256` without signing it (as
/// AWS accepts): queued when it is the body's hash, refused otherwise, and
/// never a way around the signature.
#[test]
fn aws_requests_auth_signed_requests_are_queued_and_their_unsigned_body_hash_checked() {
    let server = Server::start();
    // aws-requests-auth quotes the path once and sorts the query: keep to a
    // path without percent-escapes, as AWS's own rules then agree.
    let target = "/redox/push?zeta=last&alpha=first";

    // The signer end to end, over `requests`, plain and with a session token.
    for session in [false, true] {
        let before = server.spooled();
        assert_eq!(
            aws_requests_auth_send(&server.host(), target, session),
            200,
            "session token {session}\n{}",
            server.log()
        );
        assert_eq!(server.spooled(), before + 1);
    }

    let raw = aws_requests_auth_signed(&server.host(), target, false);
    server.assert_accepted_then_tampered_refused("aws-requests-auth", &raw);

    let before = server.spooled();
    let other_body_hash = hex_sha256(b"{}");
    for value in [
        "UNSIGNED-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        other_body_hash.as_str(),
        &hex_sha256(BODY.as_bytes()).to_ascii_uppercase(),
    ] {
        let changed = with_header_value(&raw, "x-amz-content-sha256", value);
        assert_eq!(server.send(&changed), 401, "x-amz-content-sha256: {value}");
    }
    // A changed body with the unsigned hash made to match it.
    let tampered = with_one_body_byte_changed(&raw);
    let body_start = tampered
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("head")
        + 4;
    let matching = with_header_value(
        &tampered,
        "x-amz-content-sha256",
        &hex_sha256(&tampered[body_start..]),
    );
    assert_eq!(server.send(&matching), 401, "a body swapped with its hash");
    assert_eq!(server.spooled(), before, "a refused request was queued");
    let log = server.log();
    for reason in [
        "UNSIGNED-PAYLOAD is not accepted",
        "streaming (chunk-signed) payloads are not accepted",
        "x-amz-content-sha256 is not the SHA-256 of the body",
        "x-amz-content-sha256 is not a lowercase hex SHA-256",
        "the signature does not match",
    ] {
        assert!(
            log.contains(reason),
            "no refusal logged as {reason:?}:\n{log}"
        );
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
