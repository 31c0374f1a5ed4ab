//! Security properties of `Destination::handle` that one request cannot
//! show: refusal timing that does not depend on which key ids exist (counted
//! as auth material re-fetches, the slow part of a refusal), and the token
//! endpoint's failure throttle (per source address) and the client id its
//! tokens name.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use redox_destination::BoxFuture;
use redox_destination::auth::Authenticator;
use redox_destination::auth::jwt::trust::JwtTrust;
use redox_destination::auth::material::{
    AuthMaterialSource, Material, MaterialCache, MaterialError,
};
use redox_destination::auth::{AuthMethod, AuthPolicy};
use redox_destination::destination::Destination;
use redox_destination::inbound::{FrontDoor, InboundRequest, Origin};
use redox_destination::oauth::BuiltinIssuer;
use redox_destination::response::HttpResponse;
use redox_destination::sink::{QueuedMessage, Sink, SinkError};
use redox_destination::throttle::FailureLimits;
use serde_json::{Value, json};

const TOKEN: &str = "rdx-verif-security-tests-1";
const AKID: &str = "AKIDREDOXSECURITY1";
const HOST: &str = "abcdefghij.lambda-url.us-east-1.on.aws";
const BASE: &str = "https://abcdefghij.lambda-url.us-east-1.on.aws";
const CLIENT_SECRET: &str = "the-redox-client-secret";
const OTHER_SECRET: &str = "the-other-client-secret";
/// 2026-11-28T10:15:00Z
const NOW_SECS: u64 = 1_795_860_900;
const AMZ_DATE: &str = "20261128T101500Z";

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

/// Material from a fixed document, counting how often it is fetched; every
/// fetch after the first takes `refetch_delay`.
struct CountingSource {
    document: String,
    fetches: Arc<AtomicUsize>,
    refetch_delay: Duration,
}

impl AuthMaterialSource for CountingSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Material, MaterialError>> {
        Box::pin(async move {
            if self.fetches.fetch_add(1, Ordering::SeqCst) > 0 && !self.refetch_delay.is_zero() {
                tokio::time::sleep(self.refetch_delay).await;
            }
            Material::from_secret_text(&self.document)
        })
    }
    fn describe(&self) -> String {
        "counting test material".into()
    }
}

/// Nothing reaches the sink in these tests but accepted pushes.
struct AcceptingSink;

impl Sink for AcceptingSink {
    fn put<'a>(&'a self, _message: &'a QueuedMessage) -> BoxFuture<'a, Result<String, SinkError>> {
        Box::pin(async { Ok("message-1".to_owned()) })
    }
    fn describe(&self) -> String {
        "accepting sink".into()
    }
}

fn signing_key_pem() -> String {
    let pair = Ed25519KeyPair::generate().expect("ed25519 key");
    let der = pair.to_pkcs8v1().expect("pkcs8");
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(der.as_ref())
    )
}

fn document() -> String {
    json!({
        "verification_tokens": [TOKEN],
        "sigv4_keys": [{"access_key_id": AKID, "secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                        "region": "us-east-1", "service": "lambda"}],
        "oauth_clients": [{"client_id": "redox", "client_secret": CLIENT_SECRET},
                          {"client_id": "other", "client_secret": OTHER_SECRET}],
        "oauth_signing_keys": [{"kid": "k1", "private_key_pem": signing_key_pem()}],
    })
    .to_string()
}

struct Harness {
    destination: Destination,
    fetches: Arc<AtomicUsize>,
}

fn harness(limits: FailureLimits) -> Harness {
    harness_with_refetch_delay(limits, Duration::ZERO)
}

fn harness_with_refetch_delay(limits: FailureLimits, refetch_delay: Duration) -> Harness {
    let fetches = Arc::new(AtomicUsize::new(0));
    let source = CountingSource {
        document: document(),
        fetches: fetches.clone(),
        refetch_delay,
    };
    let builtin = BuiltinIssuer::new(BASE, Duration::from_secs(300)).with_failure_limits(limits);
    let material = MaterialCache::new(vec![Box::new(source)], Duration::from_secs(300))
        // Every refusal that may be stale re-fetches, so each one counts.
        .with_miss_refetch_interval(Duration::ZERO);
    Harness {
        destination: Destination {
            auth: Authenticator {
                material: Arc::new(material),
                trust: JwtTrust {
                    remote: None,
                    builtin: Some(builtin.base.clone()),
                    ..JwtTrust::default()
                },
                google: None,
                policy: AuthPolicy {
                    enabled: vec![AuthMethod::Token, AuthMethod::Sigv4, AuthMethod::Jwt],
                    allowed_principals: Vec::new(),
                    clock_skew: Duration::from_secs(300),
                },
            },
            issuer: Some(builtin),
            sink: Arc::new(AcceptingSink),
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(10),
        },
        fetches,
    }
}

fn request(path: &str, headers: &[(&str, &str)], body: &str) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        raw_path: path.into(),
        raw_query: String::new(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: Bytes::from(body.to_owned()),
        origin: Origin::new(FrontDoor::LocalServer),
    }
}

/// A well-formed SigV4 push for `access_key_id` with the given scope; its
/// signature is wrong, which does not matter: the key lookup and the scope
/// check come first.
fn sigv4_push(access_key_id: &str, region: &str) -> InboundRequest {
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={access_key_id}/20261128/{region}/lambda/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, Signature={}",
        "0".repeat(64)
    );
    request(
        "/",
        &[
            ("content-type", "application/json"),
            ("host", HOST),
            ("x-amz-date", AMZ_DATE),
            ("authorization", &authorization),
        ],
        r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival"}}"#,
    )
}

