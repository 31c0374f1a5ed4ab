//! One HTTP request on a server-mode connection: `/healthz`, or the
//! request decided in two phases of one decision table.
//!
//! The head is read first and decided alone ([`Destination::decide_head`]):
//! a wrong credential is refused before a body byte is read (with `Expect:
//! 100-continue`, before one is even sent), and a head with no credential
//! may send only what a handshake can be. The body is then read into one
//! buffer (sized from `Content-Length` once the head proved a credential)
//! while its memory is reserved as it arrives, never from what the head
//! declared, and the whole request is decided as the Lambda decides it.
//!
//! Each request holds a share of its client address's allowance
//! ([`super::clients`]); its deadline counts from its first byte on the
//! socket (the connection's clock), so it covers reading the body; after a
//! short grace its body must keep up a minimum rate. A request refused
//! before its body was read closes the connection; the rest of its body is
//! read and discarded for a few seconds first (unless the client waits for
//! `100 Continue`, or is too slow), so a client still sending reads the
//! answer, not a reset.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use tokio::time::Instant;

use super::budget::{BodyBudget, FREE_ALLOWANCE, Reservation};
use super::clients::{ClientLoads, RequestHold};
use super::connection::{ConnectionClock, DrainSignal, RequestInProgress};
use super::forwarded::client_address;
use super::health::{HEALTH_PATH, health_answer};
use crate::destination::{
    BodyAllowance, Destination, Refusal, RequestRecord, log_internal_error, log_refused,
};
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

/// The body memory a growing body reserves at a time, past the free
/// allowance: what arrives, rounded up to this step.
pub const RESERVATION_STEP: usize = 1024 * 1024;

/// The pace every body must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyPace {
    /// Bytes per second a body must average once the grace has passed (0:
    /// no minimum).
    pub min_rate: u64,
    /// Time from the first read of the body before the rate counts.
    pub grace: Duration,
}

impl BodyPace {
    /// When a body that has sent `received` bytes since `started` falls
    /// below the minimum rate; `None` when there is no minimum.
    pub fn falls_behind_at(&self, started: Instant, received: usize) -> Option<Instant> {
        if self.min_rate == 0 {
            return None;
        }
        let earned = Duration::from_secs_f64(received as f64 / self.min_rate as f64);
        Some(started + self.grace + earned)
    }
}

