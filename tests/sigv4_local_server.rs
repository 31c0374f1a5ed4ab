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
    aws_sigv4_signed, botocore_signed, curl_signed, curl_sigv4_args, material_json,
    read_http_message, with_one_body_byte_changed,
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
