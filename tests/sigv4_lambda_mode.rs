//! SigV4 through the Lambda front door: requests signed by curl, botocore,
//! aws-sigv4 and aws-requests-auth (which sends `x-amz-content-sha256`
//! unsigned) for a Function URL host, wrapped in Function URL events as
//! Lambda delivers them, are answered 200 by the release binary and queued;
//! a copy with one body byte changed is answered 401 and queues nothing.

mod support;

use support::signers::{
    BODY, aws_requests_auth_signed, aws_sigv4_signed, botocore_signed, curl_signed,
    function_url_event_from_raw, material_json, with_one_body_byte_changed,
};
use support::{RuntimeApi, lambda_answer};

const HOST: &str = "abcdefghijklmnop.lambda-url.us-east-1.on.aws";

fn spooled(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .expect("spool dir")
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.ends_with(".json") && !name.starts_with('.')
        })
        .count()
}

#[test]
fn independent_signers_pass_through_function_url_events() {
    let dir = tempfile::tempdir().unwrap();
    let secret = support::write_file(dir.path(), "secret.json", &material_json());
    let spool = dir.path().join("spool");
    let api = RuntimeApi::start();
    let function = api.start_function(&[
        ("REDOX_SECRET_FILE".into(), secret.to_str().unwrap().into()),
        ("REDOX_SPOOL_DIR".into(), spool.to_str().unwrap().into()),
        ("REDOX_AUTH_METHODS".into(), "sigv4".into()),
    ]);

    let signed = [
        // curl 7.88: no percent-escapes, query already sorted (SPEC 2).
        ("curl", curl_signed(HOST, "/redox/push?alpha=1&beta=two")),
        // botocore: unsorted query, percent-encoded path, session token.
        (
            "botocore",
            botocore_signed(
                HOST,
                "/redox/a%20b/push?zeta=last&alpha=a%2Fb&alpha=first",
                true,
            ),
        ),
        (
            "aws-sigv4",
            aws_sigv4_signed(HOST, "/redox/%40push?zeta=z&alpha=a"),
        ),
        // aws-requests-auth: quotes the path once, so none with escapes;
        // sorts the query; x-amz-content-sha256 sent but not signed.
        (
            "aws-requests-auth",
            aws_requests_auth_signed(HOST, "/redox/push?zeta=last&alpha=first", true),
        ),
    ];
    for (signer, raw) in signed {
        let before = spooled(&spool);
        let event = function_url_event_from_raw(&raw);
        let (status, response) = lambda_answer(&api.invoke(&event));
        assert_eq!(status, 200, "{signer}: {response}\n{}", function.log());
        assert_eq!(spooled(&spool), before + 1, "{signer}: one message queued");

        let tampered = function_url_event_from_raw(&with_one_body_byte_changed(&raw));
        let (status, response) = lambda_answer(&api.invoke(&tampered));
        assert_eq!(status, 401, "{signer}: tampered copy {response}");
        assert_eq!(spooled(&spool), before + 1, "{signer}: nothing more queued");
    }
    // The refusal reason is logged; the signature never is.
    let log = function.log();
    assert!(log.contains("signature does not match"), "{log}");
    assert!(!log.contains("Signature="), "{log}");
}

/// The release binary with the test keys and a spool, and the spool folder.
fn function_with(
    methods: &str,
    extra: &[(&str, &str)],
) -> (RuntimeApi, support::FunctionProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let secret = support::write_file(dir.path(), "secret.json", &material_json());
    let api = RuntimeApi::start();
    let mut env = vec![
        (
            "REDOX_SECRET_FILE".to_string(),
            secret.to_str().unwrap().to_string(),
        ),
        (
            "REDOX_SPOOL_DIR".to_string(),
            dir.path().join("spool").to_str().unwrap().to_string(),
        ),
        ("REDOX_AUTH_METHODS".to_string(), methods.to_string()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let function = api.start_function(&env);
    (api, function, dir)
}

/// Rewrites a Function URL event into the HTTP API shape, whose `rawPath`
/// API Gateway delivers percent-decoded.
fn as_http_api_event(event: &[u8], decoded_path: &str) -> Vec<u8> {
    let mut value: serde_json::Value = serde_json::from_slice(event).unwrap();
    value["rawPath"] = decoded_path.into();
    value["requestContext"]["domainName"] = "abc123.execute-api.us-east-1.amazonaws.com".into();
    value.to_string().into_bytes()
}

#[test]
fn http_api_decoded_paths_break_signatures_over_escapes_but_not_plain_paths() {
    let (api, function, _dir) = function_with("sigv4", &[]);
    let plain = botocore_signed(HOST, "/redox/push?b=2&a=1", false);
    let event = as_http_api_event(&function_url_event_from_raw(&plain), "/redox/push");
    let (status, response) = lambda_answer(&api.invoke(&event));
    assert_eq!(status, 200, "{response}\n{}", function.log());

    // Signed over /redox/a%20b; the HTTP API hands the function /redox/a b.
    let escaped = botocore_signed(HOST, "/redox/a%20b?a=1", false);
    let event = as_http_api_event(&function_url_event_from_raw(&escaped), "/redox/a b");
    let (status, _) = lambda_answer(&api.invoke(&event));
    assert_eq!(status, 401, "the documented HTTP API limit no longer holds");
}

fn iam_event(principal: Option<&str>, forged_header: bool) -> Vec<u8> {
    let mut headers = vec![("content-type", "application/json")];
    if forged_header {
        headers.push((
            "x-amzn-iam-user-arn",
            "arn:aws:iam::123456789012:user/redox",
        ));
    }
    let event = support::function_url_event("POST", "/", "", &headers, BODY.as_bytes());
    let mut value: serde_json::Value = serde_json::from_slice(&event).unwrap();
    if let Some(arn) = principal {
        value["requestContext"]["authorizer"] = serde_json::json!({"iam": {
            "accessKey": "AKIAEXAMPLE", "accountId": "123456789012", "callerId": "AIDAEXAMPLE",
            "userArn": arn, "userId": "AIDAEXAMPLE"}});
    }
    value.to_string().into_bytes()
}

#[test]
fn gateway_verified_iam_principals_pass_only_when_allowed() {
    let allowed = "arn:aws:iam::123456789012:user/redox";
    let (api, _function, dir) = function_with("iam", &[("REDOX_ALLOWED_PRINCIPALS", allowed)]);
    let spool = dir.path().join("spool");

    let (status, response) = lambda_answer(&api.invoke(&iam_event(Some(allowed), false)));
    assert_eq!(status, 200, "{response}");
    assert_eq!(spooled(&spool), 1);

    let other = "arn:aws:iam::123456789012:user/someone-else";
    let (status, _) = lambda_answer(&api.invoke(&iam_event(Some(other), false)));
    assert_eq!(status, 401);
    // A header claiming the allowed principal counts for nothing.
    let (status, _) = lambda_answer(&api.invoke(&iam_event(None, true)));
    assert_eq!(status, 401);
    assert_eq!(spooled(&spool), 1, "a refused request was queued");
}
