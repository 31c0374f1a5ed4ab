//! The command line's HTTP client: one request at a time to a destination
//! or a token endpoint, over the project's one TLS stack
//! ([`crate::auth::jwt::jwks::https_connector`]: hyper + rustls on aws-lc-rs, system
//! roots). It follows no redirect, bounds every exchange by a timeout and
//! the answer's size, and says plainly whether a failure was the
//! connection, TLS or the clock.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The largest answer read; a destination's answers are a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Checks a URL given on the command line: `http://` (local servers,
/// emulators) or `https://` (Function URLs, API Gateway), with a host.
pub fn parse_url(text: &str) -> Result<Uri, String> {
    let uri: Uri = text.parse().map_err(|_| format!("{text:?} is not a URL"))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    match uri.scheme_str() {
        Some("http" | "https") => Ok(uri),
        _ => Err(format!("{text:?} is not an http:// or https:// URL")),
    }
}

/// Whether `url` names this machine's loopback: `localhost`, an address in
/// 127.0.0.0/8, `[::1]` or its IPv4-mapped form. Anything else, names that
/// may resolve to loopback included, is taken as the network.
pub fn is_loopback(url: &Uri) -> bool {
    let host = url.host().unwrap_or_default();
    let host = host.strip_suffix('.').unwrap_or(host);
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    match bare.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(std::net::IpAddr::V6(v6)) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

/// A secret (or what a secret signs) about to cross plain HTTP to a host
/// other than this machine.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "refusing to send {what} over plain http:// to {host}: anyone on the way could read it. \
     Use https://, or give --allow-insecure-http to send it anyway (http:// to localhost, \
     127.0.0.0/8 and [::1] needs no flag)"
)]
pub struct InsecureHttp {
    pub what: &'static str,
    pub host: String,
}

/// `Err` when `what` would go to `url` over plain HTTP and off this machine.
pub fn check_secret_transport(url: &Uri, what: &'static str) -> Result<(), InsecureHttp> {
    if url.scheme_str() == Some("http") && !is_loopback(url) {
        return Err(InsecureHttp {
            what,
            host: url.host().unwrap_or_default().to_owned(),
        });
    }
    Ok(())
}

/// Percent-encodes everything but the unreserved characters (RFC 3986
/// 2.3): safe in a query, a form body and form-encoded Basic credentials.
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Why no answer came back. Each says what a user can act on.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot build the request: {0}")]
    Request(String),
    #[error("TLS failure talking to {url}: {detail}")]
    Tls { url: String, detail: String },
    #[error("connection error: cannot connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("no answer from {url} within {} s", .timeout.as_secs_f64())]
    Timeout { url: String, timeout: Duration },
    #[error("the exchange with {url} failed: {detail}")]
    Exchange { url: String, detail: String },
}

