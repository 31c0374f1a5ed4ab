//! # redox-destination
//!
//! A Redox destination: the endpoint Redox pushes EHR data to. Every request
//! is read exactly as sent, the verification handshake is answered, the
//! sender is authenticated, and accepted messages are made durable on SQS
//! (or a local spool) before Redox sees a 2xx.
//!
//! ## Layout
//!
//! The folders are the request's path, top to bottom:
//!
//! ```text
//! front/          how a request arrives and its answer leaves
//!   lambda.rs       the Lambda Runtime API loop (Lambda mode)
//!   lambda_event.rs Function URL / HTTP API / REST API events <-> request
//!   server/         server mode: the HTTP server (`cargo run`, or a
//!                   container behind an ALB for bodies over 6 MB):
//!                   mod.rs accept loop, connection cap and drain;
//!                   connection.rs idle/head/busy deadlines on the socket;
//!                   request.rs one request read (its head decided before
//!                   its body) and answered; clients.rs each client
//!                   address's share; budget.rs the memory for bodies in
//!                   flight; limits.rs defaults from the host; forwarded.rs
//!                   the client address behind the ALB (pure); health.rs
//!                   /healthz; accept.rs back-off
//!   guard.rs        a panic in one request becomes that request's 500
//!   malloc_tuning.rs  glibc's allocator tuned for each mode
//! inbound.rs      the one request value every front door produces
//! destination/    one request in, one answer and one log line out
//!   mod.rs          the deadline, and routing: OAuth endpoints or the table
//!   decide.rs       the decision table of SPEC 3.2, from the head and whole
//!   oauth.rs        the built-in issuer's two endpoints
//!   refusal.rs      every refusal, and the one place it becomes HTTP
//!   log.rs          the request's log line / EMF record
//! redox/          what Redox sent: mod.rs handshake or push; meta.rs the
//!                 `Meta` fields of a push and the id of its delivery;
//!                 event_types.rs Redox's Data Model events, and which are
//!                 synchronous requests (from Redox's schemas)
//! auth/           is it Redox?
//!   policy.rs       enabled methods and how their verdicts combine (pure);
//!                   error.rs every refusal; credential.rs what the
//!                   authorization header carries
//!   token.rs sigv4.rs iam.rs   one method each (pure, clock injected)
//!   jwt/            verify.rs (pure), jwk.rs keys (pure), jwks/ remote
//!                   key sets (HTTPS fetch, stale-while-revalidate cache),
//!                   trust.rs issuers trusted, caller.rs who may present
//!                   their tokens, replay.rs jtis used
//!   google/         mod.rs Google ID and access tokens of pinned service
//!                   accounts (pure); tokeninfo.rs Google's answers and
//!                   the HTTPS edge; lookups.rs their cache and call caps
//!   material/       what credentials are checked against: types (mod.rs),
//!                   parse.rs, public_keys.rs (pasted JWK Sets), source.rs,
//!                   secrets_manager.rs, cache.rs
//!   authenticator.rs  one request against the current material and key
//!                   sets, refreshing each once when it may be stale
//! oauth/          the built-in OAuth 2.0 issuer (pure): issuer.rs (its
//!                 endpoints and the grant), error.rs (its refusals, below
//!                 every other file here), request.rs (the token request,
//!                 form or JSON, parsed once), client_auth.rs (secrets),
//!                 assertion.rs (SMART client assertions), replay.rs (jtis
//!                 used), scope.rs, mint.rs (tokens, JWKS)
//! sink/           where accepted messages go: mod.rs (trait, message),
//!                 sqs.rs (SQS + S3 offload), sqs_body.rs (the SendMessage
//!                 body escaped once), spool.rs (local folder),
//!                 media_type.rs (the Content-Type S3 is given)
//! response.rs     the answer value every front door writes back
//! telemetry/      logging set-up (mod.rs) and CloudWatch EMF (metrics.rs)
//! config/         the environment, validated (mod.rs; server.rs: server
//!                 mode's settings; remote_jwt.rs: REDOX_JWT_*; google.rs:
//!                 REDOX_GOOGLE_*)
//! app/            start-up: aws.rs clients, material.rs the material's
//!                 first fetch, methods.rs the methods on and each one's
//!                 start-up (jwt.rs, google.rs), sink.rs
//! throttle.rs     attempts per source address (GCRA): the token
//!                 endpoint's failures, Google token-info lookups
//! clock.rs        UTC time without a date crate
//! work.rs         a step counter that holds pre-auth parsing to linear work
//! ```
//!
//! Reading the queue is the other way round: `consumer/` turns a queued
//! SQS message back into the Redox message (base64, S3 pointers, followed
//! only to where the destination writes: `pointer.rs`) and runs a
//! batch of them for the `redox-consumer` binary (`bin/`), from a Lambda
//! SQS event or, outside Lambda, from its own ReceiveMessage (`poll.rs`). And `cli/`
//! acts as Redox from the command line (`redox-destination verify`/`send`)
//! to check a destination before Redox is pointed at it.
//!
//! Dependencies point one way (no module imports one that imports it
//! back): `front` -> `destination` -> `auth`, `oauth`, `redox`, `sink`;
//! `oauth` -> `auth`; `config` reads the limits `sink` owns.

/// A boxed future, so that the edge traits (material and key-set sources,
/// sinks) stay object-safe.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod consumer;
pub mod destination;
pub mod front;
pub mod inbound;
pub mod oauth;
pub mod redox;
pub mod response;
pub mod sink;
pub mod telemetry;
pub mod throttle;
pub mod work;
