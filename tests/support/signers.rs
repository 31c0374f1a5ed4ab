//! Three independent SigV4 signers — curl `--aws-sigv4`, botocore's
//! `SigV4Auth` and the aws-sigv4 crate — each producing the raw HTTP request
//! it would send, so a test can send it over a socket or wrap it in a Lambda
//! event. The keys here are test keys that exist only in the tests.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;

pub const REGION: &str = "us-east-1";
pub const SERVICE: &str = "lambda";
pub const ACCESS_KEY: &str = "AKIDREDOXTEST";
pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYredoxTEST";
pub const SESSION_ACCESS_KEY: &str = "ASIAREDOXSESSION";
pub const SESSION_SECRET: &str = "session/secret+0123456789abcdefghijklmn";
pub const SESSION_TOKEN: &str =
    "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+token/value==";
pub const BODY: &str = r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival","Logs":[{"ID":"d9f5d293-7110-461e-a875-3beb089e79f3","AttemptID":"925d1617-2fe0-468c-a14c-f8c04b572c54"}]}}"#;

/// The auth material (SPEC 3.4) holding both test keys and a token.
pub fn material_json() -> String {
    serde_json::json!({
        "verification_tokens": ["tok"],
        "sigv4_keys": [
            {"access_key_id": ACCESS_KEY, "secret_access_key": SECRET,
             "region": REGION, "service": SERVICE},
            {"access_key_id": SESSION_ACCESS_KEY, "secret_access_key": SESSION_SECRET,
             "region": REGION, "service": SERVICE, "session_token": SESSION_TOKEN},
        ]
    })
    .to_string()
}