/// What every request on every connection shares.
pub struct RequestContext {
    pub destination: Arc<Destination>,
    pub budget: BodyBudget,
    pub clients: ClientLoads,
    pub pace: BodyPace,
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
        match receive(request, &context, arrival, deadline).await {
            Ok(Received {
                inbound,
                reservation,
                mut hold,
            }) => {
                let response = context
                    .destination
                    .handle_until(inbound, SystemTime::now(), deadline)
                    .await;
                // The body's memory is free once its answer is decided.
                drop(reservation);
                hold.release_body();
                response
            }
            Err(Refused {
                refusal,
                record,
                unread,
                hold,
            }) => {
                log_refused(&refusal, &record, started.elapsed());
                if let Some(body) = unread {
                    // The connection (and the client's share) is busy until
                    // the discarding ends.
                    let pace = context.pace;
                    tokio::spawn(discard_rest(body, pace, (in_progress.take(), hold)));
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

/// A request read whole, with what it holds until it is answered.
struct Received {
    inbound: InboundRequest,
    reservation: Reservation,
    hold: RequestHold,
}

/// A request refused before the destination saw it whole.
struct Refused {
    refusal: Refusal,
    /// What is known of the request, for its log line.
    record: RequestRecord,
    /// The body's unread rest, to discard before the connection closes.
    unread: Option<Incoming>,
    /// The client's share, held while the rest is discarded.
    hold: Option<RequestHold>,
}

/// Reads and discards the rest of a refused body for at most [`LINGER`],
/// and no longer than it keeps `pace`, holding its connection busy (and
/// its client's share) meanwhile.
async fn discard_rest<T>(mut body: Incoming, pace: BodyPace, held: T) {
    let started = Instant::now();
    let end = started + LINGER;
    let mut received = 0usize;
    loop {
        let until = pace
            .falls_behind_at(started, received)
            .map_or(end, |behind| behind.min(end));
        match tokio::time::timeout_at(until, body.frame()).await {
            Ok(Some(Ok(frame))) => {
                received = received.saturating_add(frame.data_ref().map_or(0, Bytes::len));
            }
            _ => break,
        }
    }
    drop(held);
}

/// Reads a hyper request: its head decided first, then its body within
/// what the head earned; or the refusal to send, with what is known.
async fn receive(
    request: Request<Incoming>,
    context: &RequestContext,
    arrival: Arrival,
    deadline: Instant,
) -> Result<Received, Refused> {
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
    let declared = parts
        .headers
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    // Only what arrived is reported (BodyBytes): a stranger's declared
    // size is not a fact.
    let refused = |refusal: Refusal, record: RequestRecord, body: Incoming, hold| {
        let lingers = sending_body
            && !matches!(
                refusal,
                Refusal::BodyTimeout { .. }
                    | Refusal::BodyTooSlow { .. }
                    | Refusal::ClientShareFull(_)
            );
        Refused {
            refusal,
            record,
            unread: lingers.then_some(body),
            hold,
        }
    };
    let mut hold = match context.clients.admit_request(client.ip) {
        Ok(hold) => hold,
        Err(limit) => {
            return Err(refused(
                Refusal::ClientShareFull(limit.as_str()),
                record,
                body,
                None,
            ));
        }
    };
    let mut headers = Vec::with_capacity(parts.headers.len());
    for (name, value) in &parts.headers {
        let Ok(value) = std::str::from_utf8(value.as_bytes()) else {
            let refusal = Refusal::BadRequest(format!("the {name} header is not valid UTF-8"));
            return Err(refused(refusal, record, body, Some(hold)));
        };
        headers.push((name.as_str().to_owned(), value.to_owned()));
    }
    let mut inbound = InboundRequest {
        method: parts.method.as_str().to_owned(),
        raw_path: parts.uri.path().to_owned(),
        raw_query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body: Bytes::new(),
        origin: Origin {
            front_door: FrontDoor::LocalServer,
            verified_iam_principal: None,
            source_ip: record.source_ip.clone(),
            source_ip_from: record.source_ip_from,
            // The built-in issuer's `auto` base URL. Behind a load balancer
            // the listening address is not the public one, and `auto` is
            // refused there (config/mod.rs).
            public_base_url: (!context.behind_alb).then(|| format!("http://{}", arrival.local)),
        },
    };
    let destination = &context.destination;
    let decided = tokio::time::timeout_at(
        deadline,
        destination.decide_head(&inbound, declared, SystemTime::now(), &mut record),
    )
    .await
    .unwrap_or(Err(Refusal::DeadlineExceeded(destination.request_timeout)));
    let allowance = match decided {
        Ok(allowance) => allowance,
        Err(refusal) => return Err(refused(refusal, record, body, Some(hold))),
    };
    if let Some(size) = declared.filter(|size| *size > allowance.max_bytes) {
        return Err(refused(allowance.refusal(size), record, body, Some(hold)));
    }
    let limits = BodyLimits {
        declared,
        allowance,
        pace: context.pace,
        request_timeout: destination.request_timeout,
        deadline,
    };
    match read_body(&mut body, limits, &context.budget, &mut hold).await {
        Ok((bytes, reservation)) => {
            inbound.body = bytes;
            Ok(Received {
                inbound,
                reservation,
                hold,
            })
        }
        Err((refusal, received)) => {
            record.body_bytes = received;
            // A slow or stalled body is not waited for again (see `refused`).
            Err(refused(refusal, record, body, Some(hold)))
        }
    }
}

/// What bounds one body.
#[derive(Clone, Copy)]
struct BodyLimits {
    /// `Content-Length`, when sent.
    declared: Option<usize>,
    /// What the head earned.
    allowance: BodyAllowance,
    pace: BodyPace,
    request_timeout: Duration,
    /// The request's deadline (its first byte plus `request_timeout`).
    deadline: Instant,
}

/// Reads a body within `limits` into one buffer: sized from
/// `Content-Length` when the head proved a credential, otherwise grown by
/// doubling. Its memory is reserved as it arrives, in the global budget
/// and in its client's share. A refusal comes with the bytes received.
async fn read_body(
    body: &mut Incoming,
    limits: BodyLimits,
    budget: &BodyBudget,
    hold: &mut RequestHold,
) -> Result<(Bytes, Reservation), (Refusal, usize)> {
    let BodyLimits {
        declared,
        allowance,
        pace,
        deadline,
        ..
    } = limits;
    let limit = allowance.max_bytes;
    let mut reservation = Reservation::default();
    let mut buffer = Vec::new();
    if let Some(size) = declared.filter(|_| allowance.proven) {
        // Untouched capacity costs address space, not memory; what is
        // written is what the reservation counts.
        buffer.reserve_exact(size);
    }
    let started = Instant::now();
    loop {
        let behind = pace.falls_behind_at(started, buffer.len());
        let until = behind.map_or(deadline, |behind| behind.min(deadline));
        let frame = match tokio::time::timeout_at(until, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(None) => break,
            Ok(Some(Err(error))) => {
                let refusal = Refusal::BadRequest(format!("reading the body: {error}"));
                return Err((refusal, buffer.len()));
            }
            Err(_) if until < deadline => {
                let refusal = Refusal::BodyTooSlow {
                    received: buffer.len(),
                    elapsed: started.elapsed(),
                    min_rate: pace.min_rate,
                };
                return Err((refusal, buffer.len()));
            }
            Err(_) => {
                let refusal = Refusal::BodyTimeout {
                    received: buffer.len(),
                    deadline: limits.request_timeout,
                };
                return Err((refusal, buffer.len()));
            }
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing the destination reads
        };
        let total = buffer.len().saturating_add(data.len());
        if total > limit {
            return Err((allowance.refusal(total), buffer.len()));
        }
        let cap = declared.unwrap_or(limit).min(limit);
        let wanted = if total <= FREE_ALLOWANCE {
            total
        } else {
            total.next_multiple_of(RESERVATION_STEP).min(cap.max(total))
        };
        reserve(budget, hold, &mut reservation, wanted, deadline)
            .await
            .map_err(|refusal| (refusal, buffer.len()))?;
        if total > buffer.capacity() {
            let grown = total.max(buffer.capacity().saturating_mul(2)).min(limit);
            buffer.reserve_exact(grown - buffer.len());
        }
        buffer.extend_from_slice(&data);
    }
    Ok((Bytes::from(buffer), reservation))
}

/// Grows `reservation` to `size` bytes: the client's share first (refused
/// at once past it), then the budget, waiting at most [`MEMORY_WAIT`] and
/// never past `deadline`.
async fn reserve(
    budget: &BodyBudget,
    hold: &mut RequestHold,
    reservation: &mut Reservation,
    size: usize,
    deadline: Instant,
) -> Result<(), Refusal> {
    hold.grow_body(BodyBudget::charged(size))
        .map_err(|limit| Refusal::ClientShareFull(limit.as_str()))?;
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
