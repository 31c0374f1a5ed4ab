//! One HTTP request on a server-mode connection: `/healthz`, or the
//! request read into an [`InboundRequest`] and handed to the destination.
//!
//! The request's deadline counts from its first byte on the socket (the
//! connection's clock), so it covers reading the body: a body that stalls
//! is answered 408 at the deadline, not held forever. A body is read into
//! one buffer sized from `Content-Length` (no chunk list, no second copy),
//! after its size is reserved in the memory budget; a chunked body grows
//! its buffer and its reservation together. A request refused before its
//! body was read closes the connection; the rest of its body is read and
//! discarded for a few seconds first (unless the client waits for `100
//! Continue`), so a client still sending reads the answer, not a reset.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::time::Instant;

use super::budget::{BodyBudget, Reservation};
use super::connection::{ConnectionClock, DrainSignal, RequestInProgress};
use super::forwarded::client_address;
use super::health::{HEALTH_PATH, health_answer};
use crate::destination::{Destination, Refusal, RequestRecord, log_internal_error, log_refused};
use crate::front::guard::catch_panic;
use crate::inbound::{FrontDoor, InboundRequest, Origin};
use crate::response::HttpResponse;

/// How long a body may wait for room in the memory budget (within its
/// deadline) before it is refused with 503: long enough for a large push
/// in flight to reach S3, short enough that the client is not left
/// wondering.
pub const MEMORY_WAIT: Duration = Duration::from_secs(5);

/// How long the rest of a refused body is read and discarded at most.
pub const LINGER: Duration = Duration::from_secs(5);

/// What every request on every connection shares.
pub struct RequestContext {
    pub destination: Arc<Destination>,
    pub budget: BodyBudget,
    pub behind_alb: bool,
    pub drain: Arc<DrainSignal>,
}

/// The connection a request arrived on.
#[derive(Clone, Copy)]
pub struct Arrival {
    pub peer: SocketAddr,
    pub local: SocketAddr,
}

