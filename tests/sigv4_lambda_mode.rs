//! SigV4 through the Lambda front door: requests signed by curl, botocore
//! and aws-sigv4 for a Function URL host, wrapped in Function URL events as
//! Lambda delivers them, are answered 200 by the release binary and queued;
//! a copy with one body byte changed is answered 401 and queues nothing.

mod support;

use support::signers::{
    aws_sigv4_signed, botocore_signed, curl_signed, function_url_event_from_raw, material_json,
    with_one_body_byte_changed,
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
fn three_independent_signers_pass_through_function_url_events() {
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
