//! `redox-destination verify` and `send`, run as processes the way an
//! operator runs them, against the local server (what was spooled) and
//! against the release binary in Lambda mode behind a Function URL front
//! (what was queued in the emulated SQS). Every auth method Redox uses —
//! token, SigV4, OAuth client credentials — is accepted and queued with its
//! `AuthMethod`; a wrong credential exits non-zero and queues nothing.

mod support;

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use base64::Engine as _;
use support::aws::{World, attribute};
use support::function_url::FunctionUrl;
use support::signers::{ACCESS_KEY, REGION, SECRET};
use support::{LocalServer, RuntimeApi};

const TOKEN: &str = "cli-test-verification-token-0123";
const CLIENT_ID: &str = "redox";
const CLIENT_SECRET: &str = "cli-test-client-secret-456789";
/// The built-in issuer's name; it need not be where the endpoint listens.
const ISSUER: &str = "https://abcdefghijklmnop.lambda-url.us-east-1.on.aws";

/// One message as the sink holds it.
#[derive(Debug)]
struct Queued {
    attributes: BTreeMap<String, String>,
    body: String,
}

/// Auth material with every credential the CLI presents.
fn material_file(dir: &Path) -> PathBuf {
    let pair = aws_lc_rs::signature::Ed25519KeyPair::generate().expect("an Ed25519 key");
    let pkcs8 = pair.to_pkcs8v1().expect("PKCS#8");
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref())
    );
    let material = serde_json::json!({
        "verification_tokens": [TOKEN],
        "sigv4_keys": [{"access_key_id": ACCESS_KEY, "secret_access_key": SECRET,
                        "region": REGION, "service": "lambda"}],
        "oauth_clients": [{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}],
        "oauth_signing_keys": [{"kid": "cli-1", "private_key_pem": pem}],
    });
    let path = dir.join("material.json");
    std::fs::write(&path, material.to_string()).expect("write the material");
    path
}

struct Run {
    success: bool,
    code: Option<i32>,
    stdout: String,
}

/// A secret given as an option's value in the refusal tests; never printed.
const ARGV_SECRET: &str = "argv-secret-value-0123456789";

/// The CLI as a process, with nothing from the test's environment but
/// `PATH` and what `env` gives (secrets travel there, as documented).
fn cli(args: &[&str], env: &[(&str, &str)]) -> Run {
    cli_with_stdin(args, env, "")
}

/// [`cli`], with `stdin` on its standard input.
fn cli_with_stdin(args: &[&str], env: &[(&str, &str)], stdin: &str) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_redox-destination"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run redox-destination");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("redox-destination ends");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    for secret in [TOKEN, SECRET, CLIENT_SECRET, ARGV_SECRET] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "a secret was printed: {stdout}{stderr}"
        );
    }
    Run {
        success: output.status.success(),
        code: output.status.code(),
        stdout: format!("{stdout}{stderr}"),
    }
}

