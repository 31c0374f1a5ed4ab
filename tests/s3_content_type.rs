//! The push's `Content-Type` on its way to S3 (issue 21, finding 9).
//!
//! Every offloaded body goes through a recording proxy in front of moto, so
//! the test holds the exact bytes of the PutObject the AWS SDK sent. Its
//! signature is then computed again by botocore's S3 signer from those
//! bytes as an HTTP server reads them (header values as ISO-8859-1 octets,
//! what Python's HTTP servers and RFC 9110's obs-text give), and must match.
//! A non-ASCII `Content-Type` sent to S3 as it came fails that check: the
//! SDK signs UTF-8 while the server reads other characters, the signature
//! S3 computes differs, and the same message would fail on every retry.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use bytes::Bytes;
use redox_destination::app;
use redox_destination::config::Config;
use redox_destination::destination::Destination;
use redox_destination::inbound::{FrontDoor, InboundRequest, Origin};
use support::aws::{World, attribute};

// ---- a recording proxy ----------------------------------------------------------

/// One HTTP/1.1 message read off a socket: its head and its body, however
/// framed (content-length or chunked), kept as the bytes that arrived.
fn read_message(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")))
            .map(|v| v.trim().to_owned())
    };
    let complete = |raw: &[u8]| -> bool {
        if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            raw[head_end..].windows(5).any(|w| w == b"0\r\n\r\n")
        } else {
            let length: usize = header("content-length").map_or(0, |v| v.parse().expect("length"));
            raw.len() >= head_end + length
        }
    };
    while !complete(&raw) {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..n]);
    }
    Some(raw)
}

