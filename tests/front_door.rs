//! No stranger can hold server mode's front door shut (issue 26, findings
//! 1, 2 and 7): the release binary as a child process, attacked over raw
//! sockets the way the review did, with genuine pushes sent meanwhile from
//! another address.
//!
//! - heads declaring 45 MB and sending nothing, from one address and from
//!   many: refused from the head, holding no body memory; genuine 1 MB and
//!   40 MB pushes answered 200;
//! - a wrong token and a forged JWT with `Content-Length: 40 MB` and
//!   `Expect: 100-continue`: 401 before the client sends a body byte;
//! - trickled bodies: 408 shortly after the grace, and a genuine push from
//!   another address is not kept waiting for a connection;
//! - each address's share of requests in flight: its next one is 429 at
//!   once, other addresses are untouched;
//! - two `X-Forwarded-For` lines are garbled, and a refused head logs the
//!   bytes that arrived, not the ones it declared.
//!
//! Addresses: the server exposed directly sees each client's own loopback
//! address (127.0.0.x, bound before connecting); behind the load balancer
//! the test plays the ALB and appends the client address to
//! `X-Forwarded-For`.

mod support;

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use support::aws::large_message;
use support::server::{
    Server, TOKEN, error_code, push_headers, read_answer, request_head, time_until_closed,
};

/// The container template's `REDOX_MAX_BODY_BYTES` (45 MiB).
const MAX_BODY: usize = 47_185_920;
const MIB: usize = 1024 * 1024;

fn push_body(log_id: &str) -> Vec<u8> {
    format!(r#"{{"Meta":{{"DataModel":"PatientAdmin","EventType":"Arrival","Logs":[{{"ID":"{log_id}"}}]}}}}"#)
        .into_bytes()
}

/// A connection to `server` from the local address `from` (any 127.x.y.z
/// is this machine's own on Linux), so the server sees another client.
fn connect_from(server: &Server, from: &str) -> TcpStream {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("runtime");
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        let local: IpAddr = from.parse().expect("address");
        socket.bind(SocketAddr::new(local, 0)).expect("bind");
        socket
            .connect(SocketAddr::from(([127, 0, 0, 1], server.port)))
            .await
            .expect("connect")
    });
    let stream = stream.into_std().expect("std stream");
    stream.set_nonblocking(false).expect("blocking");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Writes a head declaring `length` body bytes (and nothing else).
fn send_head(stream: &mut TcpStream, headers: &[(&str, &str)], length: usize) {
    let head = request_head("POST", "/", headers, length, false);
    stream.write_all(head.as_bytes()).expect("write head");
}

/// A whole push on a new connection from `from`.
fn push_from(
    server: &Server,
    from: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Duration) {
    let started = Instant::now();
    let mut stream = connect_from(server, from);
    let mut all = push_headers();
    all.extend_from_slice(headers);
    send_head(&mut stream, &all, body.len());
    stream.write_all(body).expect("write body");
    let answer = read_answer(&mut stream, Duration::from_secs(60)).expect("an answer");
    (answer.status, started.elapsed())
}

// ---- finding 1: the body budget, reserved by anyone ---------------------

/// The template's defaults, scaled down: a 1 GiB task leaves 432 MiB for
/// three 45 MiB bodies and more; here the budget holds exactly three.
fn template_like(extra: &[(&str, &str)]) -> Server {
    let budget = (3 * MAX_BODY).to_string();
    let max_body = MAX_BODY.to_string();
    let mut env = vec![
        ("REDOX_MAX_BODY_BYTES", max_body.as_str()),
        ("REDOX_BODY_MEMORY_BYTES", budget.as_str()),
        ("REDOX_REQUEST_TIMEOUT_MS", "15000"),
    ];
    env.extend_from_slice(extra);
    Server::start(&env)
}

#[test]
fn heads_declaring_45_mb_without_a_credential_hold_nothing_and_genuine_pushes_pass() {
    let server = template_like(&[]);
    // Ten heads from one address and ten from ten others, each declaring
    // the largest body and sending none of it.
    let mut attackers = Vec::new();
    for i in 0..20 {
        let from = if i < 10 {
            "127.0.0.66".to_owned()
        } else {
            format!("127.0.1.{i}")
        };
        let mut stream = connect_from(&server, &from);
        send_head(
            &mut stream,
            &[("content-type", "application/json")],
            MAX_BODY,
        );
        attackers.push(stream);
    }
    for stream in &mut attackers {
        let answer = read_answer(stream, Duration::from_secs(5)).expect("answered from the head");
        assert_eq!(answer.status, 401, "{}", answer.text());
        assert_eq!(answer.header("connection"), Some("close"));
    }
    // Meanwhile genuine pushes from another address: none waits for memory.
    let one_mb = large_message(MIB);
    let (status, took) = push_from(&server, "127.0.0.9", &[], &one_mb);
    assert_eq!(status, 200, "{}", server.log());
    println!("1 MB push beside 20 hostile heads: {took:?}");
    let forty_mb = large_message(40_000_000);
    let (status, took) = push_from(&server, "127.0.0.9", &[], &forty_mb);
    assert_eq!(status, 200, "{}", server.log());
    println!("40 MB push beside 20 hostile heads: {took:?}");
    assert_eq!(server.spooled(), 2);
    // The attackers' connections close once nothing more arrives (the
    // grace), without having held any of the budget.
    for stream in &mut attackers {
        assert!(time_until_closed(stream, Duration::from_secs(10)).is_some());
    }
}

