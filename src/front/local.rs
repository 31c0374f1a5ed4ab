//! The local HTTP server: the same pipeline on a socket, for development.
//!
//! Turns each hyper request into an [`InboundRequest`] (the request target
//! exactly as received, headers in order), refuses oversized bodies before
//! reading them, answers a panic with a 500 and keeps serving, and shuts
//! down gracefully on Ctrl-C or SIGTERM. Each request is bounded by
//! `REDOX_REQUEST_TIMEOUT_MS` ([`Destination::handle`]).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::destination::{Destination, Refusal, log_internal_error};
use crate::front::guard::catch_panic;
use crate::inbound::{FrontDoor, InboundRequest, Origin};
use crate::response::HttpResponse;

/// Reads a hyper request into an [`InboundRequest`], or the refusal to send.
///
/// `local` is the address the connection arrived on: it is the server's
/// public base URL (`http://<local>`) for the built-in OAuth issuer's `auto`.
pub async fn read_request(
    request: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
    max_body_bytes: usize,
) -> Result<InboundRequest, Refusal> {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(size) = declared.filter(|size| *size > max_body_bytes) {
        return Err(Refusal::BodyTooLarge {
            size,
            limit: max_body_bytes,
        });
    }
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let value = std::str::from_utf8(value.as_bytes())
            .map_err(|_| Refusal::BadRequest(format!("the {name} header is not valid UTF-8")))?;
        headers.push((name.as_str().to_owned(), value.to_owned()));
    }
    // Limited reads one byte past the limit at most, then stops.
    let body: Bytes = match Limited::new(body, max_body_bytes).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            return Err(Refusal::BodyTooLarge {
                size: max_body_bytes + 1,
                limit: max_body_bytes,
            });
        }
        Err(error) => return Err(Refusal::BadRequest(format!("reading the body: {error}"))),
    };
    Ok(InboundRequest {
        method: parts.method.as_str().to_owned(),
        raw_path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body,
        origin: Origin {
            front_door: FrontDoor::LocalServer,
            verified_iam_principal: None,
            source_ip: Some(peer.ip().to_string()),
            public_base_url: Some(format!("http://{local}")),
        },
    })
}

fn to_hyper(response: HttpResponse) -> Response<Full<Bytes>> {
    let mut builder = Response::builder().status(response.status);
    for (name, value) in response.headers {
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(Bytes::from(response.body)))
        .unwrap_or_else(|_| {
            let mut fallback = Response::new(Full::new(Bytes::from_static(b"internal error")));
            *fallback.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
}

async fn serve_one(
    destination: Arc<Destination>,
    request: Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = std::time::Instant::now();
    let answered = catch_panic(async {
        match read_request(request, peer, local, destination.max_body_bytes).await {
            Ok(inbound) => destination.handle(inbound, SystemTime::now()).await,
            Err(refusal) => {
                tracing::warn!(outcome = refusal.code(), reason = %refusal, "request refused before reading");
                refusal.response()
            }
        }
    })
    .await;
    let response = answered.unwrap_or_else(|_| {
        log_internal_error(0, started.elapsed());
        Refusal::Internal.response()
    });
    Ok(to_hyper(response))
}

/// Waits for Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Serves until `shutdown` completes, then lets open requests finish (up
/// to ten seconds) so no message that was being queued is cut off.
pub async fn serve(
    listener: TcpListener,
    destination: Arc<Destination>,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(error) => {
                        tracing::warn!(%error, "accept failed");
                        continue;
                    }
                };
                let Ok(local) = stream.local_addr() else {
                    continue;
                };
                let destination = destination.clone();
                let service =
                    service_fn(move |request| serve_one(destination.clone(), request, peer, local));
                let connection = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                });
            }
            _ = &mut shutdown => break,
        }
    }
    tracing::info!("shutting down; waiting for open requests");
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => {
            tracing::warn!("open requests did not finish within 10 s");
        }
    }
    Ok(())
}