/// Source fetches caused by one request, after the cache was filled.
async fn refetches(harness: &Harness, request: InboundRequest) -> (u16, usize) {
    let before = harness.fetches.load(Ordering::SeqCst);
    let response = harness.destination.handle(request, now()).await;
    (
        response.status,
        harness.fetches.load(Ordering::SeqCst) - before,
    )
}

#[tokio::test]
async fn an_unknown_key_id_and_a_known_one_with_a_wrong_scope_cost_the_same_refetches() {
    let h = harness(FailureLimits::default());
    // Fill the cache first.
    let (status, _) = refetches(&h, sigv4_push("AKIDNOSUCHKEY", "us-east-1")).await;
    assert_eq!(status, 401);

    let unknown = refetches(&h, sigv4_push("AKIDNOSUCHKEY", "us-east-1")).await;
    let known_wrong_region = refetches(&h, sigv4_push(AKID, "eu-west-1")).await;
    let unknown_wrong_region = refetches(&h, sigv4_push("AKIDNOSUCHKEY", "eu-west-1")).await;
    let known_wrong_signature = refetches(&h, sigv4_push(AKID, "us-east-1")).await;
    assert_eq!(unknown, (401, 1));
    assert_eq!(known_wrong_region, unknown, "known id, wrong region");
    assert_eq!(unknown_wrong_region, unknown, "unknown id, wrong region");
    assert_eq!(known_wrong_signature, unknown, "known id, wrong signature");
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

fn token_request(authorization: &str) -> InboundRequest {
    request(
        "/oauth2/token",
        &[
            ("content-type", "application/x-www-form-urlencoded"),
            ("authorization", authorization),
        ],
        "grant_type=client_credentials",
    )
}

async fn ask_token(harness: &Harness, authorization: &str) -> HttpResponse {
    harness
        .destination
        .handle(token_request(authorization), now())
        .await
}

fn body(response: &HttpResponse) -> Value {
    serde_json::from_str(&response.body).expect("a JSON answer")
}

fn claims_of(response: &HttpResponse) -> Value {
    let token = body(response)["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned();
    let claims = token.split('.').nth(1).expect("three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64url")).expect("JSON")
}

#[tokio::test]
async fn an_unknown_client_and_a_wrong_secret_cost_the_same_refetches() {
    let h = harness(FailureLimits::default());
    let _ = ask_token(&h, &basic("nobody", "a-wrong-secret-guess")).await;
    let before = h.fetches.load(Ordering::SeqCst);
    let unknown = ask_token(&h, &basic("nobody", "a-wrong-secret-guess")).await;
    let after_unknown = h.fetches.load(Ordering::SeqCst);
    let wrong = ask_token(&h, &basic("redox", "a-wrong-secret-guess")).await;
    let after_wrong = h.fetches.load(Ordering::SeqCst);
    assert_eq!((unknown.status, wrong.status), (401, 401));
    assert_eq!(unknown.body, wrong.body);
    assert_eq!(after_unknown - before, after_wrong - after_unknown);
}

#[tokio::test]
async fn the_token_names_the_configured_client_not_the_spelling_sent() {
    let h = harness(FailureLimits::default());
    let issued = ask_token(&h, &basic("%6Fther", OTHER_SECRET)).await;
    assert_eq!(issued.status, 200, "{}", issued.body);
    let claims = claims_of(&issued);
    assert_eq!(claims["sub"], "other");
    assert_eq!(claims["client_id"], "other");
}

fn token_request_from(authorization: &str, source_ip: &str) -> InboundRequest {
    let mut request = token_request(authorization);
    request.origin.source_ip = Some(source_ip.to_owned());
    request
}

async fn ask_token_from(harness: &Harness, authorization: &str, source_ip: &str) -> HttpResponse {
    harness
        .destination
        .handle(token_request_from(authorization, source_ip), now())
        .await
}

const GUESSER: &str = "203.0.113.9";
const REDOX_ADDRESS: &str = "198.51.100.7";

#[tokio::test]
async fn wrong_guesses_past_the_limit_are_answered_429_to_their_address_only() {
    const LIMIT: u32 = 3;
    let h = harness(FailureLimits {
        per_address: LIMIT,
        ..FailureLimits::default()
    });
    for i in 0..LIMIT {
        let guess = basic("redox", &format!("wrong-guess-number-{i}"));
        assert_eq!(
            ask_token_from(&h, &guess, GUESSER).await.status,
            401,
            "guess {i}"
        );
    }
    let throttled = ask_token_from(&h, &basic("redox", "wrong-guess-number-x"), GUESSER).await;
    assert_eq!(throttled.status, 429);
    assert_eq!(body(&throttled)["error"], "slow_down");
    let retry_after: u64 = throttled
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    // One attempt comes back every 60 s / LIMIT.
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    // The right secret from the guessing address is refused too, or
    // guessing would go on behind the 429s.
    assert_eq!(
        ask_token_from(&h, &basic("redox", CLIENT_SECRET), GUESSER)
            .await
            .status,
        429
    );
    // Redox, from its own address, is not refused for the guesser's failures.
    assert_eq!(
        ask_token_from(&h, &basic("redox", CLIENT_SECRET), REDOX_ADDRESS)
            .await
            .status,
        200
    );
    // Once its allowance has come back the guessing address is served again.
    let later = h
        .destination
        .handle(
            token_request_from(&basic("redox", CLIENT_SECRET), GUESSER),
            now() + Duration::from_secs(retry_after),
        )
        .await;
    assert_eq!(later.status, 200);
}

#[tokio::test]
async fn a_spray_of_client_ids_from_one_address_is_held_to_its_allowance() {
    let h = harness(FailureLimits::default());
    let mut evaluated = 0u32;
    for i in 0..200 {
        let answer = ask_token_from(
            &h,
            &basic(&format!("sprayed-{i}"), "a-wrong-secret-guess"),
            GUESSER,
        )
        .await;
        match answer.status {
            401 => evaluated += 1,
            429 => {}
            other => panic!("spray {i}: {other}"),
        }
    }
    assert_eq!(evaluated, FailureLimits::DEFAULT_PER_ADDRESS);
    assert_eq!(
        ask_token_from(&h, &basic("redox", CLIENT_SECRET), REDOX_ADDRESS)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn malformed_token_requests_count_against_their_address() {
    let h = harness(FailureLimits {
        per_address: 2,
        ..FailureLimits::default()
    });
    let mut malformed = token_request_from(&basic("redox", CLIENT_SECRET), GUESSER);
    malformed.body = Bytes::from_static(b"grant_type=a&grant_type=b");
    for _ in 0..2 {
        assert_eq!(
            h.destination.handle(malformed.clone(), now()).await.status,
            400
        );
    }
    assert_eq!(h.destination.handle(malformed, now()).await.status, 429);
    assert_eq!(
        ask_token_from(&h, &basic("redox", CLIENT_SECRET), GUESSER)
            .await
            .status,
        429
    );
    // Successes cost nothing: a correct client asks as often as it likes.
    for _ in 0..20 {
        assert_eq!(
            ask_token_from(&h, &basic("redox", CLIENT_SECRET), REDOX_ADDRESS)
                .await
                .status,
            200
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_concurrent_guesses_during_a_refetch_get_no_more_than_the_limit_evaluated() {
    const REFETCH: Duration = Duration::from_millis(500);
    let h = Arc::new(harness_with_refetch_delay(
        FailureLimits::default(),
        REFETCH,
    ));
    // Fill the cache: every fetch after it (a re-fetch after a miss) is slow,
    // so the guesses below wait on one while they are being decided.
    let warm = ask_token_from(&h, &basic("redox", "a-wrong-secret-guess"), REDOX_ADDRESS).await;
    assert_eq!(warm.status, 401);
    let guesses: Vec<_> = (0..60)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move {
                let guess = basic("redox", &format!("wrong-secret-{i}"));
                ask_token_from(&h, &guess, GUESSER).await.status
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for guess in guesses {
        statuses.push(guess.await.expect("a guess task"));
    }
    let evaluated = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    let fetches = h.fetches.load(Ordering::SeqCst);
    eprintln!(
        "60 concurrent guesses during a {} ms re-fetch: {evaluated} evaluated, {throttled} \
         answered 429 ({fetches} fetches)",
        REFETCH.as_millis()
    );
    assert_eq!(evaluated + throttled, 60, "{statuses:?}");
    assert!(evaluated <= 10, "{evaluated} guesses evaluated");
    assert!(fetches >= 3, "a re-fetch was in flight during the guesses");
}
