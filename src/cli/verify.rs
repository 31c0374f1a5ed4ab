//! `redox-destination verify`: Redox's destination verification, run
//! against a URL before it is registered in Redox. Both handshake forms as
//! Redox sends them (SPEC 2: the POST JSON body, and the GET query), each
//! with a random UUID challenge; then what a safe destination must refuse:
//! a handshake with a wrong token, and a push without a credential.

use std::process::ExitCode;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method, Uri};

use super::credential::{Credential, Presenter, Secret};
use super::http::{Answer, HttpClient, Outgoing, TransportError, percent_encode};
use super::report::{millis, refusal};
use super::sample::patient_admin_arrival;
use crate::sink::new_message_id;

/// How a check came out: passed, and the line to print.
struct Outcome {
    passed: bool,
    line: String,
    details: Option<String>,
}

/// The URL with `?challenge=…&verification-token=…` added to its query.
fn handshake_url(url: &Uri, challenge: &str, token: &str) -> Result<Uri, String> {
    let added = format!(
        "challenge={}&verification-token={}",
        percent_encode(challenge),
        percent_encode(token)
    );
    let path_and_query = match url.query() {
        Some(query) if !query.is_empty() => format!("{}?{query}&{added}", url.path()),
        _ => format!("{}?{added}", url.path()),
    };
    let mut parts = url.clone().into_parts();
    parts.path_and_query = Some(
        path_and_query
            .parse()
            .map_err(|_| "the URL's path cannot carry a query".to_owned())?,
    );
    Uri::from_parts(parts).map_err(|e| e.to_string())
}

