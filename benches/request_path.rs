//! The request path without I/O: Lambda event parsing, token check and
//! Redox classification, for a 2 KB and a 1 MB Data Model message.

use std::time::SystemTime;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use redox_destination::auth::material::AuthMaterial;
use redox_destination::auth::{AuthMethod, AuthPolicy, authenticate};
use redox_destination::front::lambda_event::parse_event;
use redox_destination::redox::classify;

const TOKEN: &str = "bench-verification-token-0123456789abcdef";

/// A Redox PatientAdmin message padded with notes to about `size` bytes.
fn message(size: usize) -> String {
    let head = r#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival","EventDateTime":"2026-11-28T10:00:00.000Z","Test":true,"Source":{"ID":"7ce6f387-c33c-417d-8682-81e83628cbd9","Name":"Redox Dev Tools"},"Destinations":[{"ID":"af394f14-b34a-464f-8d24-895f370af4c9","Name":"Redox EMR"}],"Logs":[{"ID":"d9f5d293-7110-461e-a875-3beb089e79f3","AttemptID":"925d1617-2fe0-468c-a14c-f8c04b572c54"}],"FacilityCode":null},"Patient":{"Identifiers":[{"ID":"0000000001","IDType":"MR"}],"Demographics":{"FirstName":"Timothy","LastName":"Bixby","DOB":"2008-01-06","Sex":"Male"},"Notes":["#;
    let mut body = String::with_capacity(size + 64);
    body.push_str(head);
    let note = r#""Patient arrived for a scheduled visit; vitals recorded and reviewed by the attending clinician.","#;
    while body.len() + note.len() + 4 < size {
        body.push_str(note);
    }
    body.push_str(r#""end"]}}"#);
    body
}

fn event(body: &str) -> String {
    serde_json::json!({
        "version": "2.0", "routeKey": "$default", "rawPath": "/", "rawQueryString": "",
        "headers": {"content-type": "application/json", "verification-token": TOKEN,
                    "authorization": format!("Bearer {TOKEN}"), "host": "abc.lambda-url.us-east-1.on.aws"},
        "requestContext": {"domainName": "abc.lambda-url.us-east-1.on.aws",
                           "http": {"method": "POST", "path": "/", "sourceIp": "198.51.100.7"}},
        "body": body, "isBase64Encoded": false
    })
    .to_string()
}

fn request_path(c: &mut Criterion) {
    let mut material = AuthMaterial::from_token_list("previous-token").unwrap();
    material.add_token(TOKEN).unwrap();
    let policy = AuthPolicy {
        enabled: vec![AuthMethod::Token],
        allowed_principals: vec![],
        clock_skew: std::time::Duration::from_secs(300),
    };
    let now = SystemTime::now();
    let mut group = c.benchmark_group("request_path");
    for (label, size) in [("2KB", 2 * 1024), ("1MB", 1024 * 1024)] {
        let event = event(&message(size));
        group.throughput(Throughput::Bytes(event.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("parse_auth_classify", label),
            &event,
            |b, event| {
                b.iter(|| {
                    let request = parse_event(event).unwrap();
                    let method = authenticate(&request, &material, &policy, now).unwrap();
                    (method, classify(&request))
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, request_path);
criterion_main!(benches);
