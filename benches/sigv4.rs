//! What SigV4 verification costs per request, next to the floor it cannot go
//! below: one SHA-256 pass over the body (the verifier hashes the body
//! itself, because real signers send no `x-amz-content-sha256`).
//!
//! Run with `cargo bench --bench sigv4`.

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use redox_destination::auth::material::SigV4Key;
use redox_destination::auth::sigv4::verify_sigv4;
use redox_destination::inbound::{FrontDoor, InboundRequest, Origin};
use sha2::{Digest, Sha256};

const HOST: &str = "abcdefghij.lambda-url.us-east-1.on.aws";
const TARGET_PATH: &str = "/redox/a%20b";
const TARGET_QUERY: &str = "zeta=last&alpha=first";
const SIZES: [(&str, usize); 3] = [("1KB", 1024), ("100KB", 100 * 1024), ("1MB", 1024 * 1024)];

fn key() -> SigV4Key {
    SigV4Key {
        access_key_id: "AKIDREDOXBENCH".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYredoxBENCH".into(),
        region: "us-east-1".into(),
        service: "lambda".into(),
        session_token: None,
    }
}

/// A JSON-looking body of exactly `size` bytes.
fn body(size: usize) -> Vec<u8> {
    let mut body =
        br#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival"},"Data":""#.to_vec();
    body.resize(size.saturating_sub(2), b'x');
    body.extend_from_slice(b"\"}");
    body
}

fn signed_request(key: &SigV4Key, body: &[u8], at: SystemTime) -> InboundRequest {
    let credentials = Credentials::new(
        key.access_key_id.clone(),
        key.secret_access_key.clone(),
        None,
        None,
        "bench",
    );
    let identity = credentials.into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&key.region)
        .name(&key.service)
        .time(at)
        .settings(SigningSettings::default())
        .build()
        .expect("signing params")
        .into();
    let signable = SignableRequest::new(
        "POST",
        format!("https://{HOST}{TARGET_PATH}?{TARGET_QUERY}"),
        [("content-type", "application/json")].into_iter(),
        SignableBody::Bytes(body),
    )
    .expect("signable request");
    let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
    let mut headers = vec![
        ("content-type".to_owned(), "application/json".to_owned()),
        ("host".to_owned(), HOST.to_owned()),
        ("user-agent".to_owned(), "Redox".to_owned()),
        ("x-amzn-trace-id".to_owned(), "Root=1-bench".to_owned()),
    ];
    headers.extend(
        instructions
            .headers()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned())),
    );
    InboundRequest {
        method: "POST".into(),
        raw_path: TARGET_PATH.into(),
        raw_query: TARGET_QUERY.into(),
        headers,
        body: Bytes::copy_from_slice(body),
        origin: Origin::new(FrontDoor::FunctionUrl),
    }
}

fn bench_verification(c: &mut Criterion) {
    let keys = [key()];
    let at = SystemTime::now();
    let skew = Duration::from_secs(300);

    let mut verify = c.benchmark_group("verify_sigv4");
    for (label, size) in SIZES {
        let request = signed_request(&keys[0], &body(size), at);
        assert!(verify_sigv4(&request, &keys, at, skew).is_ok());
        verify.throughput(Throughput::Bytes(size as u64));
        verify.bench_with_input(
            BenchmarkId::from_parameter(label),
            &request,
            |b, request| b.iter(|| verify_sigv4(black_box(request), &keys, at, skew)),
        );
    }
    verify.finish();

    let mut baseline = c.benchmark_group("sha256_body");
    for (label, size) in SIZES {
        let body = body(size);
        baseline.throughput(Throughput::Bytes(size as u64));
        baseline.bench_with_input(BenchmarkId::from_parameter(label), &body, |b, body| {
            b.iter(|| Sha256::digest(black_box(body)))
        });
    }
    baseline.finish();
}

criterion_group!(benches, bench_verification);
criterion_main!(benches);