#[test]
fn a_wrong_token_and_a_forged_jwt_declaring_40_mb_are_refused_before_any_body_byte_is_sent() {
    let dir = tempfile::tempdir().expect("dir");
    let material = dir.path().join("material.json");
    std::fs::write(
        &material,
        serde_json::json!({
            "verification_tokens": [TOKEN],
            "jwt_issuers": [{"issuer": "redox", "audiences": ["https://destination.example.com"],
                "jwks": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "a",
                    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}]
        })
        .to_string(),
    )
    .expect("material");
    let material = material.to_string_lossy().into_owned();
    let server = template_like(&[("REDOX_SECRET_FILE", material.as_str())]);
    let b64 = |json: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    };
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 300;
    let forged = format!(
        "Bearer {}.{}.{}",
        b64(r#"{"alg":"EdDSA","kid":"a"}"#),
        b64(&format!(
            r#"{{"iss":"redox","aud":"https://destination.example.com","exp":{exp}}}"#
        )),
        b64("not the signature of anything, sixty-four bytes long, or so...")
    );
    let cases: [(&str, Vec<(&str, &str)>); 2] = [
        ("wrong token", vec![("verification-token", "not-the-token")]),
        ("forged JWT", vec![("authorization", forged.as_str())]),
    ];
    for (what, headers) in cases {
        let mut stream = connect_from(&server, "127.0.0.77");
        let mut all = vec![
            ("content-type", "application/json"),
            ("expect", "100-continue"),
        ];
        all.extend(headers);
        let started = Instant::now();
        send_head(&mut stream, &all, 40_000_000);
        // The client waits for `100 Continue` before sending its body; the
        // answer it gets instead is the refusal.
        let answer = read_answer(&mut stream, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{what}: no answer to the head alone"));
        println!("{what}: {} after {:?}", answer.status, started.elapsed());
        assert_eq!(answer.status, 401, "{what}: {}", answer.text());
        assert!(
            time_until_closed(&mut stream, Duration::from_secs(2)).is_some(),
            "{what}: the connection closes"
        );
    }
    // With the right token the same head is invited to send its body.
    let mut stream = connect_from(&server, "127.0.0.77");
    let mut headers = push_headers();
    headers.push(("expect", "100-continue"));
    let body = push_body("after-continue");
    send_head(&mut stream, &headers, body.len());
    let interim = read_answer(&mut stream, Duration::from_secs(5)).expect("100 Continue");
    assert_eq!(interim.status, 100);
    stream.write_all(&body).expect("body");
    let answer = read_answer(&mut stream, Duration::from_secs(5)).expect("answer");
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(server.spooled(), 1);
}

// ---- finding 2: stalled bodies and the connection cap --------------------

#[test]
fn trickled_bodies_are_answered_408_after_the_grace_and_a_genuine_push_does_not_wait() {
    // The review's figures: a cap of 16 connections, an 8 s request
    // timeout; 16 connections each declaring 100 bytes and sending 10.
    let server = Server::start(&[
        ("REDOX_MAX_CONNECTIONS", "16"),
        ("REDOX_REQUEST_TIMEOUT_MS", "8000"),
        ("REDOX_BODY_GRACE_MS", "1000"),
    ]);
    let mut tricklers = Vec::new();
    let started = Instant::now();
    for _ in 0..16 {
        let mut stream = connect_from(&server, "127.0.0.66");
        send_head(&mut stream, &push_headers(), 100);
        let _ = stream.write_all(&[b'{'; 10]);
        tricklers.push(stream);
    }
    thread::sleep(Duration::from_millis(200));
    // A genuine push from another address meanwhile.
    let (status, waited) = push_from(&server, "127.0.0.9", &[], &push_body("genuine"));
    println!("genuine push beside 16 tricklers: {status} in {waited:?}");
    assert_eq!(status, 200, "{}", server.log());
    assert!(
        waited < Duration::from_secs(1),
        "the genuine push waited {waited:?}"
    );
    // Every trickler is answered or closed: 408 once the grace has passed
    // (its share of four) or turned away at once (the rest).
    let mut timed_out = 0;
    for stream in &mut tricklers {
        if let Some(answer) = read_answer(stream, Duration::from_secs(5)) {
            assert_eq!(answer.status, 408, "{}", answer.text());
            assert_eq!(error_code(&answer), "request_timeout");
            timed_out += 1;
        }
    }
    let took = started.elapsed();
    println!("{timed_out} tricklers answered 408; all done after {took:?}");
    assert!(timed_out >= 1, "{}", server.log());
    assert!(
        took < Duration::from_secs(8),
        "within grace, not the timeout"
    );
    assert_eq!(server.spooled(), 1);
}

#[test]
fn one_address_gets_its_share_of_requests_in_flight_and_others_are_untouched() {
    // Behind the load balancer every request arrives from the ALB's own
    // address; the share counts the address the ALB appended.
    let server = Server::start(&[
        ("REDOX_BEHIND_ALB", "true"),
        ("REDOX_MAX_CLIENT_REQUESTS", "3"),
        ("REDOX_REQUEST_TIMEOUT_MS", "10000"),
        ("REDOX_BODY_GRACE_MS", "5000"),
    ]);
    let forwarded = |ip: &'static str| {
        let mut headers = push_headers();
        headers.push(("x-forwarded-for", ip));
        headers
    };
    // Three slow requests from one client: its share.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut stream = server.connect();
        send_head(&mut stream, &forwarded("198.51.100.7"), 100);
        held.push(stream);
    }
    thread::sleep(Duration::from_millis(200));
    let mut fourth = server.connect();
    send_head(&mut fourth, &forwarded("198.51.100.7"), 100);
    let answer = read_answer(&mut fourth, Duration::from_secs(2)).expect("refused at once");
    assert_eq!(answer.status, 429, "{}", answer.text());
    assert_eq!(answer.header("retry-after"), Some("10"));
    assert_eq!(error_code(&answer), "too_many_requests");
    // Another client is served as usual.
    let mut other = server.connect();
    let body = push_body("other-client");
    send_head(&mut other, &forwarded("203.0.113.5"), body.len());
    other.write_all(&body).expect("body");
    let answer = read_answer(&mut other, Duration::from_secs(5)).expect("answer");
    assert_eq!(answer.status, 200, "{}", answer.text());
    // Once the first client's requests end, it has its share again.
    for mut stream in held {
        stream.write_all(&[b' '; 100]).expect("finish");
        let answer = read_answer(&mut stream, Duration::from_secs(5)).expect("answer");
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let mut again = server.connect();
    send_head(&mut again, &forwarded("198.51.100.7"), body.len());
    again.write_all(&body).expect("body");
    let answer = read_answer(&mut again, Duration::from_secs(5)).expect("answer");
    assert_eq!(answer.status, 200, "{}", answer.text());
}

