//! The front doors: how a request reaches the destination and its answer
//! goes back.
//!
//! - [`lambda`]: the Lambda Runtime API loop (Lambda mode);
//!   [`lambda_event`] maps Function URL, HTTP API and REST API events to an
//!   [`crate::inbound::InboundRequest`] and the answer back to the event's
//!   response shape.
//! - [`server`]: server mode, the HTTP server (`cargo run`, or a container
//!   behind an Application Load Balancer for bodies over 6 MB).
//! - [`guard`]: a panic in one request becomes that request's 500.
//! - [`malloc_tuning`]: glibc's allocator tuned for one invocation at a
//!   time (Lambda mode), or for many bodies within a budget (server mode).

pub mod guard;
pub mod lambda;
pub mod lambda_event;
pub mod malloc_tuning;
pub mod server;