fn json_handshake(url: &Uri, challenge: &str, token: &str) -> Outgoing {
    let body = serde_json::json!({"verification-token": token, "challenge": challenge});
    Outgoing {
        method: Method::POST,
        url: url.clone(),
        headers: vec![(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body: Bytes::from(body.to_string()),
    }
}

/// A handshake must be answered 200 with exactly the challenge.
fn judge_handshake(name: &str, answer: &Answer, challenge: &str) -> Outcome {
    let exact = answer.status == 200 && answer.body.as_ref() == challenge.as_bytes();
    let verdict = if exact {
        "answer is exactly the challenge".to_owned()
    } else if answer.body_text().contains(challenge) {
        "answer contains the challenge but is not exactly it (Redox's older deliveries want \
         only the challenge)"
            .to_owned()
    } else {
        "answer is not the challenge".to_owned()
    };
    Outcome {
        passed: exact,
        line: format!(
            "{name}: {} in {}, {verdict}",
            answer.status,
            millis(answer.latency)
        ),
        details: (!exact).then(|| refusal(answer)),
    }
}

/// A request without the right credential must be refused with 401 (or
/// AWS's 403 in front of an `AWS_IAM` Function URL), never answered with
/// the challenge or queued.
fn judge_refusal(name: &str, answer: &Answer, challenge: Option<&str>) -> Outcome {
    let refused = matches!(answer.status, 401 | 403);
    let leaked = challenge.is_some_and(|c| answer.body_text().contains(c));
    let passed = refused && !leaked;
    let verdict = if passed {
        "refused as it must be".to_owned()
    } else if answer.is_success() {
        "ACCEPTED: the destination lets this through".to_owned()
    } else if leaked {
        "the answer echoes the challenge".to_owned()
    } else {
        "expected 401 (or 403 from AWS)".to_owned()
    };
    Outcome {
        passed,
        line: format!(
            "{name}: {} in {}, {verdict}",
            answer.status,
            millis(answer.latency)
        ),
        details: (!passed).then(|| refusal(answer)),
    }
}

fn print(outcome: &Outcome) {
    let mark = if outcome.passed { "ok  " } else { "FAIL" };
    println!("  [{mark}] {}", outcome.line);
    if let Some(details) = &outcome.details {
        println!("{details}");
    }
}

/// Runs every check; exit 0 only when all pass.
pub async fn run(client: &HttpClient, url: &Uri, token: &Secret) -> ExitCode {
    println!("verifying {url} as Redox does");
    let token = token.expose();
    let total = 4;
    let mut passed = 0;
    match checks(client, url, token, &mut passed).await {
        Ok(()) => {}
        Err(error) => {
            println!("  [FAIL] {error}");
            println!("  (the remaining checks were not run)");
        }
    }
    if passed == total {
        println!("verify: all {total} checks passed");
        ExitCode::SUCCESS
    } else {
        println!("verify: {passed} of {total} checks passed");
        ExitCode::FAILURE
    }
}

#[derive(Debug, thiserror::Error)]
enum CheckError {
    #[error("{0}")]
    Transport(#[from] TransportError),
    #[error("{0}")]
    Other(String),
}

async fn checks(
    client: &HttpClient,
    url: &Uri,
    token: &str,
    passed: &mut usize,
) -> Result<(), CheckError> {
    let mut tally = |outcome: Outcome| {
        print(&outcome);
        *passed += usize::from(outcome.passed);
    };

    let challenge = new_message_id();
    let answer = client.send(json_handshake(url, &challenge, token)).await?;
    tally(judge_handshake("POST handshake", &answer, &challenge));

    let challenge = new_message_id();
    let get_url = handshake_url(url, &challenge, token).map_err(CheckError::Other)?;
    let answer = client
        .send(Outgoing {
            method: Method::GET,
            url: get_url,
            headers: Vec::new(),
            body: Bytes::new(),
        })
        .await?;
    tally(judge_handshake("GET handshake", &answer, &challenge));

    let challenge = new_message_id();
    let wrong = format!("wrong-{}", new_message_id());
    let answer = client.send(json_handshake(url, &challenge, &wrong)).await?;
    tally(judge_refusal(
        "handshake with a wrong token",
        &answer,
        Some(&challenge),
    ));

    let body = patient_admin_arrival(std::time::SystemTime::now());
    let headers: Vec<(HeaderName, HeaderValue)> = Presenter::new(Credential::Nothing)
        .push_headers(client, url, "application/json", &body)
        .await
        .map_err(|e| CheckError::Other(e.to_string()))?;
    let answer = client
        .send(Outgoing {
            method: Method::POST,
            url: url.clone(),
            headers,
            body: Bytes::from(body),
        })
        .await?;
    tally(judge_refusal("push without a credential", &answer, None));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            headers: http::HeaderMap::new(),
            body: Bytes::copy_from_slice(body.as_bytes()),
            latency: Duration::from_millis(2),
        }
    }

    #[test]
    fn the_get_handshake_adds_both_parameters_to_the_query() {
        let url: Uri = "https://abc.lambda-url.us-east-1.on.aws/".parse().unwrap();
        let got = handshake_url(&url, "c-1", "tok+/=").unwrap();
        assert_eq!(
            got.to_string(),
            "https://abc.lambda-url.us-east-1.on.aws/?challenge=c-1&verification-token=tok%2B%2F%3D"
        );
        let url: Uri = "http://127.0.0.1:9000/lambda-url/f?x=1".parse().unwrap();
        let got = handshake_url(&url, "c", "t").unwrap();
        assert_eq!(
            got.to_string(),
            "http://127.0.0.1:9000/lambda-url/f?x=1&challenge=c&verification-token=t"
        );
    }

    #[test]
    fn only_exactly_the_challenge_passes_a_handshake() {
        assert!(judge_handshake("h", &answer(200, "abc"), "abc").passed);
        let contained = judge_handshake("h", &answer(200, "challenge: abc"), "abc");
        assert!(!contained.passed);
        assert!(contained.line.contains("contains the challenge"));
        assert!(!judge_handshake("h", &answer(401, "abc"), "abc").passed);
    }

    #[test]
    fn a_refusal_must_be_401_or_403_and_never_echo_the_challenge() {
        assert!(judge_refusal("r", &answer(401, "{}"), Some("abc")).passed);
        assert!(judge_refusal("r", &answer(403, "{}"), None).passed);
        let accepted = judge_refusal("r", &answer(200, "abc"), Some("abc"));
        assert!(!accepted.passed);
        assert!(accepted.line.contains("ACCEPTED"));
        assert!(!judge_refusal("r", &answer(401, "abc"), Some("abc")).passed);
        assert!(!judge_refusal("r", &answer(503, "{}"), None).passed);
    }
}