/// One answer, read in full.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// From sending the request to having read the whole answer.
    pub latency: Duration,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A request to send: method, URL, headers (besides `host`, which the
/// client writes from the URL unless given) and body.
pub struct Outgoing {
    pub method: Method,
    pub url: Uri,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// A client whose every exchange (connect, send, read) is bounded by
    /// `timeout`. Root certificates are loaded when `tls` is set.
    pub fn new(tls: bool, timeout: Duration) -> Result<HttpClient, String> {
        let connector = crate::auth::jwt::jwks::https_connector(tls, timeout)?;
        Ok(HttpClient {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    pub async fn send(&self, outgoing: Outgoing) -> Result<Answer, TransportError> {
        let url = outgoing.url.to_string();
        let mut request = http::Request::builder()
            .method(outgoing.method)
            .uri(outgoing.url)
            .body(Full::new(outgoing.body))
            .map_err(|e| TransportError::Request(e.to_string()))?;
        let headers = request.headers_mut();
        for (name, value) in outgoing.headers {
            headers.append(name, value);
        }
        headers
            .entry(http::header::USER_AGENT)
            .or_insert(HeaderValue::from_static("redox-destination-cli"));
        let started = Instant::now();
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| classify(&url, &e))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| TransportError::Exchange {
                    url: url.clone(),
                    detail: format!("reading the answer: {e}"),
                })?
                .to_bytes();
            Ok(Answer {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body,
                latency: started.elapsed(),
            })
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| TransportError::Timeout {
                url: url.clone(),
                timeout: self.timeout,
            })?
    }
}

/// Names a client error by its cause: a rustls error anywhere in the chain
/// is TLS; otherwise a failure to connect is the connection.
fn classify(url: &str, error: &hyper_util::client::legacy::Error) -> TransportError {
    let mut detail = error.to_string();
    let mut tls = false;
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(cause) = source {
        detail = cause.to_string();
        if is_tls_error(cause) {
            tls = true;
        }
        source = cause.source();
    }
    let url = url.to_owned();
    if tls {
        TransportError::Tls { url, detail }
    } else if error.is_connect() {
        TransportError::Connect { url, detail }
    } else {
        TransportError::Exchange { url, detail }
    }
}

/// A rustls error, possibly inside `io::Error`s (the TLS stream wraps it,
/// and the connector wraps that again; `io::Error::source` skips them).
fn is_tls_error(error: &(dyn std::error::Error + 'static)) -> bool {
    if error.is::<rustls::Error>() {
        return true;
    }
    match error
        .downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
    {
        Some(inner) => is_tls_error(inner),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn only_this_machine_counts_as_loopback() {
        for url in [
            "http://localhost/",
            "http://LOCALHOST:8080/x",
            "http://localhost./",
            "http://127.0.0.1:9000/",
            "http://127.9.8.7/",
            "http://[::1]:8080/",
            "http://[::ffff:127.0.0.1]/",
        ] {
            assert!(is_loopback(&url.parse().unwrap()), "{url}");
        }
        for url in [
            "http://example.com/",
            "http://localhost.example.com/",
            "http://127.0.0.1.nip.io/",
            "http://0.0.0.0/",
            "http://10.0.0.1/",
            "http://192.0.2.2:8080/",
            "http://[::]/",
            "http://[fe80::1]/",
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            assert!(!is_loopback(&url.parse().unwrap()), "{url}");
        }
    }

    #[test]
    fn secrets_cross_plain_http_only_to_this_machine() {
        let check = |url: &str| check_secret_transport(&url.parse().unwrap(), "the token");
        assert_eq!(check("https://abc.lambda-url.us-east-1.on.aws/"), Ok(()));
        assert_eq!(check("https://192.0.2.2/"), Ok(()));
        assert_eq!(check("http://127.0.0.1:8080/"), Ok(()));
        let refused = check("http://abc.lambda-url.us-east-1.on.aws/").unwrap_err();
        assert_eq!(refused.host, "abc.lambda-url.us-east-1.on.aws");
        let text = refused.to_string();
        assert!(
            text.contains("the token") && text.contains("--allow-insecure-http"),
            "{text}"
        );
    }

    #[test]
    fn only_http_and_https_urls_with_a_host_are_taken() {
        for good in [
            "http://127.0.0.1:8080/",
            "https://abc.lambda-url.us-east-1.on.aws/",
            "http://localhost:9000/lambda-url/redox-destination/",
        ] {
            assert!(parse_url(good).is_ok(), "{good}");
        }
        for bad in ["ftp://example.com/", "example.com", "/path", "", "http://"] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("a-Z_0.9~"), "a-Z_0.9~");
        assert_eq!(
            percent_encode("s3cret+with/odd=chars é"),
            "s3cret%2Bwith%2Fodd%3Dchars%20%C3%A9"
        );
    }

    async fn listener() -> (tokio::net::TcpListener, u16) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        (listener, port)
    }

    async fn failed_get(client: &HttpClient, scheme: &str, port: u16) -> TransportError {
        client
            .send(Outgoing {
                method: Method::GET,
                url: parse_url(&format!("{scheme}://127.0.0.1:{port}/")).unwrap(),
                headers: Vec::new(),
                body: Bytes::new(),
            })
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connection_error() {
        let (listener, port) = listener().await;
        drop(listener);
        let client = HttpClient::new(false, Duration::from_secs(5)).unwrap();
        let error = failed_get(&client, "http", port).await;
        assert!(matches!(error, TransportError::Connect { .. }), "{error}");
        assert!(error.to_string().starts_with("connection error"), "{error}");
    }

    #[tokio::test]
    async fn https_to_a_server_that_is_not_tls_is_a_tls_failure() {
        let (listener, port) = listener().await;
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        let client = HttpClient::new(true, Duration::from_secs(5)).unwrap();
        let error = failed_get(&client, "https", port).await;
        assert!(matches!(error, TransportError::Tls { .. }), "{error}");
        assert!(error.to_string().starts_with("TLS failure"), "{error}");
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_a_timeout() {
        let (listener, port) = listener().await;
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let client = HttpClient::new(false, Duration::from_millis(300)).unwrap();
        let error = failed_get(&client, "http", port).await;
        assert!(matches!(error, TransportError::Timeout { .. }), "{error}");
        hold.abort();
    }
}
