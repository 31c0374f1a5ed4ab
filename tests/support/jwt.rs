//! JWT test helpers: a JWK Set served over plain HTTP on 127.0.0.1
//! (loopback http is allowed for `REDOX_JWT_JWKS_URL` and a client's
//! `jwks_url`), and the independent Python signers and clients of
//! `tests/fixtures/jwt/`, each run with one JSON request.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use serde_json::Value;

/// Runs `tests/fixtures/jwt/<script>` with one JSON request on stdin and
/// returns its JSON answer; fails the test with its stderr if it fails.
pub fn python(script: &str, request: &Value) -> Value {
    let mut child = Command::new(super::venv_bin("python"))
        .arg(super::repo_root().join("tests/fixtures/jwt").join(script))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write request");
    let output = child.wait_with_output().expect("python output");
    assert!(
        output.status.success(),
        "{script} failed (are PyJWT and Authlib installed? run `make venv`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("python answer is JSON")
}

/// A JWKS over plain HTTP on 127.0.0.1, counting the GETs it answers.
pub struct JwksServer {
    port: u16,
    document: Arc<Mutex<String>>,
    gets: Arc<AtomicUsize>,
}

impl JwksServer {
    pub fn start(document: &Value) -> JwksServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind JWKS server");
        let port = listener.local_addr().expect("addr").port();
        let shared = Arc::new(Mutex::new(document.to_string()));
        let gets = Arc::new(AtomicUsize::new(0));
        let (doc, count) = (shared.clone(), gets.clone());
        thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match stream.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => break,
                    }
                }
                let answer = if head.starts_with(b"GET /jwks.json ") {
                    count.fetch_add(1, Ordering::SeqCst);
                    let body = doc.lock().expect("document").clone();
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                        .into()
                };
                let _ = stream.write_all(answer.as_bytes());
            }
        });
        JwksServer {
            port,
            document: shared,
            gets,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks.json", self.port)
    }

    pub fn publish(&self, document: &Value) {
        *self.document.lock().expect("document") = document.to_string();
    }

    pub fn gets(&self) -> usize {
        self.gets.load(Ordering::SeqCst)
    }
}
