//! The JWKS edge: reads an identity provider's JSON Web Key Set over HTTPS.
//!
//! [`HttpsJwks`] is the [`JwksSource`] built once at start-up on the one TLS
//! stack the project has (hyper + rustls on aws-lc-rs, as the AWS SDK uses),
//! with the system's root certificates. It follows no redirect, bounds the
//! time and the size of the answer, and takes plain `http://` only for a
//! loopback host (tests serve a JWKS locally). Caching is
//! [`super::cache::JwksCache`]'s job. The bounded GET under it,
//! [`BoundedGet`], also serves the `google` method's token-info calls.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Uri;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::{ConfigBuilderExt, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::source::{JwksError, JwksSource};
use crate::BoxFuture;
use crate::auth::jwt::jwk::KeySet;

/// The largest JWKS document read; real ones are a few kilobytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

/// Checks a URL this function fetches from or names itself by: `https://`,
/// or `http://` on a loopback host (`127.0.0.1`, `localhost`, `[::1]`) for tests.
pub fn check_url(text: &str) -> Result<Uri, String> {
    let uri: Uri = text.parse().map_err(|_| format!("{text:?} is not a URL"))?;
    let host = uri.host().ok_or_else(|| format!("{text:?} has no host"))?;
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if matches!(host, "127.0.0.1" | "localhost" | "[::1]") => Ok(uri),
        Some("http") => Err(format!(
            "{text:?} is plain http; use https (http is allowed only for 127.0.0.1 and localhost)"
        )),
        _ => Err(format!("{text:?} is not an https:// URL")),
    }
}

/// The connector of the project's one TLS stack (rustls on aws-lc-rs, as the
/// AWS SDK uses): `https://` and `http://`, HTTP/1.1. The system's root
/// certificates are loaded only when `with_roots` (a plain-http client skips
/// the cost); connecting gives up after `connect_timeout`.
pub fn https_connector(
    with_roots: bool,
    connect_timeout: Duration,
) -> Result<HttpsConnector<HttpConnector>, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let tls = if with_roots {
        builder
            .with_native_roots()
            .map_err(|e| format!("no system root certificates for TLS: {e}"))?
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    Ok(HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

/// One bounded GET on the project's TLS stack: no redirect followed, the
/// answer's body read up to a bound, the whole exchange within a timeout.
/// Used for every outside call that is not AWS (a JWKS, Google's
/// token-info).
pub struct BoundedGet {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    timeout: Duration,
}

impl BoundedGet {
    /// A client for `url`'s scheme (root certificates only for `https://`);
    /// every exchange is bounded by `timeout`.
    pub fn new(url: &Uri, timeout: Duration) -> Result<BoundedGet, String> {
        let connector = https_connector(url.scheme_str() == Some("https"), timeout)?;
        Ok(BoundedGet {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        })
    }

    /// GETs `target` and reads at most `max_bytes` of the answer. Errors
    /// name the endpoint by `name`, never by `target`, which may carry a
    /// credential in its query.
    pub async fn get(
        &self,
        target: Uri,
        name: &Uri,
        max_bytes: usize,
    ) -> Result<(http::StatusCode, Bytes), String> {
        let request = http::Request::get(target)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::USER_AGENT, "redox-destination")
            .body(Empty::<Bytes>::new())
            .map_err(|_| format!("{name}: the request could not be made"))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|e| format!("{name}: {e}"))?;
            let status = response.status();
            let body = Limited::new(response.into_body(), max_bytes)
                .collect()
                .await
                .map_err(|e| format!("{name}: reading the body: {e}"))?
                .to_bytes();
            Ok((status, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| format!("{name} did not answer within {:?}", self.timeout))?
    }
}

/// A JWKS read over HTTPS.
pub struct HttpsJwks {
    url: Uri,
    get: BoundedGet,
}

impl HttpsJwks {
    /// A source for `url` (checked with [`check_url`]); every fetch is
    /// bounded by `timeout`.
    pub fn new(url: &str, timeout: Duration) -> Result<HttpsJwks, String> {
        let url = check_url(url)?;
        let get = BoundedGet::new(&url, timeout)?;
        Ok(HttpsJwks { url, get })
    }

    async fn fetch_keys(&self) -> Result<KeySet, JwksError> {
        let (status, body) = self
            .get
            .get(self.url.clone(), &self.url, MAX_JWKS_BYTES)
            .await
            .map_err(JwksError::Unreachable)?;
        if status != http::StatusCode::OK {
            return Err(JwksError::Unreachable(format!(
                "{} answered HTTP {}",
                self.url,
                status.as_u16()
            )));
        }
        Ok(KeySet::from_jwks_json(&body)?)
    }
}

impl JwksSource for HttpsJwks {
    fn fetch(&self) -> BoxFuture<'_, Result<KeySet, JwksError>> {
        Box::pin(self.fetch_keys())
    }

    fn describe(&self) -> String {
        format!("JWKS {}", self.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn only_https_or_loopback_http_urls_are_taken() {
        for good in [
            "https://cognito-idp.us-east-1.amazonaws.com/pool/.well-known/jwks.json",
            "http://127.0.0.1:8081/jwks.json",
            "http://localhost/jwks",
            "http://[::1]:9000/jwks",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://example.com/jwks.json",
            "http://127.0.0.2/jwks.json",
            "http://localhost.example.com/jwks",
            "ftp://example.com/jwks",
            "jwks.json",
            "",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    /// Serves one canned HTTP answer per connection.
    async fn serve(answer: &'static str) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/jwks.json",
            listener.local_addr().unwrap().port()
        );
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(answer.as_bytes()).await;
            }
        });
        url
    }

    #[tokio::test]
    async fn a_local_jwks_is_fetched_and_errors_are_reported() {
        let ok = serve(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n\
             {\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"kid\":\"a\",\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}]}",
        )
        .await;
        let keys = HttpsJwks::new(&ok, Duration::from_secs(5))
            .unwrap()
            .fetch()
            .await
            .unwrap();
        assert!(keys.find(Some("a")).is_some());

        let redirect = serve(
            "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:1/\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await;
        let error = HttpsJwks::new(&redirect, Duration::from_secs(5))
            .unwrap()
            .fetch()
            .await
            .unwrap_err();
        assert!(
            matches!(error, JwksError::Unreachable(ref why) if why.contains("302")),
            "{error}"
        );

        let not_json =
            serve("HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello").await;
        let error = HttpsJwks::new(&not_json, Duration::from_secs(5))
            .unwrap()
            .fetch()
            .await
            .unwrap_err();
        assert!(matches!(error, JwksError::Invalid(_)), "{error}");
    }
}