/// hyper's service: answers one request; never fails.
pub async fn answer(
    context: Arc<RequestContext>,
    clock: Arc<ConnectionClock>,
    arrival: Arrival,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let first_byte = clock.request_started(started);
    let mut in_progress = Some(RequestInProgress(clock));
    let deadline = first_byte + context.destination.request_timeout;
    if request.uri().path() == HEALTH_PATH {
        let draining = context.drain.started().is_some();
        return Ok(to_hyper(health_answer(request.method().as_str(), draining)));
    }
    let answered = catch_panic(async {
        match read_request(request, &context, arrival, deadline).await {
            Ok((inbound, reservation)) => {
                let response = context
                    .destination
                    .handle_until(inbound, SystemTime::now(), deadline)
                    .await;
                // The body's memory is free once its answer is decided.
                drop(reservation);
                response
            }
            Err(Refused {
                refusal,
                record,
                unread,
            }) => {
                log_refused(&refusal, &record, started.elapsed());
                if let Some(body) = unread {
                    // The connection is busy until the discarding ends.
                    tokio::spawn(discard_rest(body, in_progress.take()));
                }
                // The rest of the body was not read: the connection cannot
                // carry another request, so say it closes.
                refusal.response().with_header("connection", "close")
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

/// A request refused before the destination saw it.
struct Refused {
    refusal: Refusal,
    /// What is known of the request, for its log line.
    record: RequestRecord,
    /// The body's unread rest, to discard before the connection closes.
    unread: Option<Incoming>,
}

/// Reads and discards the rest of a refused body for at most [`LINGER`],
/// holding its connection busy meanwhile.
async fn discard_rest(mut body: Incoming, in_progress: Option<RequestInProgress>) {
    let discard = async { while let Some(Ok(_)) = body.frame().await {} };
    let _ = tokio::time::timeout(LINGER, discard).await;
    drop(in_progress);
}

/// Reads a hyper request into an [`InboundRequest`] and the memory its
/// body holds, or the refusal to send (with what is known for its log).
async fn read_request(
    request: Request<Incoming>,
    context: &RequestContext,
    arrival: Arrival,
    deadline: Instant,
) -> Result<(InboundRequest, Reservation), Refused> {
    let (parts, mut body) = request.into_parts();
    // A client that asked for `100 Continue` has not been invited to send
    // its body (hyper sends that once the body is read), and discarding it
    // would invite it; any other client is sending it already, and is left
    // to finish (see LINGER).
    let sending_body = parts
        .headers
        .get(hyper::header::EXPECT)
        .is_none_or(|expect| !expect.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let client = client_address(
        arrival.peer.ip(),
        context.behind_alb,
        parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| value.as_bytes()),
    );
    let mut record = RequestRecord {
        source_ip: Some(client.ip.to_string()),
        source_ip_from: Some(client.source.as_str()),
        ..RequestRecord::default()
    };
    let max_body_bytes = context.destination.max_body_bytes;
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    record.body_bytes = declared.unwrap_or(0);
    let refused = |refusal: Refusal, record: RequestRecord, body: Incoming| {
        let lingers = sending_body && !matches!(refusal, Refusal::BodyTimeout { .. });
        Refused {
            refusal,
            record,
            unread: lingers.then_some(body),
        }
    };
    if let Some(size) = declared.filter(|size| *size > max_body_bytes) {
        let refusal = Refusal::BodyTooLarge {
            size,
            limit: max_body_bytes,
        };
        return Err(refused(refusal, record, body));
    }
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let Ok(value) = std::str::from_utf8(value.as_bytes()) else {
            let refusal = Refusal::BadRequest(format!("the {name} header is not valid UTF-8"));
            return Err(refused(refusal, record, body));
        };
        headers.push((name.as_str().to_owned(), value.to_owned()));
    }
    let limits = BodyLimits {
        declared,
        max_bytes: max_body_bytes,
        request_timeout: context.destination.request_timeout,
        deadline,
    };
    let (bytes, reservation) = match read_body(&mut body, limits, &context.budget).await {
        Ok(read) => read,
        // A stalled body is not waited for again (see `refused`).
        Err(refusal) => return Err(refused(refusal, record, body)),
    };
    let inbound = InboundRequest {
        method: parts.method.as_str().to_owned(),
        raw_path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body: bytes,
        origin: Origin {
            front_door: FrontDoor::LocalServer,
            verified_iam_principal: None,
            source_ip: record.source_ip.take(),
            source_ip_from: record.source_ip_from,
            // The built-in issuer's `auto` base URL. Behind a load balancer
            // the listening address is not the public one, and `auto` is
            // refused there (config/mod.rs).
            public_base_url: (!context.behind_alb).then(|| format!("http://{}", arrival.local)),
        },
    };
    Ok((inbound, reservation))
}

/// What bounds one body.
#[derive(Clone, Copy)]
struct BodyLimits {
    /// `Content-Length`, when sent.
    declared: Option<usize>,
    max_bytes: usize,
    request_timeout: Duration,
    /// The request's deadline (its first byte plus `request_timeout`).
    deadline: Instant,
}

/// Reads a body within `limits` into one buffer: sized from
/// `Content-Length` when sent, grown (by doubling, each step reserved
/// first) when chunked.
async fn read_body(
    body: &mut Incoming,
    limits: BodyLimits,
    budget: &BodyBudget,
) -> Result<(Bytes, Reservation), Refusal> {
    let BodyLimits {
        declared,
        max_bytes: limit,
        deadline,
        ..
    } = limits;
    let mut reservation = Reservation::default();
    let mut buffer = Vec::new();
    if let Some(size) = declared {
        reserve(budget, &mut reservation, size, deadline).await?;
        buffer.reserve_exact(size);
    }
    loop {
        let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                return Err(Refusal::BadRequest(format!("reading the body: {error}")));
            }
            Err(_) => {
                return Err(Refusal::BodyTimeout {
                    received: buffer.len(),
                    deadline: limits.request_timeout,
                });
            }
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing the destination reads
        };
        let total = buffer.len().saturating_add(data.len());
        if total > limit {
            return Err(Refusal::BodyTooLarge { size: total, limit });
        }
        if total > buffer.capacity() {
            let grown = total.max(buffer.capacity().saturating_mul(2)).min(limit);
            reserve(budget, &mut reservation, grown, deadline).await?;
            buffer.reserve_exact(grown - buffer.len());
        }
        buffer.extend_from_slice(&data);
    }
    Ok((Bytes::from(buffer), reservation))
}

/// Grows `reservation` to `size` bytes, waiting at most [`MEMORY_WAIT`]
/// and never past `deadline`.
async fn reserve(
    budget: &BodyBudget,
    reservation: &mut Reservation,
    size: usize,
    deadline: Instant,
) -> Result<(), Refusal> {
    let started = Instant::now();
    let wait_until = deadline.min(started + MEMORY_WAIT);
    budget
        .reserve(reservation, size, wait_until)
        .await
        .map_err(|_| Refusal::BodyMemoryFull {
            size,
            budget: budget.bytes(),
            waited: started.elapsed(),
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