#[test]
fn a_peer_exposed_directly_cannot_hold_more_than_its_share_of_connections() {
    let server = Server::start(&[
        ("REDOX_MAX_CONNECTIONS", "8"),
        ("REDOX_MAX_CLIENT_REQUESTS", "2"),
    ]);
    // Silent connections from one peer: two are kept, the rest closed.
    let mut silent: Vec<TcpStream> = (0..8)
        .map(|_| connect_from(&server, "127.0.0.66"))
        .collect();
    let mut closed = 0;
    for stream in &mut silent {
        if time_until_closed(stream, Duration::from_millis(500)).is_some() {
            closed += 1;
        }
    }
    assert_eq!(closed, 6, "{}", server.log());
    let (status, waited) = push_from(&server, "127.0.0.9", &[], &push_body("direct"));
    assert_eq!(status, 200);
    assert!(waited < Duration::from_secs(1), "{waited:?}");
}

// ---- finding 7: the client address and the body size reported ----------

#[test]
fn two_x_forwarded_for_lines_are_garbled_not_trusted() {
    let server = Server::start(&[("REDOX_BEHIND_ALB", "true")]);
    let body = push_body("two-lines");
    let mut headers = push_headers();
    headers.push(("x-forwarded-for", "198.51.100.7"));
    headers.push(("x-forwarded-for", "203.0.113.5"));
    let mut stream = server.connect();
    send_head(&mut stream, &headers, body.len());
    stream.write_all(&body).expect("body");
    let answer = read_answer(&mut stream, Duration::from_secs(5)).expect("answer");
    assert_eq!(answer.status, 200, "{}", answer.text());
    let record = server
        .log_records()
        .into_iter()
        .find(|r| r["redox_log_id"] == "two-lines")
        .expect("the push's log line");
    assert_eq!(record["source_ip"], "127.0.0.1");
    assert_eq!(record["source_ip_from"], "peer (x-forwarded-for garbled)");
}

#[test]
fn a_refused_head_declaring_40_mb_reports_the_bytes_that_arrived_not_the_declared_size() {
    let server = template_like(&[("REDOX_METRICS", "emf")]);
    let mut stream = connect_from(&server, "127.0.0.66");
    send_head(
        &mut stream,
        &[("content-type", "application/json")],
        40_000_000,
    );
    stream
        .write_all(&[b'{'; 1000])
        .expect("a little of the body");
    let answer = read_answer(&mut stream, Duration::from_secs(5)).expect("answer");
    assert_eq!(answer.status, 401);
    assert!(server.log_shows("ClientErrors"));
    let record = server
        .log_records()
        .into_iter()
        .find(|r| r["status"] == 401)
        .unwrap_or_else(|| panic!("an EMF record for the refusal:\n{}", server.log()));
    let reported = record["BodyBytes"].as_u64().expect("BodyBytes");
    assert!(
        reported <= 1000,
        "BodyBytes {reported}: a stranger's declared size is not a fact"
    );
}
