//! # redox-destination
//!
//! A Redox destination: the endpoint Redox pushes EHR data to. Every request
//! is read exactly as sent, the verification handshake is answered, the
//! sender is authenticated, and accepted messages are made durable on SQS
//! (or a local spool) before Redox sees a 2xx.
//!
//! ## Layout
//!
//! A request flows one way, top to bottom:
//!
//! - [`lambda_front`] / [`local_server`]: the front doors (Lambda Runtime
//!   API, local HTTP socket); [`lambda_event`] maps Lambda HTTP events.
//! - [`inbound`]: the one [`inbound::InboundRequest`] value all doors produce.
//! - [`destination`]: the decision table; one place maps refusals to HTTP.
//! - [`auth`]: the `token`, `sigv4`, `iam` and `jwt` methods (pure, clock
//!   injected).
//! - [`oauth`]: the built-in OAuth 2.0 token endpoint and its JWKS document;
//!   [`throttle`] counts its failed client authentications.
//! - [`redox`]: handshake or push, and the `Meta` fields of a push.
//! - [`sink`]: the [`sink::Sink`] trait, the SQS sink and the local spool.
//! - [`material`]: auth material, its sources and cache;
//!   [`secrets_manager`] is the AWS source.
//! - [`jwt_trust`]: the JWT issuers trusted and their cached key sets;
//!   [`jwks`] fetches a key set over HTTPS; [`jwk`] parses keys (pure).
//! - [`config`] reads the environment; [`app`] wires everything at start-up;
//!   [`response`], [`clock`] and [`telemetry`] are small shared pieces;
//!   [`guard`] turns a panic in one request into that request's 500;
//!   [`metrics`] makes each request's log line a CloudWatch EMF record;
//!   [`malloc_tuning`] keeps large buffers' pages between invocations.

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod destination;
pub mod guard;
pub mod inbound;
pub mod jwk;
pub mod jwks;
pub mod jwt_trust;
pub mod lambda_event;
pub mod lambda_front;
pub mod local_server;
pub mod malloc_tuning;
pub mod material;
pub mod metrics;
pub mod oauth;
pub mod redox;
pub mod response;
pub mod secrets_manager;
pub mod sink;
pub mod telemetry;
pub mod throttle;
