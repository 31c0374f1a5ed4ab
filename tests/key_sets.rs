//! Remote key sets under a slow key host (issue 26, finding 3): the
//! destination with a remote JWT issuer whose JWKS is served over loopback
//! HTTP by a host that can be made to hang (accept, read the request, never
//! answer). Cached keys must keep serving at once; only a `kid` the cache
//! has never seen may wait, and then gets 503 within the request's
//! deadline; with nothing cached the answer is 503, never a hang.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use redox_destination::BoxFuture;
use redox_destination::auth::jwt::jwks::{HttpsJwks, JwksCache};
use redox_destination::auth::jwt::trust::{JwtSettings, JwtTrust, RemoteIssuer};
use redox_destination::auth::material::{AuthMaterial, MaterialCache, StaticMaterial};
use redox_destination::auth::{AuthMethod, AuthPolicy, Authenticator};
use redox_destination::destination::Destination;
use redox_destination::inbound::{FrontDoor, InboundRequest, Origin};
use redox_destination::response::HttpResponse;
use redox_destination::sink::{QueuedMessage, Sink, SinkError};
use serde_json::{Value, json};

const ISSUER: &str = "https://idp.example.com/oauth2/default";
const AUDIENCE: &str = "api://redox-destination";
/// The bound on one JWKS fetch (`REDOX_AWS_TIMEOUT_MS`'s default).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The request's deadline here: shorter than a fetch, so a request that
/// waited for a hanging host would run out of it.
const DEADLINE: Duration = Duration::from_secs(3);

/// A JWKS host on 127.0.0.1 that answers until told to hang, counting the
/// connections it accepted.
struct KeyHost {
    port: u16,
    hanging: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
}

