//! Server mode facing the internet (issue 20): the release binary as a
//! child process, driven over raw sockets the way slow, idle, spoofing and
//! large clients behave, with SQS and S3 on the emulator where a push must
//! really be queued.
//!
//! - large bodies: 10 and 40 MB pushes offloaded to S3 and read back byte
//!   for byte by the official extended client, peak RSS bounded;
//! - slow clients: a stalled body answered 408 within the request's
//!   deadline; a half-sent head dropped after the header timeout counted
//!   from its first byte; idle connections closed after the idle timeout
//!   (and not by the header timeout between two requests);
//! - descriptor exhaustion under a low `RLIMIT_NOFILE`: no CPU spin, one
//!   log line per burst, serving again once descriptors free up;
//! - SIGTERM with a 40 MB push in flight: answered, queued, exit 0;
//!   `/healthz` while serving and while draining;
//! - the body memory budget: 503 with `Retry-After`, the process alive,
//!   then accepted once memory frees;
//! - behind the ALB: a client-sent `X-Forwarded-For` prefix is not the
//!   client address, `REDOX_OAUTH_ISSUER=auto` is refused, SigV4 verifies
//!   against the public `Host` the client signed.
//!
//! `REDOX_RELEASE_BIN` runs these against another build (an older one, to
//! see each fail).

mod support;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use support::aws::{World, large_message, receive_with_extended_client};
use support::server::{
    Server, TOKEN, clock_ticks_per_second, error_code, push_headers, read_answer, request_head,
    time_until_closed, write_request,
};
use support::signers::{aws_sigv4_signed, botocore_signed, material_json};
use support::{ChildGuard, free_port, release_binary};

const SMALL_PUSH: &str = r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival","Logs":[{"ID":"log-1","AttemptID":"a-1"}]}}"#;
/// The container template's `REDOX_MAX_BODY_BYTES` (45 MiB).
const MAX_BODY: &str = "47185920";
const MIB: u64 = 1024 * 1024;

// ---- large bodies -------------------------------------------------------