/// Runs every CLI case against `url`; `take_new` returns the messages
/// queued since it was last called.
fn every_method_against(url: &str, take_new: &mut dyn FnMut() -> Vec<Queued>) {
    let token_url = format!("{}oauth2/token", url);
    let sigv4 = ["--sigv4", "--access-key-id", ACCESS_KEY, "--region", REGION];

    // The token on standard input, as `--token-file -` reads it.
    let verified = cli_with_stdin(
        &["verify", url, "--token-file", "-"],
        &[],
        &format!("{TOKEN}\n"),
    );
    assert!(verified.success, "{}", verified.stdout);
    assert!(
        verified.stdout.contains("verify: all 4 checks passed"),
        "{}",
        verified.stdout
    );
    let wrong = cli(
        &["verify", url],
        &[("REDOX_VERIFICATION_TOKEN", "not-the-token")],
    );
    assert!(!wrong.success, "a wrong token verified: {}", wrong.stdout);
    assert!(wrong.stdout.contains("401"), "{}", wrong.stdout);
    assert!(take_new().is_empty(), "verify queued something");

    let sent = cli(
        &["send", url, "--count", "3"],
        &[("REDOX_VERIFICATION_TOKEN", TOKEN)],
    );
    assert!(sent.success, "{}", sent.stdout);
    assert!(
        sent.stdout.contains("summary: 3 answered (200 x3)"),
        "{}",
        sent.stdout
    );
    assert!(sent.stdout.contains("latency: p50 "), "{}", sent.stdout);
    assert_samples(&take_new(), 3, "token");

    let mut args = vec!["send", url, "--count", "2"];
    args.extend(sigv4);
    let sent = cli(&args, &[("REDOX_SIGV4_SECRET_ACCESS_KEY", SECRET)]);
    assert!(sent.success, "{}", sent.stdout);
    assert_samples(&take_new(), 2, "sigv4");

    let oauth = [
        "send",
        url,
        "--count",
        "2",
        "--oauth-token-url",
        &token_url,
        "--client-id",
        CLIENT_ID,
    ];
    let sent = cli(&oauth, &[("REDOX_OAUTH_CLIENT_SECRET", CLIENT_SECRET)]);
    assert!(sent.success, "{}", sent.stdout);
    assert_samples(&take_new(), 2, "jwt");

    // Wrong credentials: a non-zero exit, the destination's error, a hint.
    let refused = cli(
        &["send", url],
        &[("REDOX_VERIFICATION_TOKEN", "not-the-token")],
    );
    assert!(!refused.success, "{}", refused.stdout);
    assert!(
        refused.stdout.contains(r#""error":"unauthorized""#),
        "{}",
        refused.stdout
    );
    assert!(refused.stdout.contains("hint:"), "{}", refused.stdout);
    let mut args = vec!["send", url];
    args.extend(sigv4);
    let refused = cli(
        &args,
        &[("REDOX_SIGV4_SECRET_ACCESS_KEY", "not/the+secret")],
    );
    assert!(!refused.success, "{}", refused.stdout);
    assert!(refused.stdout.contains("401"), "{}", refused.stdout);
    let refused = cli(
        &oauth,
        &[("REDOX_OAUTH_CLIENT_SECRET", "not-the-client-secret")],
    );
    assert!(!refused.success, "{}", refused.stdout);
    assert!(
        refused.stdout.contains("invalid_client"),
        "{}",
        refused.stdout
    );
    assert!(take_new().is_empty(), "a refused push was queued");

    // A file's body goes as it is.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("message.json");
    let body = r#"{"Meta":{"DataModel":"Results","EventType":"New","Logs":[{"ID":"cli-file-1"}]}}"#;
    std::fs::write(&file, body).expect("write the message");
    let file = file.to_str().expect("a UTF-8 path");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write the token");
    let token_file = token_file.to_str().expect("a UTF-8 path");
    let sent = cli(
        &["send", url, "--file", file, "--token-file", token_file],
        &[("REDOX_VERIFICATION_TOKEN", "the-file-wins")],
    );
    assert!(sent.success, "{}", sent.stdout);
    let queued = take_new();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(queued[0].body, body);
    assert_eq!(
        queued[0].attributes.get("RedoxLogId").map(String::as_str),
        Some("cli-file-1")
    );
}

/// `count` built-in samples, authenticated by `method`, each a new message.
fn assert_samples(queued: &[Queued], count: usize, method: &str) {
    assert_eq!(queued.len(), count, "{method}: {queued:?}");
    let mut log_ids = HashSet::new();
    for message in queued {
        let get = |name: &str| message.attributes.get(name).map(String::as_str);
        assert_eq!(get("AuthMethod"), Some(method), "{message:?}");
        assert_eq!(get("RedoxDataModel"), Some("PatientAdmin"));
        assert_eq!(get("RedoxEventType"), Some("Arrival"));
        assert_eq!(get("RedoxTest"), Some("true"));
        assert!(get("RedoxAttemptId").is_some(), "{message:?}");
        log_ids.insert(get("RedoxLogId").expect("RedoxLogId").to_owned());
    }
    assert_eq!(
        log_ids.len(),
        count,
        "{method}: a fresh Logs[0].ID per message"
    );
}

#[test]
fn verify_and_send_against_the_local_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let spool = dir.path().join("spool");
    let server = LocalServer::start(&[
        (
            "REDOX_SECRET_FILE".into(),
            material_file(dir.path()).display().to_string(),
        ),
        ("REDOX_SPOOL_DIR".into(), spool.display().to_string()),
        ("REDOX_OAUTH_ISSUER".into(), ISSUER.into()),
    ]);
    let mut seen = HashSet::new();
    let mut take_new = || {
        let mut new = Vec::new();
        for entry in std::fs::read_dir(&spool).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".json") || name.starts_with('.') || !seen.insert(name) {
                continue;
            }
            let file: serde_json::Value =
                serde_json::from_slice(&std::fs::read(entry.path()).expect("read the spool file"))
                    .expect("a JSON spool file");
            new.push(Queued {
                attributes: serde_json::from_value(file["attributes"].clone())
                    .expect("string attributes"),
                body: file["body"].as_str().expect("a text body").to_owned(),
            });
        }
        new
    };
    every_method_against(&format!("http://127.0.0.1:{}/", server.port), &mut take_new);
}

#[test]
fn verify_and_send_against_the_lambda_mode_binary() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let world = runtime.block_on(World::start());
    let queue = runtime.block_on(world.queue("redox-cli"));
    let dir = tempfile::tempdir().expect("temp dir");
    let mut env = world.moto.aws_env();
    env.extend([
        ("REDOX_QUEUE_URL".to_owned(), queue.clone()),
        (
            "REDOX_SECRET_FILE".to_owned(),
            material_file(dir.path()).display().to_string(),
        ),
        ("REDOX_OAUTH_ISSUER".to_owned(), ISSUER.to_owned()),
    ]);
    let api = Arc::new(RuntimeApi::start());
    let function = api.start_function(&env);
    let front = FunctionUrl::start(api.clone());
    let mut take_new = || {
        runtime
            .block_on(world.receive_all(&queue))
            .iter()
            .map(|message| Queued {
                attributes: message
                    .message_attributes
                    .iter()
                    .flatten()
                    .map(|(name, _)| (name.clone(), attribute(message, name).unwrap_or_default()))
                    .collect(),
                body: message.body.clone().unwrap_or_default(),
            })
            .collect()
    };
    every_method_against(&front.url(), &mut take_new);
    let log = function.log();
    assert!(
        !log.contains(TOKEN) && !log.contains(CLIENT_SECRET),
        "{log}"
    );
}

