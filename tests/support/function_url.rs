//! A Function URL in front of the Lambda-mode binary, for clients that
//! speak HTTP: each request on a local socket becomes a Function URL event
//! (payload 2.0, raw path, query and headers as sent, as Lambda builds it),
//! goes through the fake Runtime API, and the function's response is
//! written back as the HTTP answer, the way the Function URL service does.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;

use base64::Engine as _;

use super::signers::{function_url_event_from_raw, try_read_http_message};
use super::{Invocation, RuntimeApi};

pub struct FunctionUrl {
    pub port: u16,
}

impl FunctionUrl {
    /// Serves on a free local port until the test process ends.
    pub fn start(api: Arc<RuntimeApi>) -> FunctionUrl {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Function URL front");
        let port = listener.local_addr().expect("addr").port();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let api = api.clone();
                thread::spawn(move || serve_connection(stream, &api));
            }
        });
        FunctionUrl { port }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

fn serve_connection(mut stream: TcpStream, api: &RuntimeApi) {
    while let Some(raw) = try_read_http_message(&mut stream) {
        let event = function_url_event_from_raw(&raw);
        let answer = match api.invoke(&event) {
            Invocation::Response(value) => http_answer(&value),
            // What the Function URL service answers for a function error.
            Invocation::Error(_) => plain(502, b"Internal Server Error"),
        };
        if stream.write_all(&answer).is_err() {
            return;
        }
    }
}

/// The HTTP answer for a Function URL response object.
fn http_answer(response: &serde_json::Value) -> Vec<u8> {
    let status = response["statusCode"].as_u64().unwrap_or(502);
    let text = response["body"].as_str().unwrap_or_default();
    let body = if response["isBase64Encoded"].as_bool() == Some(true) {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .expect("a base64 response body")
    } else {
        text.as_bytes().to_vec()
    };
    let mut head = format!("HTTP/1.1 {status} Answer\r\n");
    if let Some(headers) = response["headers"].as_object() {
        for (name, value) in headers {
            let framing = name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding");
            if let (Some(value), false) = (value.as_str(), framing) {
                head.push_str(&format!("{name}: {value}\r\n"));
            }
        }
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut raw = head.into_bytes();
    raw.extend_from_slice(&body);
    raw
}

fn plain(status: u16, body: &[u8]) -> Vec<u8> {
    let mut raw = format!(
        "HTTP/1.1 {status} Answer\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(body);
    raw
}