impl KeyHost {
    fn start(document: Value) -> KeyHost {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind key host");
        let port = listener.local_addr().expect("addr").port();
        let hanging = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (hang, count) = (hanging.clone(), connections.clone());
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                let mut head = [0u8; 4096];
                let _ = stream.read(&mut head);
                if hang.load(Ordering::SeqCst) {
                    // Keep the connection open, answer nothing.
                    held.lock().expect("held").push(stream);
                    continue;
                }
                let body = document.to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        KeyHost {
            port,
            hanging,
            connections,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks.json", self.port)
    }

    fn hang(&self) {
        self.hanging.store(true, Ordering::SeqCst);
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

struct AcceptingSink;

impl Sink for AcceptingSink {
    fn put<'a>(&'a self, _message: &'a QueuedMessage) -> BoxFuture<'a, Result<String, SinkError>> {
        Box::pin(async { Ok("message-1".to_owned()) })
    }
    fn describe(&self) -> String {
        "accepting sink".into()
    }
}

struct Issuer {
    keys: Vec<(String, Ed25519KeyPair)>,
}

impl Issuer {
    fn new(kids: &[&str]) -> Issuer {
        Issuer {
            keys: kids
                .iter()
                .map(|kid| {
                    (
                        kid.to_string(),
                        Ed25519KeyPair::generate().expect("ed25519"),
                    )
                })
                .collect(),
        }
    }

    /// The JWKS with the keys of `kids`.
    fn jwks(&self, kids: &[&str]) -> Value {
        let keys: Vec<Value> = self
            .keys
            .iter()
            .filter(|(kid, _)| kids.contains(&kid.as_str()))
            .map(|(kid, pair)| {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": kid,
                       "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref())})
            })
            .collect();
        json!({ "keys": keys })
    }

    fn token(&self, kid: &str) -> String {
        let (_, pair) = self
            .keys
            .iter()
            .find(|(k, _)| k == kid)
            .expect("a key of this issuer");
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        let header = json!({"alg": "EdDSA", "kid": kid, "typ": "JWT"});
        let claims = json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "redox", "exp": now + 300});
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = URL_SAFE_NO_PAD.encode(pair.sign(signed.as_bytes()).as_ref());
        format!("{signed}.{signature}")
    }
}

fn destination(host: &KeyHost, ttl: Duration) -> Destination {
    let source = HttpsJwks::new(&host.url(), FETCH_TIMEOUT).expect("key host URL");
    let material = AuthMaterial::from_token_list("rdx-verif-key-sets-1").expect("token");
    Destination {
        auth: Authenticator {
            material: Arc::new(MaterialCache::new(
                vec![Box::new(StaticMaterial::new(material, "test"))],
                Duration::from_secs(300),
            )),
            trust: JwtTrust {
                remote: Some(RemoteIssuer {
                    settings: JwtSettings {
                        issuer: ISSUER.into(),
                        audiences: vec![AUDIENCE.into()],
                        ..JwtSettings::default()
                    },
                    jwks: JwksCache::new(Box::new(source), ttl),
                }),
                ..JwtTrust::default()
            },
            google: None,
            policy: AuthPolicy {
                enabled: vec![AuthMethod::Token, AuthMethod::Jwt],
                allowed_principals: Vec::new(),
                clock_skew: Duration::from_secs(300),
            },
        },
        issuer: None,
        sink: Arc::new(AcceptingSink),
        max_body_bytes: 64 * 1024,
        request_timeout: DEADLINE,
    }
}

fn push(bearer: &str) -> InboundRequest {
    InboundRequest {
        method: "POST".into(),
        raw_path: "/".into(),
        raw_query: String::new(),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("authorization".into(), format!("Bearer {bearer}")),
        ],
        body: Bytes::from_static(br#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival"}}"#),
        origin: Origin::new(FrontDoor::LocalServer),
    }
}

async fn timed(destination: &Destination, bearer: &str) -> (HttpResponse, Duration) {
    let started = Instant::now();
    let response = destination.handle(push(bearer), SystemTime::now()).await;
    (response, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_key_host_never_stalls_pushes_whose_kid_is_cached() {
    let issuer = Issuer::new(&["2026-11", "2026-12"]);
    let host = KeyHost::start(issuer.jwks(&["2026-11"]));
    let destination = destination(&host, Duration::from_secs(1));
    let token = issuer.token("2026-11");

    let (first, _) = timed(&destination, &token).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(host.connections(), 1);

    // The key host hangs, and the cached set grows old (also past any
    // back-off counted from the first fetch).
    host.hang();
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let mut slowest = Duration::ZERO;
    for i in 0..50 {
        let (answer, took) = timed(&destination, &token).await;
        assert_eq!(answer.status, 200, "push {i}: {:?}", answer.body);
        assert!(took < Duration::from_secs(1), "push {i} took {took:?}");
        slowest = slowest.max(took);
    }
    eprintln!(
        "50 pushes past the TTL with the key host hanging: slowest {slowest:?}; key host connections {}",
        host.connections()
    );
    // One background refresh hangs; nobody started another meanwhile.
    assert_eq!(host.connections(), 2);

    // A kid the cache has never seen may wait, but only within the deadline.
    let (answer, took) = timed(&destination, &issuer.token("2026-12")).await;
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert!(
        answer
            .headers
            .iter()
            .any(|(name, _)| name.eq_ignore_ascii_case("retry-after")),
        "{:?}",
        answer.headers
    );
    assert!(took <= DEADLINE + Duration::from_millis(500), "{took:?}");
    eprintln!("a new kid during the hang: 503 after {took:?}");

    // And pushes with the cached kid still do not wait behind it.
    let (answer, took) = timed(&destination, &token).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_nothing_cached_a_hanging_key_host_gives_503_within_the_deadline_then_at_once() {
    let issuer = Issuer::new(&["2026-11"]);
    let host = KeyHost::start(issuer.jwks(&["2026-11"]));
    host.hang();
    let destination = destination(&host, Duration::from_secs(3600));
    let token = issuer.token("2026-11");

    let (answer, took) = timed(&destination, &token).await;
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert!(took <= DEADLINE + Duration::from_millis(500), "{took:?}");
    // The fetch ends at its own timeout; during the back-off that follows,
    // pushes are answered 503 at once, without another connection.
    tokio::time::sleep(FETCH_TIMEOUT - DEADLINE + Duration::from_millis(200)).await;
    let before = host.connections();
    for _ in 0..10 {
        let (answer, took) = timed(&destination, &token).await;
        assert_eq!(answer.status, 503, "{:?}", answer.body);
        assert!(took < Duration::from_millis(100), "{took:?}");
    }
    assert_eq!(host.connections(), before);
}