/// A queue, a bucket, and the server offloading to them, with the
/// container template's body limit.
async fn offloading_server(name: &str, extra: &[(&str, &str)]) -> (World, String, String, Server) {
    let world = World::start().await;
    let queue = world.queue(name).await;
    let bucket = world.bucket(&format!("{name}-payloads")).await;
    let aws = world.moto.aws_env();
    let mut env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.extend_from_slice(&[
        ("REDOX_QUEUE_URL", queue.as_str()),
        ("REDOX_PAYLOAD_BUCKET", bucket.as_str()),
        ("REDOX_MAX_BODY_BYTES", MAX_BODY),
        ("REDOX_REQUEST_TIMEOUT_MS", "60000"),
        ("REDOX_AWS_TIMEOUT_MS", "30000"),
    ]);
    env.extend_from_slice(extra);
    let server = Server::start(&env);
    (world, queue, bucket, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_of_10_and_40_mb_go_through_s3_and_the_extended_client_reads_them_unchanged() {
    let (world, queue, bucket, server) = offloading_server("redox-server-large", &[]).await;
    let idle_kib = server.peak_rss_kib();
    for size in [10_000_000, 40_000_000] {
        let body = large_message(size);
        let started = Instant::now();
        let answer = server.push(&[], &body);
        let latency = started.elapsed();
        assert_eq!(answer.status, 200, "{}\n{}", answer.text(), server.log());
        assert_eq!(answer.json()["status"], "queued");
        let peak_kib = server.peak_rss_kib();
        println!(
            "{size} bytes: 200 in {latency:?}, peak RSS {} MiB (idle {} MiB)",
            peak_kib / 1024,
            idle_kib / 1024
        );
        let received = receive_with_extended_client(&world, &queue, &bucket);
        assert_eq!(received.len(), body.len());
        assert!(
            received == body,
            "the extended client's {size}-byte body differs"
        );
        if size == 40_000_000 {
            // Issue 20 bounds one 40 MB push by twice the body plus 32
            // MiB; the body is read into one buffer sized from its
            // Content-Length, so it is held once: within the body plus 32
            // MiB (issue 20 measured 93 MiB before that).
            let issue_bound_kib = (2 * size as u64 + 32 * MIB) / 1024;
            let one_copy_kib = (size as u64 + 32 * MIB) / 1024;
            assert!(
                peak_kib <= issue_bound_kib.min(one_copy_kib),
                "peak RSS {peak_kib} KiB over {one_copy_kib} KiB (one body plus 32 MiB)"
            );
        }
    }
    assert_eq!(world.object_keys(&bucket).await.len(), 2);
}

// ---- slow and idle clients ----------------------------------------------

#[test]
fn a_stalled_body_is_answered_408_within_the_request_deadline_and_nothing_is_queued() {
    let server = Server::start(&[("REDOX_REQUEST_TIMEOUT_MS", "1000")]);
    let mut stream = server.connect();
    let head = request_head("POST", "/", &push_headers(), 100_000, false);
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(&[b' '; 1000]).expect("part of the body");
    let started = Instant::now();
    // The client stops sending; the deadline counts from the first byte.
    let answer = read_answer(&mut stream, Duration::from_secs(8));
    let held = started.elapsed();
    let answer = answer.unwrap_or_else(|| {
        panic!(
            "no answer to a stalled body after {held:?}\n{}",
            server.log()
        )
    });
    assert_eq!(answer.status, 408, "{}", answer.text());
    assert_eq!(error_code(&answer), "request_timeout");
    assert_eq!(answer.header("connection"), Some("close"));
    assert!(held < Duration::from_secs(3), "answered after {held:?}");
    println!("stalled body held {held:?} (deadline 1 s from the first byte)");
    assert!(time_until_closed(&mut stream, Duration::from_secs(3)).is_some());
    assert_eq!(server.spooled(), 0);
    let logged = server
        .log_records()
        .into_iter()
        .any(|r| r["outcome"] == "request_timeout" && r["status"] == 408);
    assert!(logged, "the refusal is logged:\n{}", server.log());
}

#[test]
fn a_half_sent_head_is_dropped_after_the_header_timeout_counted_from_its_first_byte() {
    let server = Server::start(&[("REDOX_HEADER_TIMEOUT_MS", "1000")]);
    let mut stream = server.connect();
    // Idle longer than the header timeout first: that is not a slow head.
    thread::sleep(Duration::from_millis(1500));
    stream
        .write_all(b"POST / HTTP/1.1\r\nhost: redox.example.com\r\ncontent-")
        .expect("the connection is still open after an idle second and a half");
    let closed = time_until_closed(&mut stream, Duration::from_secs(8));
    let closed =
        closed.unwrap_or_else(|| panic!("a half head is still open after 8 s\n{}", server.log()));
    println!("half head held {closed:?} after its first byte (header timeout 1 s)");
    assert!(
        closed >= Duration::from_millis(800) && closed < Duration::from_secs(3),
        "closed {closed:?} after the head's first byte"
    );
    let logged = server.log_shows("request head was not complete in time");
    assert!(logged, "{}", server.log());
}

#[test]
fn idle_connections_are_closed_after_the_idle_timeout_and_not_between_two_requests() {
    let server = Server::start(&[
        ("REDOX_IDLE_TIMEOUT_SECS", "2"),
        ("REDOX_HEADER_TIMEOUT_MS", "500"),
    ]);
    // A connection that never sends anything, watched meanwhile.
    let mut silent = server.connect();
    let silent_watch =
        thread::spawn(move || time_until_closed(&mut silent, Duration::from_secs(8)));

    // A keep-alive connection: two requests a second apart (longer than
    // the header timeout, shorter than the idle timeout).
    let mut kept = server.connect();
    for pause in [Duration::ZERO, Duration::from_millis(1200)] {
        thread::sleep(pause);
        write_request(
            &mut kept,
            "POST",
            "/",
            &push_headers(),
            SMALL_PUSH.as_bytes(),
            false,
        );
        let answer = read_answer(&mut kept, Duration::from_secs(10))
            .unwrap_or_else(|| panic!("the kept-alive connection was closed\n{}", server.log()));
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let idle = time_until_closed(&mut kept, Duration::from_secs(8));
    let idle = idle.unwrap_or_else(|| panic!("an idle connection is still open after 8 s"));
    println!("idle keep-alive connection closed {idle:?} after its last answer (idle timeout 2 s)");
    assert!(
        idle >= Duration::from_millis(1500) && idle < Duration::from_secs(4),
        "{idle:?}"
    );

    let silent_for = silent_watch
        .join()
        .expect("watcher")
        .unwrap_or_else(|| panic!("a silent connection is still open after 8 s"));
    println!("silent connection closed {silent_for:?} after it opened (idle timeout 2 s)");
    assert!(
        silent_for >= Duration::from_millis(1500) && silent_for < Duration::from_secs(4),
        "{silent_for:?}"
    );
    assert_eq!(server.spooled(), 2);
}

/// The log lines that say `message`.
fn lines_saying(server: &Server, message: &str) -> Vec<serde_json::Value> {
    server
        .log_records()
        .into_iter()
        .filter(|r| {
            r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(message))
        })
        .collect()
}

#[test]
fn out_of_descriptors_it_backs_off_logs_once_per_burst_and_serves_again() {
    // 64 descriptors, and a connection cap that does not protect them (nor
    // a share per client: every connection here comes from one address).
    let mut server = Server::start_limited(
        &[
            ("REDOX_MAX_CONNECTIONS", "1000"),
            ("REDOX_MAX_CLIENT_REQUESTS", "1000"),
            ("REDOX_IDLE_TIMEOUT_SECS", "300"),
        ],
        Some(64),
    );
    let mut idle: Vec<TcpStream> = (0..100).map(|_| server.connect()).collect();
    thread::sleep(Duration::from_millis(500));
    // While the flood arrived, descriptors may have come free and run out
    // again: a few bursts. From now on it is one burst that lasts.
    let lines_before = lines_saying(&server, "accept failed").len();
    let ticks_per_second = clock_ticks_per_second();
    let before = server.cpu_ticks();
    let window = Duration::from_secs(2);
    thread::sleep(window);
    let used = server.cpu_ticks() - before;
    let cpu_share = used as f64 / ticks_per_second as f64 / window.as_secs_f64();
    let failed = lines_saying(&server, "accept failed").len();
    let summaries = lines_saying(&server, "accepting again").len();
    println!(
        "out of descriptors: {:.1}% of a core over {window:?}; {failed} 'accept failed' lines \
         since start, {} in the window",
        cpu_share * 100.0,
        failed - lines_before
    );
    assert!(server.is_running(), "{}", server.log());
    assert!(
        cpu_share < 0.2,
        "{:.0}% of a core while out of descriptors",
        cpu_share * 100.0
    );
    assert!(
        (1..=3).contains(&failed),
        "{failed} lines:\n{}",
        tail(&server.log(), 20)
    );
    assert_eq!(failed, lines_before, "no line while one burst goes on");
    assert_eq!(failed, summaries + 1, "a burst is under way");

    // Descriptors free up when the idle clients leave.
    for stream in &idle {
        let _ = stream.shutdown(Shutdown::Both);
    }
    idle.clear();
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let answer = server.push(&[], SMALL_PUSH.as_bytes());
        if answer.status == 200 || Instant::now() > deadline {
            break answer;
        }
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        answer.status,
        200,
        "{}\n{}",
        answer.text(),
        tail(&server.log(), 20)
    );
    // Closing a hundred connections while accepting the queued ones runs
    // short again and again (each freed descriptor lets one accept through
    // before the next fails): that churn stays in the burst under way. The
    // burst is summarised by the first connection accepted after a quiet
    // second.
    thread::sleep(Duration::from_millis(1200));
    assert_eq!(server.push(&[], SMALL_PUSH.as_bytes()).status, 200);
    let failed_after = lines_saying(&server, "accept failed").len();
    let summaries = lines_saying(&server, "accepting again");
    assert!(failed_after <= failed + 1, "{}", tail(&server.log(), 20));
    assert_eq!(summaries.len(), failed_after, "each burst summarised once");
    let longest = summaries
        .iter()
        .max_by_key(|s| s["failures"].as_u64())
        .expect("a summary");
    assert!(
        longest["failures"].as_u64().unwrap_or(0) >= 2,
        "the long burst counted its failed attempts in one line: {longest}"
    );
    println!("the long burst's summary: {longest}");
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---- drain and health ----------------------------------------------------

#[test]
fn healthz_answers_ok_without_aws_or_auth_and_405_to_other_methods() {
    // A queue nobody answers at: pushes fail, the health check does not.
    let dead = format!("http://127.0.0.1:{}/123456789012/gone", free_port());
    let server = Server::start(&[
        ("REDOX_QUEUE_URL", &dead),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("REDOX_AWS_TIMEOUT_MS", "500"),
    ]);
    let health = server.request("GET", "/healthz", &[], b"");
    assert_eq!(health.status, 200, "{}", health.text());
    assert_eq!(health.text(), "ok");
    assert_eq!(
        health.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(health.header("server"), None, "no software named");
    for method in ["POST", "PUT", "DELETE"] {
        let refused = server.request(method, "/healthz", &[], b"");
        assert_eq!(refused.status, 405, "{method}");
        assert_eq!(refused.header("allow"), Some("GET"));
    }
    let push = server.push(&[], SMALL_PUSH.as_bytes());
    assert_eq!(push.status, 503, "the queue is down: {}", push.text());
    assert_eq!(server.request("GET", "/healthz", &[], b"").status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_answers_a_40mb_push_in_flight_queues_it_fails_health_and_exits_0() {
    let (world, queue, bucket, mut server) =
        offloading_server("redox-server-drain", &[("REDOX_DRAIN_TIMEOUT_SECS", "20")]).await;
    let body = large_message(40_000_000);
    let (first_half, second_half) = body.split_at(body.len() / 2);

    // A connection that sent nothing, a health check half sent, and a 40
    // MB push half sent.
    let mut silent = server.connect();
    let mut health = server.connect();
    health
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: redox.example.com\r\n")
        .expect("half a health check");
    let mut push = server.connect();
    let head = request_head("POST", "/", &push_headers(), body.len(), false);
    push.write_all(head.as_bytes()).expect("push head");
    push.write_all(first_half).expect("first half");
    thread::sleep(Duration::from_millis(300));

    server.terminate();
    let silent_closed = time_until_closed(&mut silent, Duration::from_secs(5));
    println!("silent connection closed {silent_closed:?} after SIGTERM");
    assert!(
        silent_closed.is_some(),
        "an idle connection is closed at once when draining"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", server.port)).is_err(),
        "no new connection is accepted while draining"
    );
    health.write_all(b"\r\n").expect("rest of the health check");
    let draining = read_answer(&mut health, Duration::from_secs(10)).expect("health answer");
    assert_eq!(
        (draining.status, draining.text().as_str()),
        (503, "draining")
    );

    let started = Instant::now();
    push.write_all(second_half).expect("second half");
    let answer = read_answer(&mut push, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("the push in flight was not answered\n{}", server.log()));
    assert_eq!(answer.status, 200, "{}\n{}", answer.text(), server.log());
    assert_eq!(
        answer.header("connection"),
        Some("close"),
        "keep-alive is off while draining"
    );
    let status = server
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| panic!("still running after the drain\n{}", server.log()));
    println!(
        "push answered and process exited {:?} after the rest of the body",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(0), "{}", server.log());

    let received = receive_with_extended_client(&world, &queue, &bucket);
    assert!(received == body, "the queued 40 MB body differs");
}

// ---- the memory budget ---------------------------------------------------

#[test]
fn a_push_without_room_in_the_memory_budget_gets_503_and_fits_once_memory_frees() {
    let mut server = Server::start(&[
        ("REDOX_MAX_BODY_BYTES", "20000000"),
        ("REDOX_BODY_MEMORY_BYTES", "20000000"),
        // Both pushes come from this test's one address: its share is not
        // what runs out here, the budget is.
        ("REDOX_CLIENT_BODY_MEMORY_BYTES", "40000000"),
        ("REDOX_REQUEST_TIMEOUT_MS", "30000"),
    ]);
    // A 15 MB push in flight, 12 MB of its body sent: it holds what
    // arrived (memory is reserved as the body arrives, not as declared).
    let holder_body = large_message(15_000_000);
    let (sent, rest) = holder_body.split_at(12_000_000);
    let mut holder = server.connect();
    let head = request_head("POST", "/", &push_headers(), holder_body.len(), true);
    holder.write_all(head.as_bytes()).expect("head");
    holder.write_all(sent).expect("part of the body");
    thread::sleep(Duration::from_millis(300));

    // A 10 MB push does not fit beside it: it waits, then 503.
    let second = large_message(10_000_000);
    let started = Instant::now();
    let refused = server.push(&[], &second);
    println!("refused after {:?}", started.elapsed());
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(error_code(&refused), "server_busy");
    assert_eq!(refused.header("retry-after"), Some("10"));
    assert!(server.is_running(), "{}", server.log());
    assert_eq!(server.request("GET", "/healthz", &[], b"").status, 200);

    holder.write_all(rest).expect("rest of the body");
    let held = read_answer(&mut holder, Duration::from_secs(30)).expect("holder answered");
    assert_eq!(held.status, 200, "{}", held.text());
    let retried = server.push(&[], &second);
    assert_eq!(retried.status, 200, "{}", retried.text());
    assert_eq!(server.spooled(), 2);
}

// ---- behind the load balancer --------------------------------------------

/// The `source_ip` and `source_ip_from` of the log line of the request
/// whose Redox log id is `log_id`.
fn logged_source(server: &Server, log_id: &str) -> (String, String) {
    let record = server
        .log_records()
        .into_iter()
        .find(|r| r["redox_log_id"] == log_id)
        .unwrap_or_else(|| panic!("no log line for {log_id}:\n{}", server.log()));
    (
        record["source_ip"].as_str().unwrap_or_default().to_owned(),
        record["source_ip_from"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

fn push_with_log_id(log_id: &str) -> Vec<u8> {
    SMALL_PUSH.replace("log-1", log_id).into_bytes()
}

/// Pushes with `headers` and the Redox log id `log_id`; where its log
/// line says it came from.
fn pushed_from(server: &Server, headers: &[(&str, &str)], log_id: &str) -> (String, String) {
    let answer = server.push(headers, &push_with_log_id(log_id));
    assert_eq!(answer.status, 200, "{}", answer.text());
    logged_source(server, log_id)
}

fn source(ip: &str, from: &str) -> (String, String) {
    (ip.to_owned(), from.to_owned())
}

#[test]
fn behind_the_alb_the_client_address_is_the_entry_the_alb_appended() {
    let server = Server::start(&[("REDOX_BEHIND_ALB", "true")]);
    let spoofed = [("x-forwarded-for", "6.6.6.6, 203.0.113.9")];
    assert_eq!(
        pushed_from(&server, &spoofed, "spoofed"),
        source("203.0.113.9", "x-forwarded-for")
    );
    let v6 = [("x-forwarded-for", "6.6.6.6,2001:db8::9")];
    assert_eq!(
        pushed_from(&server, &v6, "ipv6"),
        source("2001:db8::9", "x-forwarded-for")
    );
    // Two lines: which one the ALB appended to cannot be told.
    let two_lines = [
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-for", "2001:db8::9"),
    ];
    assert_eq!(
        pushed_from(&server, &two_lines, "two-lines"),
        source("127.0.0.1", "peer (x-forwarded-for garbled)")
    );
    assert!(
        !server.log().contains("6.6.6.6"),
        "the client-sent entry is never used"
    );
    assert_eq!(
        pushed_from(&server, &[], "direct"),
        source("127.0.0.1", "peer (x-forwarded-for missing)")
    );
    let garbled = [("x-forwarded-for", "203.0.113.9, not-an-address")];
    assert_eq!(
        pushed_from(&server, &garbled, "garbled"),
        source("127.0.0.1", "peer (x-forwarded-for garbled)")
    );

    // Not behind a load balancer, the header is not read at all.
    let direct = Server::start(&[]);
    let sent = [("x-forwarded-for", "203.0.113.9")];
    assert_eq!(
        pushed_from(&direct, &sent, "no-alb"),
        source("127.0.0.1", "peer")
    );
}

/// Auth material with a token, one OAuth client and a fresh Ed25519
/// signing key: all the built-in issuer needs to start.
fn issuer_material(dir: &Path) -> PathBuf {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::Ed25519KeyPair;
    use base64::Engine as _;
    let key = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("an Ed25519 key");
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(key.as_ref())
    );
    let material = serde_json::json!({
        "verification_tokens": [TOKEN],
        "oauth_clients": [{"client_id": "redox", "client_secret": "a-client-secret-of-some-length"}],
        "oauth_signing_keys": [{"kid": "k1", "private_key_pem": pem}],
    });
    let path = dir.join("issuer.json");
    std::fs::write(&path, material.to_string()).expect("material");
    path
}

/// Starts the binary and waits up to 10 s for it to stop at start-up:
/// its exit code and what it printed, or a failure if it serves instead.
fn start_up_failure(env: &[(&str, &str)]) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = dir.path().join("output.log");
    let log = std::fs::File::create(&output).expect("log");
    let child = Command::new(release_binary())
        .env_clear()
        .env("REDOX_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("REDOX_SPOOL_DIR", dir.path())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("the release binary runs");
    let mut child = ChildGuard(child);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.0.try_wait() {
            return (
                status.code(),
                std::fs::read_to_string(&output).unwrap_or_default(),
            );
        }
        thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "{env:?} started and serves:\n{}",
        std::fs::read_to_string(&output).unwrap_or_default()
    );
}

#[test]
fn behind_the_alb_the_auto_issuer_and_a_made_up_token_stop_start_up_naming_the_variable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let material = issuer_material(dir.path());
    let material = material.to_str().expect("utf-8 path");
    // The issuer would otherwise start: with auto on its own, it does.
    let (code, output) = start_up_failure(&[
        ("REDOX_BEHIND_ALB", "true"),
        ("REDOX_OAUTH_ISSUER", "auto"),
        ("REDOX_SECRET_FILE", material),
    ]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("REDOX_OAUTH_ISSUER") && output.contains("https://"),
        "{output}"
    );
    let auto_alone = Server::start(&[
        ("REDOX_OAUTH_ISSUER", "auto"),
        ("REDOX_SECRET_FILE", material),
    ]);
    assert_eq!(auto_alone.request("GET", "/healthz", &[], b"").status, 200);

    // No material: a token made up and printed would reach the log.
    let (code, output) = start_up_failure(&[("REDOX_BEHIND_ALB", "true")]);
    assert_eq!(code, Some(2), "{output}");
    assert!(
        output.contains("REDOX_SECRET_ID") && output.contains("no auth material"),
        "{output}"
    );
}

/// Inserts the headers an ALB adds (after the client signed) into a raw
/// request.
fn as_forwarded_by_alb(raw: &[u8]) -> Vec<u8> {
    let end = raw
        .windows(2)
        .position(|w| w == b"\r\n")
        .expect("request line")
        + 2;
    let mut forwarded = raw[..end].to_vec();
    forwarded.extend_from_slice(
        b"X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Port: 443\r\n\
          X-Amzn-Trace-Id: Root=1-67891233-abcdef012345678912345678\r\n",
    );
    forwarded.extend_from_slice(&raw[end..]);
    forwarded
}

#[test]
fn a_sigv4_push_signed_for_the_public_host_verifies_behind_the_alb() {
    let dir = tempfile::tempdir().expect("temp dir");
    let material = write_material(dir.path());
    let server = Server::start(&[
        ("REDOX_BEHIND_ALB", "true"),
        ("REDOX_SECRET_FILE", material.to_str().expect("utf-8 path")),
    ]);
    for (signer, raw) in [
        (
            "aws-sigv4",
            aws_sigv4_signed("redox.example.com", "/redox/push"),
        ),
        (
            "botocore",
            botocore_signed("redox.example.com", "/redox/push?b=2&a=1", true),
        ),
    ] {
        let mut stream = server.connect();
        stream.write_all(&as_forwarded_by_alb(&raw)).expect("send");
        let answer = read_answer(&mut stream, Duration::from_secs(10)).expect("answer");
        assert_eq!(
            answer.status,
            200,
            "{signer}: {}\n{}",
            answer.text(),
            server.log()
        );
        let mut stream = server.connect();
        let elsewhere = with_host(&as_forwarded_by_alb(&raw), "other.example.com");
        stream.write_all(&elsewhere).expect("send");
        let refused = read_answer(&mut stream, Duration::from_secs(10)).expect("answer");
        assert_eq!(
            refused.status, 401,
            "{signer}: another Host must not verify"
        );
    }
    assert_eq!(server.spooled(), 2);
}

/// The raw request with its `Host` header replaced.
fn with_host(raw: &[u8], host: &str) -> Vec<u8> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("end of head");
    let head = String::from_utf8_lossy(&raw[..end]);
    let lines: Vec<String> = head
        .split("\r\n")
        .map(|line| {
            if line.to_ascii_lowercase().starts_with("host:") {
                format!("host: {host}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    let mut changed = lines.join("\r\n").into_bytes();
    changed.extend_from_slice(&raw[end..]);
    changed
}

fn write_material(dir: &Path) -> PathBuf {
    let path = dir.join("material.json");
    std::fs::write(&path, material_json()).expect("material");
    path
}