/// A listener that no client should reach: the checks must stop the CLI
/// before it connects.
fn untouched_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("non-blocking");
    let url = format!("http://{}/", listener.local_addr().expect("addr"));
    (listener, url)
}

fn assert_never_connected(listener: &TcpListener) {
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        Ok((_, from)) => panic!("the CLI connected (from {from}) before refusing"),
        Err(e) => panic!("accept: {e}"),
    }
}

#[test]
fn a_secret_given_as_an_option_value_is_refused_before_anything_is_sent() {
    let (listener, url) = untouched_listener();
    let token_url = format!("{url}oauth2/token");
    let sigv4 = ["--sigv4", "--access-key-id", ACCESS_KEY, "--region", REGION];
    let oauth = [
        "--oauth-token-url",
        token_url.as_str(),
        "--client-id",
        CLIENT_ID,
    ];
    let cases: Vec<(Vec<&str>, &str, &str)> = vec![
        (
            vec!["verify", &url, "--token", ARGV_SECRET],
            "REDOX_VERIFICATION_TOKEN",
            "--token-file",
        ),
        (
            vec!["send", &url, "--token", ARGV_SECRET],
            "REDOX_VERIFICATION_TOKEN",
            "--token-file",
        ),
        (
            [
                &["send", url.as_str()][..],
                &sigv4,
                &["--secret-access-key", ARGV_SECRET],
            ]
            .concat(),
            "REDOX_SIGV4_SECRET_ACCESS_KEY",
            "--secret-access-key-file",
        ),
        (
            [
                &["send", url.as_str()][..],
                &sigv4,
                &["--session-token", ARGV_SECRET],
            ]
            .concat(),
            "REDOX_SIGV4_SESSION_TOKEN",
            "--session-token-file",
        ),
        (
            [
                &["send", url.as_str()][..],
                &oauth,
                &["--client-secret", ARGV_SECRET],
            ]
            .concat(),
            "REDOX_OAUTH_CLIENT_SECRET",
            "--client-secret-file",
        ),
    ];
    let env = [
        ("REDOX_VERIFICATION_TOKEN", TOKEN),
        ("REDOX_SIGV4_SECRET_ACCESS_KEY", SECRET),
        ("REDOX_OAUTH_CLIENT_SECRET", CLIENT_SECRET),
    ];
    for (args, variable, file_option) in cases {
        let run = cli(&args, &env);
        assert_eq!(
            run.code,
            Some(2),
            "{args:?} was not refused: {}",
            run.stdout
        );
        assert!(
            run.stdout.contains(variable) && run.stdout.contains(file_option),
            "{args:?}: the refusal names neither {variable} nor {file_option}: {}",
            run.stdout
        );
    }
    assert_never_connected(&listener);
}

#[test]
fn secrets_never_cross_plain_http_off_this_machine_without_the_flag() {
    // `.invalid` never resolves (RFC 6761): whatever happens, nothing leaves.
    let remote = "http://redox-destination.invalid/";
    let env = [
        ("REDOX_VERIFICATION_TOKEN", TOKEN),
        ("REDOX_SIGV4_SECRET_ACCESS_KEY", SECRET),
        ("REDOX_OAUTH_CLIENT_SECRET", CLIENT_SECRET),
    ];
    let sigv4 = ["--sigv4", "--access-key-id", ACCESS_KEY, "--region", REGION];
    let remote_token_url = "http://issuer.redox-destination.invalid/oauth2/token";
    let https_destination = "https://abcdefghijklmnop.lambda-url.us-east-1.on.aws/";
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["verify", remote], "the verification token"),
        (vec!["send", remote], "the verification token"),
        (
            [&["send", remote][..], &sigv4].concat(),
            "a SigV4-signed push",
        ),
        (
            vec![
                "send",
                https_destination,
                "--oauth-token-url",
                remote_token_url,
                "--client-id",
                CLIENT_ID,
            ],
            "the OAuth client secret",
        ),
    ];
    for (args, what) in &cases {
        let run = cli(args, &env);
        assert_eq!(run.code, Some(2), "{args:?}: {}", run.stdout);
        assert!(
            run.stdout.contains(&format!("refusing to send {what}"))
                && run.stdout.contains("over plain http://")
                && run.stdout.contains("--allow-insecure-http"),
            "{args:?}: {}",
            run.stdout
        );
        assert!(
            !run.stdout.contains("connection error"),
            "{args:?} tried to connect: {}",
            run.stdout
        );
    }
    // With the flag it goes, after a warning (and fails here to connect).
    let mut args = cases[1].0.clone();
    args.push("--allow-insecure-http");
    let run = cli(&args, &env);
    assert!(!run.success);
    assert!(
        run.stdout
            .contains("warning: sending the verification token over plain http:// to redox-destination.invalid"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("connection error"), "{}", run.stdout);
}