/// Forwards each request to the upstream on a fresh connection and keeps a
/// copy of its bytes.
struct RecordingProxy {
    port: u16,
    recorded: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl RecordingProxy {
    fn start(upstream_port: u16) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let log = recorded.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(mut client) = client else { return };
                let log = log.clone();
                thread::spawn(move || {
                    while let Some(request) = read_message(&mut client) {
                        log.lock().expect("log").push(request.clone());
                        let mut upstream =
                            TcpStream::connect(("127.0.0.1", upstream_port)).expect("upstream");
                        upstream
                            .set_read_timeout(Some(Duration::from_secs(30)))
                            .expect("timeout");
                        upstream.write_all(&request).expect("forward");
                        let Some(answer) = read_message(&mut upstream) else {
                            return;
                        };
                        if client.write_all(&answer).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        RecordingProxy { port, recorded }
    }

    /// Every recorded `PUT` (S3 PutObject), oldest first.
    fn put_objects(&self) -> Vec<Vec<u8>> {
        self.recorded
            .lock()
            .expect("log")
            .iter()
            .filter(|raw| raw.starts_with(b"PUT "))
            .cloned()
            .collect()
    }
}

// ---- the S3 signature, computed again -------------------------------------------

const S3_SIGNATURE_CHECK: &str = r#"
import base64, json, sys
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sent = json.load(sys.stdin)
fields = dict(part.strip().split("=", 1) for part in
              sent["authorization"].split(" ", 1)[1].split(","))
signed = fields["SignedHeaders"].split(";")
scope = fields["Credential"].split("/")
headers = {name: value for name, value in sent["headers"] if name.lower() in signed}
request = AWSRequest(method=sent["method"], url="http://" + headers["host"] + sent["target"],
                     headers=headers, data=base64.b64decode(sent["body"]))
request.context["timestamp"] = headers["x-amz-date"]
signer = S3SigV4Auth(Credentials("testing", "testing"), scope[3], scope[2])
canonical = signer.canonical_request(request)
signature = signer.signature(signer.string_to_sign(request, canonical), request)
print(json.dumps({"matches": signature == fields["Signature"],
                  "signed_headers": signed}))
"#;

/// Splits a recorded request into what the check needs: header values
/// decoded octet by octet (ISO-8859-1), as a server reads them.
fn recheck_s3_signature(raw: &[u8]) -> serde_json::Value {
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    let latin1 = |bytes: &[u8]| bytes.iter().map(|&b| char::from(b)).collect::<String>();
    let head = latin1(&raw[..head_end - 4]);
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().expect("request line").split(' ');
    let method = request_line.next().expect("method");
    let target = request_line.next().expect("target");
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let authorization = headers
        .iter()
        .find(|(n, _)| n == "authorization")
        .map(|(_, v)| v.clone())
        .expect("a signed request");
    let input = serde_json::json!({
        "method": method,
        "target": target,
        "headers": headers,
        "authorization": authorization,
        "body": base64::engine::general_purpose::STANDARD.encode(&raw[head_end..]),
    });
    let mut child = std::process::Command::new(support::venv_bin("python"))
        .arg("-c")
        .arg(S3_SIGNATURE_CHECK)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the venv python runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write");
    let output = child.wait_with_output().expect("python");
    assert!(
        output.status.success(),
        "botocore check failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

// ---- the test ---------------------------------------------------------------------

async fn offloading_destination(
    world: &World,
    proxy: &RecordingProxy,
    queue: &str,
    bucket: &str,
) -> Destination {
    let vars: std::collections::HashMap<String, String> = [
        ("REDOX_VERIFICATION_TOKEN", "tok"),
        ("REDOX_QUEUE_URL", queue),
        ("REDOX_PAYLOAD_BUCKET", bucket),
        ("REDOX_OFFLOAD_ALL", "true"),
        ("REDOX_AWS_TIMEOUT_MS", "5000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let config = Config::from_vars(&vars).expect("config");
    let sdk = world
        .moto
        .sdk_config()
        .await
        .into_builder()
        .endpoint_url(format!("http://127.0.0.1:{}", proxy.port))
        .build();
    app::build_with_sdk(&config, Some(sdk))
        .await
        .expect("build")
        .0
}

fn push(content_type: &str, body: &[u8]) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        raw_path: "/".into(),
        raw_query: String::new(),
        headers: vec![
            ("content-type".into(), content_type.into()),
            ("verification-token".into(), "tok".into()),
        ],
        body: Bytes::copy_from_slice(body),
        origin: Origin::new(FrontDoor::FunctionUrl),
    }
}

#[tokio::test]
async fn the_put_object_of_any_content_type_carries_a_signature_s3_accepts() {
    let world = World::start().await;
    let queue = world.queue("redox-content-types").await;
    let bucket = world.bucket("redox-content-types").await;
    let proxy = RecordingProxy::start(world.moto.port);
    let destination = offloading_destination(&world, &proxy, &queue, &bucket).await;
    let body = br#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival"}}"#;

    for (sent, stored) in [
        (
            "application/fhir+json; charset=utf-8",
            "application/fhir+json; charset=utf-8",
        ),
        ("application/json; charset=\"ütf-8\"", "application/json"),
        ("ünïcödé/json", "application/octet-stream"),
        ("text/plain; note=Résumé", "text/plain"),
    ] {
        let before = proxy.put_objects().len();
        let answer = destination
            .handle(push(sent, body), SystemTime::now())
            .await;
        assert_eq!(answer.status, 200, "{sent}: {}", answer.body);

        let puts = proxy.put_objects();
        assert_eq!(puts.len(), before + 1, "{sent}: one PutObject");
        let put = puts.last().expect("a PutObject");
        let check = recheck_s3_signature(put);
        assert!(
            check["signed_headers"]
                .as_array()
                .expect("list")
                .iter()
                .any(|h| h == "content-type"),
            "the content type is signed: {check}"
        );
        assert_eq!(
            check["matches"],
            true,
            "{sent}: botocore's S3 signer disagrees with the signature sent:\n{}",
            String::from_utf8_lossy(put)
                .split("\r\n\r\n")
                .next()
                .unwrap_or_default()
        );

        // The object is stored under the sanitised type; the queue keeps
        // what Redox sent.
        let messages = world.receive_all(&queue).await;
        assert_eq!(messages.len(), 1, "{sent}");
        assert_eq!(
            attribute(&messages[0], "ContentType").as_deref(),
            Some(sent)
        );
        let pointer: serde_json::Value =
            serde_json::from_str(messages[0].body.as_deref().expect("body")).expect("pointer");
        let key = pointer[1]["s3Key"].as_str().expect("key");
        let object = world
            .s3
            .get_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await
            .expect("the object");
        assert_eq!(object.content_type.as_deref(), Some(stored), "{sent}");
        for message in messages {
            world
                .sqs
                .delete_message()
                .queue_url(&queue)
                .receipt_handle(message.receipt_handle.expect("handle"))
                .send()
                .await
                .expect("delete");
        }
    }
}