pub fn raw_request(
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
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
pub fn with_one_body_byte_changed(raw: &[u8]) -> Vec<u8> {
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
pub fn read_http_message(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    try_read_http_message(stream).expect("connection closed before the message was complete")
}

/// Like [`read_http_message`], or `None` when the peer closes (or goes
/// silent) first: how a kept-alive connection ends.
pub fn try_read_http_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..n]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().expect("content-length"))
                .unwrap_or(0);
            if raw.len() >= end + 4 + length {
                return Some(raw);
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

/// curl arguments that sign a POST of [`BODY`] to `http://host{target}`.
pub fn curl_sigv4_args(host: &str, target: &str) -> Vec<String> {
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

/// The request curl signs and sends, recorded (its Host header stays
/// `host` through `--connect-to`). curl 7.88 signs the path as sent and the
/// query unsorted (SPEC 2): keep `target` within those bounds.
pub fn curl_signed(host: &str, target: &str) -> Vec<u8> {
    let recorder = TcpListener::bind("127.0.0.1:0").expect("bind");
    let recorder_addr = recorder.local_addr().expect("addr");
    let capture = thread::spawn(move || capture_one_request(recorder));
    let mut args = curl_sigv4_args(host, target);
    // --connect-to HOST:PORT:ADDR:PORT; a host without a port is on 80.
    let from = if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    args.insert(0, "--connect-to".into());
    args.insert(1, format!("{from}:{recorder_addr}"));
    let recorded = Command::new("curl")
        .args(args)
        .output()
        .expect("curl runs (apt-get install curl)");
    assert!(
        recorded.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&recorded.stderr)
    );
    let raw = capture.join().expect("capture thread");
    let head = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    assert!(head.contains(&format!("host: {host}")), "{head}");
    assert!(
        head.contains("signedheaders=content-type;host;x-amz-date"),
        "{head}"
    );
    raw
}

const BOTOCORE_SIGNER: &str = r#"
import json, sys
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

url, body, key, secret, token, region, service = sys.argv[1:8]
request = AWSRequest(method="POST", url=url, data=body.encode(),
                     headers={"Content-Type": "application/json"})
SigV4Auth(Credentials(key, secret, token or None), service, region).add_auth(request)
print(json.dumps(list(request.headers.items())))
"#;

/// Runs a Python signer from the venv with `leading` arguments, then the
/// body, the key pair (the session key when `with_session_token`), its
/// token, region and service; its standard output.
fn python_signer(name: &str, script: &str, leading: &[&str], with_session_token: bool) -> Vec<u8> {
    let (key, secret, token) = if with_session_token {
        (SESSION_ACCESS_KEY, SESSION_SECRET, SESSION_TOKEN)
    } else {
        (ACCESS_KEY, SECRET, "")
    };
    let output = Command::new(super::venv_bin("python"))
        .arg("-c")
        .arg(script)
        .args(leading)
        .args([BODY, key, secret, token, REGION, SERVICE])
        .output()
        .expect("the venv python runs");
    assert!(
        output.status.success(),
        "{name} signer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// The request botocore's `SigV4Auth` signs, with the session key when
/// `with_session_token`.
pub fn botocore_signed(host: &str, target: &str, with_session_token: bool) -> Vec<u8> {
    let url = format!("http://{host}{target}");
    let stdout = python_signer("botocore", BOTOCORE_SIGNER, &[&url], with_session_token);
    let signed: Vec<(String, String)> =
        serde_json::from_slice(&stdout).expect("headers as JSON pairs");
    assert_eq!(
        signed
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-amz-security-token")),
        with_session_token,
        "{signed:?}"
    );
    let mut headers = vec![("host".to_owned(), host.to_owned())];
    headers.extend(signed);
    raw_request("POST", target, &headers, BODY.as_bytes())
}

const AWS_REQUESTS_AUTH_SIGNER: &str = r#"
import json, sys
try:
    import requests
    from aws_requests_auth.aws_auth import AWSRequestsAuth
except ImportError as missing:
    sys.exit(f"{missing}: run `make venv` (aws-requests-auth is pinned in requirements-dev.txt)")

mode, url, host, body, key, secret, token, region, service = sys.argv[1:10]
auth = AWSRequestsAuth(aws_access_key=key, aws_secret_access_key=secret, aws_host=host,
                       aws_region=region, aws_service=service, aws_token=token or None)
headers = {"Content-Type": "application/json"}
if mode == "send":
    answer = requests.post(url, data=body.encode(), headers=headers, auth=auth, timeout=30)
    print(answer.status_code)
else:
    request = requests.Request("POST", url, data=body.encode(), headers=headers).prepare()
    auth(request)
    print(json.dumps([(n, v) for n, v in request.headers.items()
                      if n.lower() not in ("content-length", "connection")]))
"#;

/// Runs aws-requests-auth (the signer API Gateway and OpenSearch users
/// reach for): it signs `host;x-amz-date` (and the session token) and sends
/// `x-amz-content-sha256` without signing it. `send` posts [`BODY`] to
/// `http://host{target}` with `requests` and returns the status code;
/// otherwise the signed request is returned as raw bytes (status 0).
fn aws_requests_auth(
    host: &str,
    target: &str,
    with_session_token: bool,
    send: bool,
) -> (u16, Vec<u8>) {
    let mode = if send { "send" } else { "sign" };
    let url = format!("http://{host}{target}");
    let stdout = python_signer(
        "aws-requests-auth",
        AWS_REQUESTS_AUTH_SIGNER,
        &[mode, &url, host],
        with_session_token,
    );
    if send {
        let status = String::from_utf8_lossy(&stdout)
            .trim()
            .parse()
            .expect("a status code");
        return (status, Vec::new());
    }
    let signed: Vec<(String, String)> =
        serde_json::from_slice(&stdout).expect("headers as JSON pairs");
    let authorization = signed
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.to_ascii_lowercase())
        .expect("an authorization header");
    // What makes this signer worth a test: the body hash is sent, unsigned.
    assert!(
        signed
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("x-amz-content-sha256"))
            && !authorization.contains("x-amz-content-sha256"),
        "{signed:?}"
    );
    let mut headers = vec![("host".to_owned(), host.to_owned())];
    headers.extend(signed);
    (0, raw_request("POST", target, &headers, BODY.as_bytes()))
}

/// The request aws-requests-auth signs, as raw bytes.
pub fn aws_requests_auth_signed(host: &str, target: &str, with_session_token: bool) -> Vec<u8> {
    aws_requests_auth(host, target, with_session_token, false).1
}

/// Signs and sends with aws-requests-auth and `requests`; the status code.
pub fn aws_requests_auth_send(host: &str, target: &str, with_session_token: bool) -> u16 {
    aws_requests_auth(host, target, with_session_token, true).0
}

/// The request the aws-sigv4 crate signs.
pub fn aws_sigv4_signed(host: &str, target: &str) -> Vec<u8> {
    let credentials = Credentials::new(ACCESS_KEY, SECRET, None, None, "tests");
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
        format!("http://{host}{target}"),
        content_type.iter().copied(),
        SignableBody::Bytes(BODY.as_bytes()),
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
    let mut headers = vec![
        ("host".to_owned(), host.to_owned()),
        ("content-type".to_owned(), "application/json".to_owned()),
    ];
    headers.extend(
        instructions
            .headers()
            .map(|(n, v)| (n.to_owned(), v.to_owned())),
    );
    raw_request("POST", target, &headers, BODY.as_bytes())
}

/// Wraps a raw HTTP request in a Function URL event (payload 2.0), the way
/// Lambda does: raw path and query kept, header names lower-cased.
pub fn function_url_event_from_raw(raw: &[u8]) -> Vec<u8> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().expect("request line").split(' ');
    let method = request_line.next().expect("method");
    let target = request_line.next().expect("target");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .filter(|(n, _)| n != "connection" && n != "content-length")
        .collect();
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    super::function_url_event(method, path, query, &header_refs, body)
}
