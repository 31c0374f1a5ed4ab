//! The `sigv4` method: AWS Signature Version 4, verified by this function
//! against key pairs that exist only for Redox (SPEC 3.3).
//!
//! Owns the strict parsing of the `AWS4-HMAC-SHA256` authorization header,
//! the canonical request and string-to-sign (AWS's rules for non-S3
//! services, built from the raw wire path, query and headers of the
//! [`InboundRequest`]), the freshness and coverage rules (scope, clock skew,
//! `host` and every `x-amz-*` header signed but an `x-amz-content-sha256`
//! that equals the body's hash, body hash, session token), and
//! the constant-time comparison of signature and session token. It never does
//! I/O, never reads the clock (`now` is an argument), never accepts presigned
//! query-string auth, SigV4a or chunk-signed streaming bodies, and no error it
//! returns carries a key, token or signature.

#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use crate::auth::material::SigV4Key;
use crate::clock::UtcDateTime;
use crate::inbound::{
    InboundRequest, form_decode_bytes, percent_encode_unreserved_bytes, query_pairs,
};

/// The only algorithm accepted, also the authorization scheme name.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

const SCOPE_TERMINATOR: &str = "aws4_request";
/// The one `x-amz-*` header that may arrive unsigned (see
/// [`check_header_coverage`]).
const CONTENT_SHA256: &str = "x-amz-content-sha256";
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, `STREAMING-UNSIGNED-PAYLOAD-TRAILER`, ...
const STREAMING_PREFIX: &str = "STREAMING-";
/// Query parameters that mark presigned (query-string) authentication.
const PRESIGNED_PARAMS: [&str; 3] = ["X-Amz-Signature", "X-Amz-Algorithm", "X-Amz-Credential"];
/// Derives the signing key when the access key id is unknown, so that a miss
/// costs the same HMAC chain as a hit (it can never verify: the result is
/// discarded).
const UNKNOWN_KEY_SECRET: &str = "no-such-key/redox-destination/placeholder";

/// Every reason a SigV4 credential is refused. Logged, never shown to the
/// client; no variant carries secret material.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Sigv4Error {
    #[error("no authorization header was sent")]
    MissingAuthorization,
    #[error("the {0} header was sent more than once")]
    RepeatedHeader(&'static str),
    #[error("the authorization header does not use AWS4-HMAC-SHA256")]
    UnknownAlgorithm,
    #[error("the authorization header is malformed: {0}")]
    MalformedAuthorization(&'static str),
    #[error("the authorization header has an unknown field")]
    UnknownAuthorizationField,
    #[error("the authorization header has {0} more than once")]
    DuplicateAuthorizationField(&'static str),
    #[error("the authorization header has no {0}")]
    MissingAuthorizationField(&'static str),
    #[error("the credential scope is malformed: {0}")]
    MalformedScope(&'static str),
    #[error("SignedHeaders is malformed: {0}")]
    MalformedSignedHeaders(&'static str),
    #[error("the signature is not 64 lowercase hex digits")]
    MalformedSignature,
    #[error("the credential scope's region is not the key's region")]
    RegionMismatch,
    #[error("the credential scope's service is not the key's service")]
    ServiceMismatch,
    #[error("the credential scope's date is not the day of x-amz-date")]
    ScopeDateMismatch,
    #[error("no x-amz-date header was sent")]
    MissingDate,
    #[error("x-amz-date is not a valid YYYYMMDDTHHMMSSZ time")]
    InvalidDate,
    #[error("x-amz-date is {skew_secs} s from the clock; at most {allowed_secs} s is allowed")]
    ClockSkew { skew_secs: u64, allowed_secs: u64 },
    #[error("the host header is not signed")]
    HostNotSigned,
    #[error("the {0} header is present but not signed")]
    UnsignedAmzHeader(String),
    #[error("the signed header {0} is not in the request")]
    SignedHeaderMissing(String),
    #[error("the signed header {0} has a control character in its value")]
    InvalidHeaderValue(String),
    #[error("x-amz-content-sha256 is not a lowercase hex SHA-256")]
    MalformedContentSha256,
    #[error("x-amz-content-sha256 is not the SHA-256 of the body")]
    PayloadHashMismatch,
    #[error("UNSIGNED-PAYLOAD is not accepted: the body must be signed")]
    UnsignedPayload,
    #[error("streaming (chunk-signed) payloads are not accepted")]
    StreamingPayload,
    #[error("the key has a session token but no x-amz-security-token was sent")]
    MissingSessionToken,
    #[error("x-amz-security-token is not the key's session token")]
    SessionTokenMismatch,
    #[error("x-amz-security-token was sent but the key has no session token")]
    UnexpectedSessionToken,
    #[error("the access key id is not a configured SigV4 key")]
    UnknownAccessKey,
    #[error("the signature does not match")]
    SignatureMismatch,
    #[error("presigned query-string authentication is not accepted")]
    PresignedQuery,
}

impl Sigv4Error {
    /// Whether the refusal came from comparing the request with the
    /// configured keys: which key, its secret, region, service or session
    /// token. These are alike to the caller, in the answer and in timing
    /// (each may be stale material and costs the same re-fetch), so that a
    /// known access key id that fails for another reason cannot be told from
    /// an unknown one. Every other refusal is decided by the request alone.
    pub fn depends_on_keys(&self) -> bool {
        match self {
            Sigv4Error::UnknownAccessKey
            | Sigv4Error::SignatureMismatch
            | Sigv4Error::RegionMismatch
            | Sigv4Error::ServiceMismatch
            | Sigv4Error::MissingSessionToken
            | Sigv4Error::SessionTokenMismatch
            | Sigv4Error::UnexpectedSessionToken => true,
            // Listed one by one so a new variant must be classified.
            Sigv4Error::MissingAuthorization
            | Sigv4Error::RepeatedHeader(_)
            | Sigv4Error::UnknownAlgorithm
            | Sigv4Error::MalformedAuthorization(_)
            | Sigv4Error::UnknownAuthorizationField
            | Sigv4Error::DuplicateAuthorizationField(_)
            | Sigv4Error::MissingAuthorizationField(_)
            | Sigv4Error::MalformedScope(_)
            | Sigv4Error::MalformedSignedHeaders(_)
            | Sigv4Error::MalformedSignature
            | Sigv4Error::ScopeDateMismatch
            | Sigv4Error::MissingDate
            | Sigv4Error::InvalidDate
            | Sigv4Error::ClockSkew { .. }
            | Sigv4Error::HostNotSigned
            | Sigv4Error::UnsignedAmzHeader(_)
            | Sigv4Error::SignedHeaderMissing(_)
            | Sigv4Error::InvalidHeaderValue(_)
            | Sigv4Error::MalformedContentSha256
            | Sigv4Error::PayloadHashMismatch
            | Sigv4Error::UnsignedPayload
            | Sigv4Error::StreamingPayload
            | Sigv4Error::PresignedQuery => false,
        }
    }
}

/// `Credential=AKID/YYYYMMDD/region/service/aws4_request`, split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scope<'a> {
    date: &'a str,
    region: &'a str,
    service: &'a str,
}

/// A strictly parsed `AWS4-HMAC-SHA256` authorization header.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Authorization<'a> {
    access_key_id: &'a str,
    scope: Scope<'a>,
    /// As sent; it is also the canonical request's signed-headers line.
    signed_headers_line: &'a str,
    /// Lower-case, sorted, unique.
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

/// Everything the signature is computed over, before any key is involved.
struct SignedContent<'a> {
    authorization: Authorization<'a>,
    /// The `x-amz-date` value as sent, and the instant it names.
    amz_date: &'a str,
    signed_at: SystemTime,
    canonical_request: String,
    session_token: Option<&'a str>,
}

/// Verifies the SigV4 `authorization` header of `request` against `keys`,
/// with `now` as the clock. Returns the key that signed the request.
pub fn verify_sigv4<'k>(
    request: &InboundRequest,
    keys: &'k [SigV4Key],
    now: SystemTime,
    clock_skew: Duration,
) -> Result<&'k SigV4Key, Sigv4Error> {
    if let Some(refusal) = presigned_query_refusal(request) {
        return Err(refusal);
    }
    // Cheap checks (parsing, clock) come before hashing the body.
    let authorization = parse_authorization_header(request)?;
    let (amz_date, signed_at) = request_time(request, &authorization.scope)?;
    check_clock_skew(signed_at, now, clock_skew)?;
    let content = signed_content(request, authorization, amz_date, signed_at)?;
    check_key_and_signature(&content, keys)
}

/// What the head of a SigV4-signed request proves before its body is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadCheck {
    /// The signature verified over the `x-amz-content-sha256` the signer
    /// sent; the body must still hash to it.
    Verified,
    /// Everything but the signature passed (format, clock, coverage, a
    /// configured key for this scope and session token): the signature
    /// covers the body's hash, so it waits for the body.
    AwaitsBody,
}

/// Checks the SigV4 credential of a request whose body has not been read
/// (server mode's head phase) as far as the head allows. Every refusal is
/// one [`verify_sigv4`] would also give for this head with any body, so
/// the head phase never refuses what the whole request would pass.
pub fn verify_sigv4_head(
    head: &InboundRequest,
    keys: &[SigV4Key],
    now: SystemTime,
    clock_skew: Duration,
) -> Result<HeadCheck, Sigv4Error> {
    if let Some(refusal) = presigned_query_refusal(head) {
        return Err(refusal);
    }
    let authorization = parse_authorization_header(head)?;
    let (amz_date, signed_at) = request_time(head, &authorization.scope)?;
    check_clock_skew(signed_at, now, clock_skew)?;
    check_header_coverage(head, &authorization.signed_headers)?;
    let session_token = head
        .single_header("x-amz-security-token")
        .map_err(|_| Sigv4Error::RepeatedHeader("x-amz-security-token"))?;
    match sent_payload_hash(head)? {
        Some(declared) => {
            let canonical_request = canonical_request(head, &authorization, declared);
            let content = SignedContent {
                authorization,
                amz_date,
                signed_at,
                canonical_request,
                session_token,
            };
            check_key_and_signature(&content, keys).map(|_| HeadCheck::Verified)
        }
        None => {
            let key = select_key(keys, authorization.access_key_id);
            check_key(key, authorization.scope, session_token).map(|_| HeadCheck::AwaitsBody)
        }
    }
}

/// `Some(PresignedQuery)` when the query carries presigned-URL parameters
/// (names compared case-insensitively, after decoding).
pub fn presigned_query_refusal(request: &InboundRequest) -> Option<Sigv4Error> {
    let presigned = query_pairs(&request.raw_query).iter().any(|(name, _)| {
        PRESIGNED_PARAMS
            .iter()
            .any(|param| name.eq_ignore_ascii_case(param))
    });
    presigned.then_some(Sigv4Error::PresignedQuery)
}

fn parse_authorization_header(request: &InboundRequest) -> Result<Authorization<'_>, Sigv4Error> {
    let value = request
        .single_header("authorization")
        .map_err(|_| Sigv4Error::RepeatedHeader("authorization"))?
        .ok_or(Sigv4Error::MissingAuthorization)?;
    parse_authorization(value)
}

/// Parses `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
/// Fields may come in any order (AWS accepts that), each exactly once, with
/// optional spaces after the commas; nothing else is tolerated.
fn parse_authorization(value: &str) -> Result<Authorization<'_>, Sigv4Error> {
    let (algorithm, fields) = value
        .split_once(' ')
        .ok_or(Sigv4Error::MalformedAuthorization(
            "no fields after the algorithm",
        ))?;
    if algorithm != ALGORITHM {
        return Err(Sigv4Error::UnknownAlgorithm);
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for field in fields.split(',') {
        let (name, field_value) =
            field
                .trim_matches(' ')
                .split_once('=')
                .ok_or(Sigv4Error::MalformedAuthorization(
                    "a field is not name=value",
                ))?;
        let (slot, name) = match name {
            "Credential" => (&mut credential, "Credential"),
            "SignedHeaders" => (&mut signed_headers, "SignedHeaders"),
            "Signature" => (&mut signature, "Signature"),
            _ => return Err(Sigv4Error::UnknownAuthorizationField),
        };
        if slot.replace(field_value).is_some() {
            return Err(Sigv4Error::DuplicateAuthorizationField(name));
        }
    }
    let credential = credential.ok_or(Sigv4Error::MissingAuthorizationField("Credential"))?;
    let signed_headers_line =
        signed_headers.ok_or(Sigv4Error::MissingAuthorizationField("SignedHeaders"))?;
    let signature = signature.ok_or(Sigv4Error::MissingAuthorizationField("Signature"))?;

    let (access_key_id, scope) = parse_credential(credential)?;
    let signed_headers = parse_signed_headers(signed_headers_line)?;
    if signature.len() != 64 || !signature.bytes().all(is_lower_hex) {
        return Err(Sigv4Error::MalformedSignature);
    }
    Ok(Authorization {
        access_key_id,
        scope,
        signed_headers_line,
        signed_headers,
        signature,
    })
}

fn parse_credential(credential: &str) -> Result<(&str, Scope<'_>), Sigv4Error> {
    let mut parts = credential.split('/');
    let mut next = || parts.next().filter(|part| !part.is_empty());
    let (Some(access_key_id), Some(date), Some(region), Some(service), Some(terminator)) =
        (next(), next(), next(), next(), next())
    else {
        return Err(Sigv4Error::MalformedScope(
            "not AKID/YYYYMMDD/region/service/aws4_request",
        ));
    };
    if parts.next().is_some() {
        return Err(Sigv4Error::MalformedScope("more than five parts"));
    }
    if terminator != SCOPE_TERMINATOR {
        return Err(Sigv4Error::MalformedScope("does not end in aws4_request"));
    }
    if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Sigv4Error::MalformedScope("the date is not YYYYMMDD"));
    }
    let printable = |part: &str| part.bytes().all(|b| b.is_ascii_graphic());
    if !(printable(access_key_id) && printable(region) && printable(service)) {
        return Err(Sigv4Error::MalformedScope(
            "a part has spaces, control or non-ASCII characters",
        ));
    }
    Ok((
        access_key_id,
        Scope {
            date,
            region,
            service,
        },
    ))
}

/// Signers send the names lower-case, sorted and unique; anything else is a
/// request no real signer made.
fn parse_signed_headers(line: &str) -> Result<Vec<&str>, Sigv4Error> {
    let mut names: Vec<&str> = Vec::new();
    for name in line.split(';') {
        if name.is_empty() {
            return Err(Sigv4Error::MalformedSignedHeaders("an empty header name"));
        }
        if !name.bytes().all(is_lower_token_byte) {
            return Err(Sigv4Error::MalformedSignedHeaders(
                "a name is not a lower-case header name",
            ));
        }
        if names.last().is_some_and(|last| *last >= name) {
            return Err(Sigv4Error::MalformedSignedHeaders(
                "names are not sorted and unique",
            ));
        }
        names.push(name);
    }
    Ok(names)
}

/// RFC 9110 token characters, upper-case letters excluded.
fn is_lower_token_byte(b: u8) -> bool {
    b.is_ascii_lowercase()
        || b.is_ascii_digit()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

fn is_lower_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
}

/// The signing time: `x-amz-date`, sent once, strictly formatted, on the
/// scope's day. Returns the header as sent and the instant it names.
fn request_time<'r>(
    request: &'r InboundRequest,
    scope: &Scope<'_>,
) -> Result<(&'r str, SystemTime), Sigv4Error> {
    let date = request
        .single_header("x-amz-date")
        .map_err(|_| Sigv4Error::RepeatedHeader("x-amz-date"))?
        .ok_or(Sigv4Error::MissingDate)?;
    let parsed = UtcDateTime::parse_amz_date(date).ok_or(Sigv4Error::InvalidDate)?;
    if parsed.amz_day() != scope.date {
        return Err(Sigv4Error::ScopeDateMismatch);
    }
    Ok((date, parsed.to_system_time()))
}

fn check_clock_skew(
    signed_at: SystemTime,
    now: SystemTime,
    clock_skew: Duration,
) -> Result<(), Sigv4Error> {
    // Either direction: a date in the future is as suspect as an old one.
    let skew = match now.duration_since(signed_at) {
        Ok(behind) => behind,
        Err(ahead) => ahead.duration(),
    };
    if skew > clock_skew {
        return Err(Sigv4Error::ClockSkew {
            skew_secs: skew.as_secs(),
            allowed_secs: clock_skew.as_secs(),
        });
    }
    Ok(())
}

/// Applies the coverage and payload rules, then builds the canonical request
/// and string-to-sign. Nothing here depends on which key signed.
fn signed_content<'r>(
    request: &'r InboundRequest,
    authorization: Authorization<'r>,
    amz_date: &'r str,
    signed_at: SystemTime,
) -> Result<SignedContent<'r>, Sigv4Error> {
    check_header_coverage(request, &authorization.signed_headers)?;
    let session_token = request
        .single_header("x-amz-security-token")
        .map_err(|_| Sigv4Error::RepeatedHeader("x-amz-security-token"))?;
    let payload_hash = payload_hash(request)?;
    let canonical_request = canonical_request(request, &authorization, &payload_hash);
    Ok(SignedContent {
        authorization,
        amz_date,
        signed_at,
        canonical_request,
        session_token,
    })
}

/// The values of each signed header (by its place in `signed`), in arrival
/// order, found in one pass with a hash lookup per request header: the
/// work is linear in the request, never signed names x headers.
fn signed_header_values<'r>(request: &'r InboundRequest, signed: &[&str]) -> Vec<Vec<&'r str>> {
    crate::work::count(signed.len());
    let index: HashMap<&str, usize> = signed.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let mut values = vec![Vec::new(); signed.len()];
    for (name, value) in &request.headers {
        crate::work::count(name.len() + 1);
        if let Some(slot) = index
            .get(name.to_ascii_lowercase().as_str())
            .and_then(|i| values.get_mut(*i))
        {
            slot.push(value.as_str());
        }
    }
    values
}

fn check_header_coverage(request: &InboundRequest, signed: &[&str]) -> Result<(), Sigv4Error> {
    // Without `host` a signature could be replayed against another endpoint.
    if !signed.contains(&"host") {
        return Err(Sigv4Error::HostNotSigned);
    }
    if request.header_values("host").nth(1).is_some() {
        return Err(Sigv4Error::RepeatedHeader("host"));
    }
    for (name, _) in &request.headers {
        crate::work::count(name.len() + 1);
        let is_amz = name
            .get(..6)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case("x-amz-"));
        // Signers such as aws-requests-auth (API Gateway, OpenSearch) send
        // x-amz-content-sha256 without signing it, and AWS accepts them.
        // `payload_hash` holds it to the body's own SHA-256 either way, so an
        // unsigned copy can only repeat what the signature already covers.
        // Exactly the name `payload_hash` reads (front doors lower-case
        // names), so the exception never reaches a header it does not check.
        let may_be_unsigned = name == CONTENT_SHA256;
        // `signed` is sorted and unique (parse_signed_headers).
        if is_amz
            && !may_be_unsigned
            && signed
                .binary_search(&name.to_ascii_lowercase().as_str())
                .is_err()
        {
            return Err(Sigv4Error::UnsignedAmzHeader(name.to_ascii_lowercase()));
        }
    }
    for (wanted, values) in signed.iter().zip(signed_header_values(request, signed)) {
        if values.is_empty() {
            return Err(Sigv4Error::SignedHeaderMissing((*wanted).to_owned()));
        }
        // A line break in a value would let two different header sets
        // share one canonical form.
        let control = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
        if values.iter().any(|value| value.bytes().any(control)) {
            return Err(Sigv4Error::InvalidHeaderValue((*wanted).to_owned()));
        }
    }
    Ok(())
}

/// The hex SHA-256 of the body, checked against `x-amz-content-sha256` when
/// the signer sent one (most do not, for non-S3 services), signed or not:
/// only the lower-case hex of the body's own hash passes, never
/// `UNSIGNED-PAYLOAD` or a `STREAMING-*` value.
fn payload_hash(request: &InboundRequest) -> Result<String, Sigv4Error> {
    let sent = sent_payload_hash(request)?;
    let body_hash = hex::encode(Sha256::digest(&request.body));
    if sent.is_some_and(|sent| sent != body_hash) {
        return Err(Sigv4Error::PayloadHashMismatch);
    }
    Ok(body_hash)
}

/// The `x-amz-content-sha256` the signer sent, if any, when it is a
/// lower-case hex SHA-256 (never `UNSIGNED-PAYLOAD` or `STREAMING-*`).
fn sent_payload_hash(request: &InboundRequest) -> Result<Option<&str>, Sigv4Error> {
    let sent = request
        .single_header(CONTENT_SHA256)
        .map_err(|_| Sigv4Error::RepeatedHeader(CONTENT_SHA256))?;
    if let Some(sent) = sent {
        if sent == UNSIGNED_PAYLOAD {
            return Err(Sigv4Error::UnsignedPayload);
        }
        if sent.starts_with(STREAMING_PREFIX) {
            return Err(Sigv4Error::StreamingPayload);
        }
        if sent.len() != 64 || !sent.bytes().all(is_lower_hex) {
            return Err(Sigv4Error::MalformedContentSha256);
        }
    }
    Ok(sent)
}

fn canonical_request(
    request: &InboundRequest,
    authorization: &Authorization<'_>,
    payload_hash: &str,
) -> String {
    let mut out = String::with_capacity(
        256 + request.raw_path.len() * 3 + request.raw_query.len() * 3 + 64 * 4,
    );
    out.push_str(&request.method);
    out.push('\n');
    canonical_uri(&request.raw_path, &mut out);
    out.push('\n');
    canonical_query(&request.raw_query, &mut out);
    out.push('\n');
    let values = signed_header_values(request, &authorization.signed_headers);
    for (wanted, values) in authorization.signed_headers.iter().zip(values) {
        out.push_str(wanted);
        out.push(':');
        // AWS: repeated headers are joined with "," in arrival order.
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_trimmed_value(value, &mut out);
        }
        out.push('\n');
    }
    out.push('\n');
    out.push_str(authorization.signed_headers_line);
    out.push('\n');
    out.push_str(payload_hash);
    out
}

/// AWS "Trimall": no leading or trailing spaces, runs of spaces become one.
/// Only the space character counts, as in the AWS SDKs.
fn push_trimmed_value(value: &str, out: &mut String) {
    let mut previous_space = false;
    for c in value.trim_matches(' ').chars() {
        if c == ' ' {
            if previous_space {
                continue;
            }
            previous_space = true;
        } else {
            previous_space = false;
        }
        out.push(c);
    }
}

/// The canonical URI of a non-S3 service: the raw path with RFC 3986 dot
/// segments removed and empty segments dropped (as botocore and aws-sigv4
/// normalise), then every segment URI-encoded *again*, so `%` becomes `%25`
/// (AWS double-encodes non-S3 paths).
fn canonical_uri(raw_path: &str, out: &mut String) {
    let mut segments: Vec<&str> = Vec::new();
    for segment in raw_path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    out.push('/');
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        percent_encode_unreserved_bytes(segment.as_bytes(), out);
    }
    // RFC 3986 5.2.4: a path ending in "/", "/." or "/.." keeps its slash.
    let ends_in_slash = ["/", "/.", "/.."].iter().any(|end| raw_path.ends_with(end));
    if ends_in_slash && !segments.is_empty() {
        out.push('/');
    }
}

/// The canonical query: each name and value percent-decoded (`+` is a space,
/// a broken escape is literal), re-encoded per RFC 3986 with upper-case hex,
/// sorted by encoded name then encoded value. Decoding yields bytes, not
/// text, so `%FF` and `%FE` stay distinct (a lossy UTF-8 decode would let one
/// signature cover both).
fn canonical_query(raw_query: &str, out: &mut String) {
    let mut pairs: Vec<(String, String)> = raw_query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            (
                reencode_query_component(name),
                reencode_query_component(value),
            )
        })
        .collect();
    pairs.sort_unstable();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
}

fn reencode_query_component(raw: &str) -> String {
    let decoded = form_decode_bytes(raw);
    let mut out = String::with_capacity(decoded.len() * 3);
    percent_encode_unreserved_bytes(&decoded, &mut out);
    out
}

fn string_to_sign(content: &SignedContent<'_>) -> String {
    let scope = content.authorization.scope;
    format!(
        "{ALGORITHM}\n{}\n{}/{}/{}/{SCOPE_TERMINATOR}\n{}",
        content.amz_date,
        scope.date,
        scope.region,
        scope.service,
        hex::encode(Sha256::digest(content.canonical_request.as_bytes()))
    )
}

/// Finds the key by access key id without an early exit: every key's id is
/// compared as a fixed-length digest, so this lookup takes the same time
/// whichever ids exist and wherever they sit in the list. That alone does
/// not hide which ids exist: the refusals that follow must not differ
/// either, see [`Sigv4Error::depends_on_keys`].
fn select_key<'k>(keys: &'k [SigV4Key], access_key_id: &str) -> Option<&'k SigV4Key> {
    let wanted = Sha256::digest(access_key_id.as_bytes());
    let mut found = Choice::from(0);
    let mut index = 0u64;
    for (i, key) in keys.iter().enumerate() {
        let candidate = Sha256::digest(key.access_key_id.as_bytes());
        let hit = candidate.as_slice().ct_eq(wanted.as_slice()) & !found;
        index.conditional_assign(&(i as u64), hit);
        found |= hit;
    }
    if bool::from(found) {
        usize::try_from(index).ok().and_then(|i| keys.get(i))
    } else {
        None
    }
}

fn check_key_and_signature<'k>(
    content: &SignedContent<'_>,
    keys: &'k [SigV4Key],
) -> Result<&'k SigV4Key, Sigv4Error> {
    let scope = content.authorization.scope;
    let key = select_key(keys, content.authorization.access_key_id);
    // The HMAC chain runs whether or not the key exists, so a miss and a
    // mismatch cost the same; the scope's region and service are what the
    // signer derived its key with.
    let secret = key.map_or(UNKNOWN_KEY_SECRET, |k| k.secret_access_key.as_str());
    let signing_key = generate_signing_key(secret, content.signed_at, scope.region, scope.service);
    let expected = calculate_signature(signing_key, string_to_sign(content).as_bytes());
    let signature_matches: bool = expected
        .as_bytes()
        .ct_eq(content.authorization.signature.as_bytes())
        .into();
    let key = check_key(key, scope, content.session_token)?;
    if !signature_matches {
        return Err(Sigv4Error::SignatureMismatch);
    }
    Ok(key)
}

/// The checks that compare the scope and session token with the key the
/// access key id names (every one [`Sigv4Error::depends_on_keys`]).
fn check_key<'k>(
    key: Option<&'k SigV4Key>,
    scope: Scope<'_>,
    session_token: Option<&str>,
) -> Result<&'k SigV4Key, Sigv4Error> {
    let token_check = session_token_check(key, session_token);
    let key = key.ok_or(Sigv4Error::UnknownAccessKey)?;
    if key.region != scope.region {
        return Err(Sigv4Error::RegionMismatch);
    }
    if key.service != scope.service {
        return Err(Sigv4Error::ServiceMismatch);
    }
    token_check?;
    Ok(key)
}

/// A key with a session token needs that token, compared in constant time
/// over digests; a key without one refuses any token.
fn session_token_check(key: Option<&SigV4Key>, sent: Option<&str>) -> Result<(), Sigv4Error> {
    let expected = key.and_then(|k| k.session_token.as_deref());
    match (expected, sent) {
        (Some(expected), Some(sent)) => {
            let same = Sha256::digest(expected.as_bytes())
                .as_slice()
                .ct_eq(Sha256::digest(sent.as_bytes()).as_slice());
            if bool::from(same) {
                Ok(())
            } else {
                Err(Sigv4Error::SessionTokenMismatch)
            }
        }
        (Some(_), None) => Err(Sigv4Error::MissingSessionToken),
        (None, Some(_)) if key.is_some() => Err(Sigv4Error::UnexpectedSessionToken),
        (None, _) => Ok(()),
    }
}

/// Test hook: the canonical request and string-to-sign the verifier would
/// sign over, without the clock check.
#[cfg(test)]
pub(crate) fn canonical_request_and_string_to_sign(
    request: &InboundRequest,
) -> Result<(String, String), Sigv4Error> {
    let authorization = parse_authorization_header(request)?;
    let (amz_date, signed_at) = request_time(request, &authorization.scope)?;
    let content = signed_content(request, authorization, amz_date, signed_at)?;
    let string_to_sign = string_to_sign(&content);
    Ok((content.canonical_request, string_to_sign))
}

#[cfg(test)]
#[allow(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::string_slice
)]
mod tests {
    use std::borrow::Cow;
    use std::path::{Path, PathBuf};

    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{
        PayloadChecksumKind, SessionTokenMode, SignableBody, SignableRequest, SignatureLocation,
        SigningSettings, sign,
    };
    use aws_sigv4::sign::v4;
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::auth::material::{AuthMaterial, TokenDigest};
    use crate::auth::{AuthError, AuthMethod, AuthPolicy, authenticate};
    use crate::inbound::{FrontDoor, Origin};

    const HOST: &str = "abcdefghij.lambda-url.us-east-1.on.aws";
    const SKEW: Duration = Duration::from_secs(300);
    const BODY: &[u8] = br#"{"Meta":{"DataModel":"PatientAdmin","EventType":"Arrival"}}"#;
    const TARGET: &str = "/redox/a%20b?zeta=last&alpha=first&alpha=a%2Fb";

    fn signed_at() -> SystemTime {
        UtcDateTime::parse_amz_date("20261128T101500Z")
            .expect("a valid date")
            .to_system_time()
    }

    fn key(id: &str, session_token: Option<&str>) -> SigV4Key {
        SigV4Key {
            access_key_id: id.into(),
            secret_access_key: format!("wJalrXUtnFEMI/K7MDENG+{id}/secret"),
            region: "us-east-1".into(),
            service: "lambda".into(),
            session_token: session_token.map(Into::into),
        }
    }

    fn inbound(
        method: &str,
        target: &str,
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> InboundRequest {
        let (raw_path, raw_query) = target.split_once('?').unwrap_or((target, ""));
        InboundRequest {
            method: method.into(),
            raw_path: raw_path.into(),
            raw_query: raw_query.into(),
            headers,
            body: Bytes::copy_from_slice(body),
            origin: Origin::new(FrontDoor::LocalServer),
        }
    }

    /// Signs with the `aws-sigv4` crate and returns the request as a front
    /// door would hand it over: the given headers, `host`, then the headers
    /// the signer added.
    fn aws_sign_with(
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        signable_body: SignableBody<'_>,
        key: &SigV4Key,
        settings: SigningSettings,
    ) -> InboundRequest {
        let credentials = Credentials::new(
            key.access_key_id.clone(),
            key.secret_access_key.clone(),
            key.session_token.clone(),
            None,
            "sigv4-tests",
        );
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&key.region)
            .name(&key.service)
            .time(signed_at())
            .settings(settings)
            .build()
            .expect("signing params")
            .into();
        let uri = format!("https://{HOST}{target}");
        let signable =
            SignableRequest::new(method, uri, headers.iter().copied(), signable_body).expect("uri");
        let (instructions, _signature) = sign(signable, &params).expect("signs").into_parts();
        let mut all: Vec<(String, String)> = headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_string()))
            .collect();
        all.push(("host".into(), HOST.into()));
        for (name, value) in instructions.headers() {
            all.push((name.to_ascii_lowercase(), value.to_owned()));
        }
        inbound(method, target, all, body)
    }

    fn aws_sign(
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        key: &SigV4Key,
    ) -> InboundRequest {
        aws_sign_with(
            "POST",
            target,
            headers,
            body,
            SignableBody::Bytes(body),
            key,
            SigningSettings::default(),
        )
    }

    fn redox_push(key: &SigV4Key) -> InboundRequest {
        aws_sign(TARGET, &[("content-type", "application/json")], BODY, key)
    }

    fn verify<'k>(
        request: &InboundRequest,
        keys: &'k [SigV4Key],
    ) -> Result<&'k SigV4Key, Sigv4Error> {
        verify_sigv4(request, keys, signed_at(), SKEW)
    }

    fn header_mut<'r>(request: &'r mut InboundRequest, name: &str) -> &'r mut String {
        request
            .headers
            .iter_mut()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .expect("header present")
    }

    /// Replaces the first occurrence of `from` in the authorization header.
    fn tamper_authorization(request: &InboundRequest, from: &str, to: &str) -> InboundRequest {
        let mut request = request.clone();
        let value = header_mut(&mut request, "authorization");
        assert!(value.contains(from), "{value} lacks {from}");
        *value = value.replacen(from, to, 1);
        request
    }

    /// Changes one byte: the one at `index` becomes `replacement`.
    fn change_byte(text: &str, index: usize, replacement: char) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        assert_ne!(chars[index], replacement);
        chars[index] = replacement;
        chars.into_iter().collect()
    }

    fn signature_of(request: &InboundRequest) -> String {
        let value = request
            .single_header("authorization")
            .expect("one header")
            .expect("present");
        value
            .rsplit_once("Signature=")
            .map(|(_, s)| s.to_owned())
            .expect("a signature")
    }

    // ---- AWS test-suite vectors -------------------------------------------

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigv4")
    }

    struct Vector {
        request: InboundRequest,
        key: SigV4Key,
        now: SystemTime,
        canonical_request: String,
        string_to_sign: String,
        signature: String,
    }

    fn read_fixture(dir: &Path, file: &str) -> String {
        let text = std::fs::read_to_string(dir.join(file))
            .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()));
        text.trim_end_matches('\n').to_owned()
    }

    /// Reads `header-signed-request.txt` the way an HTTP server would: the
    /// request line, then `Name: value` lines (OWS around the value dropped),
    /// then the body after the blank line.
    fn load_vector(name: &str) -> Vector {
        let dir = fixtures().join(name);
        let raw = std::fs::read_to_string(dir.join("header-signed-request.txt"))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let (head, body) = raw.split_once("\n\n").unwrap_or((raw.as_str(), ""));
        let mut lines = head.lines();
        let request_line = lines.next().expect("a request line");
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target)) = (parts.next(), parts.next()) else {
            panic!("{name}: bad request line {request_line:?}");
        };
        let headers = lines
            .filter(|line| !line.is_empty())
            .map(|line| {
                let (n, v) = line.split_once(':').expect("name:value");
                (n.to_ascii_lowercase(), v.trim_matches(' ').to_owned())
            })
            .collect();

        let context: serde_json::Value =
            serde_json::from_str(&read_fixture(&dir, "context.json")).expect("context json");
        let text = |pointer: &str| context.pointer(pointer).and_then(|v| v.as_str());
        let timestamp = text("/timestamp")
            .expect("timestamp")
            .replace(['-', ':'], "");
        Vector {
            request: inbound(method, target, headers, body.as_bytes()),
            key: SigV4Key {
                access_key_id: text("/credentials/access_key_id").expect("id").into(),
                secret_access_key: text("/credentials/secret_access_key")
                    .expect("secret")
                    .into(),
                region: text("/region").expect("region").into(),
                service: text("/service").expect("service").into(),
                session_token: text("/credentials/token").map(Into::into),
            },
            now: UtcDateTime::parse_amz_date(&timestamp)
                .expect("timestamp")
                .to_system_time(),
            canonical_request: read_fixture(&dir, "header-canonical-request.txt"),
            string_to_sign: read_fixture(&dir, "header-string-to-sign.txt"),
            signature: read_fixture(&dir, "header-signature.txt"),
        }
    }

    const REFUSED_VECTORS: [&str; 1] = ["post-sts-header-after"];

    #[test]
    fn aws_test_suite_vectors_canonicalise_sign_and_verify() {
        let mut names: Vec<String> = std::fs::read_dir(fixtures())
            .expect("fixtures folder")
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.path().is_dir())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| !REFUSED_VECTORS.contains(&name.as_str()))
            .collect();
        names.sort();
        assert!(names.len() >= 25, "vectors missing: {names:?}");
        for name in &names {
            let vector = load_vector(name);
            let (canonical, string_to_sign) = canonical_request_and_string_to_sign(&vector.request)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                canonical, vector.canonical_request,
                "{name}: canonical request"
            );
            assert_eq!(
                string_to_sign, vector.string_to_sign,
                "{name}: string to sign"
            );
            assert_eq!(
                signature_of(&vector.request),
                vector.signature,
                "{name}: fixture"
            );
            let keys = [vector.key.clone()];
            assert_eq!(
                verify_sigv4(&vector.request, &keys, vector.now, SKEW),
                Ok(&keys[0]),
                "{name}"
            );
            let flipped = change_byte(
                &vector.signature,
                0,
                if vector.signature.starts_with('0') {
                    '1'
                } else {
                    '0'
                },
            );
            let forged = tamper_authorization(&vector.request, &vector.signature, &flipped);
            assert_eq!(
                verify_sigv4(&forged, &keys, vector.now, SKEW),
                Err(Sigv4Error::SignatureMismatch),
                "{name}"
            );
        }
    }

    #[test]
    fn aws_vector_with_an_unsigned_session_token_is_refused() {
        let vector = load_vector("post-sts-header-after");
        let keys = [vector.key.clone()];
        assert_eq!(
            verify_sigv4(&vector.request, &keys, vector.now, SKEW),
            Err(Sigv4Error::UnsignedAmzHeader("x-amz-security-token".into()))
        );
    }

    // ---- Round trips with the aws-sigv4 signer -----------------------------

    #[test]
    fn requests_signed_by_aws_sigv4_verify() {
        let keys = [
            key("AKIDONE", None),
            key("AKIDTWO", None),
            key("AKIDTHREE", None),
        ];
        for signer in &keys {
            assert_eq!(verify(&redox_push(signer), &keys), Ok(signer));
        }
        let get = aws_sign_with(
            "GET",
            "/",
            &[],
            b"",
            SignableBody::Bytes(b""),
            &keys[0],
            SigningSettings::default(),
        );
        assert_eq!(verify(&get, &keys), Ok(&keys[0]));
        let empty_path = inbound("GET", "", get.headers.clone(), b"");
        assert_eq!(
            verify(&empty_path, &keys),
            Ok(&keys[0]),
            "the empty path is /"
        );
    }

    #[test]
    fn a_session_token_round_trips() {
        let keys = [key(
            "AKIDSESSION",
            Some("FwoGZXIvYXdzEJr//////////token+with/slashes="),
        )];
        let request = redox_push(&keys[0]);
        assert!(
            request
                .single_header("x-amz-security-token")
                .unwrap()
                .is_some()
        );
        assert_eq!(verify(&request, &keys), Ok(&keys[0]));
    }

    #[test]
    fn a_one_byte_change_anywhere_is_refused_with_its_reason() {
        let keys = [key("AKIDREDOX", None)];
        let good = redox_push(&keys[0]);
        assert_eq!(verify(&good, &keys), Ok(&keys[0]));

        let mut body = good.clone();
        let mut bytes = body.body.to_vec();
        bytes[10] ^= 0x01;
        body.body = Bytes::from(bytes);
        assert_eq!(
            verify(&body, &keys),
            Err(Sigv4Error::SignatureMismatch),
            "body"
        );

        let mut path = good.clone();
        path.raw_path = change_byte(&path.raw_path, 9, 'c'); // a%20b -> a%20c
        assert_eq!(
            verify(&path, &keys),
            Err(Sigv4Error::SignatureMismatch),
            "path"
        );

        let mut encoding = good.clone();
        encoding.raw_path = "/redox/a b".into(); // the same path, decoded
        assert_eq!(
            verify(&encoding, &keys),
            Err(Sigv4Error::SignatureMismatch),
            "decoded path"
        );

        let mut query = good.clone();
        query.raw_query = change_byte(&query.raw_query, 0, 'y');
        assert_eq!(
            verify(&query, &keys),
            Err(Sigv4Error::SignatureMismatch),
            "query"
        );

        let mut header = good.clone();
        *header_mut(&mut header, "content-type") = "application/jsoN".into();
        assert_eq!(
            verify(&header, &keys),
            Err(Sigv4Error::SignatureMismatch),
            "signed header"
        );

        let signature = signature_of(&good);
        let flipped = change_byte(
            &signature,
            63,
            if signature.ends_with('a') { 'b' } else { 'a' },
        );
        let forged = tamper_authorization(&good, &signature, &flipped);
        assert_eq!(
            verify(&forged, &keys),
            Err(Sigv4Error::SignatureMismatch),
            "signature"
        );

        let mut second = good.clone();
        *header_mut(&mut second, "x-amz-date") = "20261128T101501Z".into();
        assert_eq!(
            verify(&second, &keys),
            Err(Sigv4Error::SignatureMismatch),
            "date time"
        );

        let mut day = good.clone();
        *header_mut(&mut day, "x-amz-date") = "20261129T101500Z".into();
        assert_eq!(
            verify(&day, &keys),
            Err(Sigv4Error::ScopeDateMismatch),
            "date day"
        );

        let region = tamper_authorization(&good, "/us-east-1/", "/us-east-2/");
        assert_eq!(
            verify(&region, &keys),
            Err(Sigv4Error::RegionMismatch),
            "scope region"
        );

        let service = tamper_authorization(&good, "/lambda/", "/lambdb/");
        assert_eq!(
            verify(&service, &keys),
            Err(Sigv4Error::ServiceMismatch),
            "scope service"
        );

        let scope_date = tamper_authorization(&good, "/20261128/", "/20261127/");
        assert_eq!(
            verify(&scope_date, &keys),
            Err(Sigv4Error::ScopeDateMismatch),
            "scope date"
        );

        let access_key = tamper_authorization(&good, "AKIDREDOX/", "AKIDREDOY/");
        assert_eq!(
            verify(&access_key, &keys),
            Err(Sigv4Error::UnknownAccessKey),
            "key id"
        );
    }

    #[test]
    fn the_key_is_found_wherever_it_sits_and_an_unknown_id_is_refused() {
        let keys = [key("AKIDA", None), key("AKIDB", None), key("AKIDC", None)];
        assert_eq!(select_key(&keys, "AKIDC"), Some(&keys[2]));
        assert_eq!(select_key(&keys, "AKIDA"), Some(&keys[0]));
        assert_eq!(select_key(&keys, "AKID"), None);
        assert_eq!(select_key(&[], "AKIDA"), None);
        let stranger = key("AKIDSTRANGER", None);
        assert_eq!(
            verify(&redox_push(&stranger), &keys),
            Err(Sigv4Error::UnknownAccessKey)
        );
        // The right id with another secret is a mismatch, not a lookup miss.
        let mut impostor = key("AKIDB", None);
        impostor.secret_access_key = "not-the-secret".into();
        assert_eq!(
            verify(&redox_push(&impostor), &keys),
            Err(Sigv4Error::SignatureMismatch)
        );
    }

    // ---- Authorization header parsing --------------------------------------

    const GOOD_CREDENTIAL: &str = "Credential=AKIDREDOX/20261128/us-east-1/lambda/aws4_request";
    const GOOD_SIGNATURE: &str =
        "Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn a_well_formed_header_parses_in_any_field_order() {
        for value in [
            format!(
                "{ALGORITHM} {GOOD_CREDENTIAL}, SignedHeaders=host;x-amz-date, {GOOD_SIGNATURE}"
            ),
            format!("{ALGORITHM} {GOOD_CREDENTIAL},SignedHeaders=host;x-amz-date,{GOOD_SIGNATURE}"),
            format!(
                "{ALGORITHM} SignedHeaders=host;x-amz-date, {GOOD_SIGNATURE}, {GOOD_CREDENTIAL}"
            ),
        ] {
            let parsed = parse_authorization(&value).unwrap_or_else(|e| panic!("{value}: {e}"));
            assert_eq!(parsed.access_key_id, "AKIDREDOX");
            assert_eq!(
                parsed.scope,
                Scope {
                    date: "20261128",
                    region: "us-east-1",
                    service: "lambda"
                }
            );
            assert_eq!(parsed.signed_headers, ["host", "x-amz-date"]);
        }
    }

    #[test]
    fn malformed_authorization_headers_are_refused_with_their_reason() {
        let signed = "SignedHeaders=host;x-amz-date";
        let cases: Vec<(String, Sigv4Error)> = vec![
            (
                format!("AWS4-HMAC-SHA512 {GOOD_CREDENTIAL}, {signed}, {GOOD_SIGNATURE}"),
                Sigv4Error::UnknownAlgorithm,
            ),
            (
                format!("AWS4-ECDSA-P256-SHA256 {GOOD_CREDENTIAL}, {signed}, {GOOD_SIGNATURE}"),
                Sigv4Error::UnknownAlgorithm,
            ),
            (
                ALGORITHM.to_owned(),
                Sigv4Error::MalformedAuthorization("no fields after the algorithm"),
            ),
            (
                format!("{ALGORITHM} {GOOD_CREDENTIAL}, {signed}, {GOOD_SIGNATURE},"),
                Sigv4Error::MalformedAuthorization("a field is not name=value"),
            ),
            (
                format!(
                    "{ALGORITHM} {GOOD_CREDENTIAL}, {GOOD_CREDENTIAL}, {signed}, {GOOD_SIGNATURE}"
                ),
                Sigv4Error::DuplicateAuthorizationField("Credential"),
            ),
            (
                format!("{ALGORITHM} {GOOD_CREDENTIAL}, {signed}, {signed}, {GOOD_SIGNATURE}"),
                Sigv4Error::DuplicateAuthorizationField("SignedHeaders"),
            ),
            (
                format!(
                    "{ALGORITHM} {GOOD_CREDENTIAL}, {signed}, {GOOD_SIGNATURE}, {GOOD_SIGNATURE}"
                ),
                Sigv4Error::DuplicateAuthorizationField("Signature"),
            ),
            (
                format!("{ALGORITHM} {signed}, {GOOD_SIGNATURE}"),
                Sigv4Error::MissingAuthorizationField("Credential"),
            ),
            (
                format!("{ALGORITHM} {GOOD_CREDENTIAL}, {GOOD_SIGNATURE}"),
                Sigv4Error::MissingAuthorizationField("SignedHeaders"),
            ),
            (
                format!("{ALGORITHM} {GOOD_CREDENTIAL}, {signed}"),
                Sigv4Error::MissingAuthorizationField("Signature"),
            ),
            (
                format!("{ALGORITHM} {GOOD_CREDENTIAL}, {signed}, {GOOD_SIGNATURE}, Expires=60"),
                Sigv4Error::UnknownAuthorizationField,
            ),
            (
                format!(
                    "{ALGORITHM} credential=AKIDREDOX/20261128/us-east-1/lambda/aws4_request, {signed}, {GOOD_SIGNATURE}"
                ),
                Sigv4Error::UnknownAuthorizationField,
            ),
            (
                format!(
                    "{ALGORITHM} {GOOD_CREDENTIAL}, {signed}, Signature=0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
                ),
                Sigv4Error::MalformedSignature,
            ),
            (
                format!("{ALGORITHM} {GOOD_CREDENTIAL}, {signed}, Signature=0123456789abcdef"),
                Sigv4Error::MalformedSignature,
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_authorization(&value).err(), Some(expected), "{value}");
        }
    }

    #[test]
    fn malformed_credential_scopes_are_refused() {
        for credential in [
            "AKIDREDOX/20261128/us-east-1/lambda",
            "AKIDREDOX/20261128/us-east-1/lambda/aws4_request/extra",
            "AKIDREDOX/20261128/us-east-1/lambda/aws4_requesu",
            "AKIDREDOX/2026112/us-east-1/lambda/aws4_request",
            "AKIDREDOX/2026-11-28/us-east-1/lambda/aws4_request",
            "AKIDREDOX/20261128//lambda/aws4_request",
            "/20261128/us-east-1/lambda/aws4_request",
            "AKID REDOX/20261128/us-east-1/lambda/aws4_request",
            "AKIDREDOX/20261128/us-east-1/lämbda/aws4_request",
            "",
        ] {
            let value = format!(
                "{ALGORITHM} Credential={credential}, SignedHeaders=host, {GOOD_SIGNATURE}"
            );
            assert!(
                matches!(
                    parse_authorization(&value),
                    Err(Sigv4Error::MalformedScope(_))
                ),
                "{credential:?}"
            );
        }
    }

    #[test]
    fn signed_headers_must_be_lower_case_sorted_and_unique() {
        for line in [
            "Host;x-amz-date",
            "x-amz-date;host",
            "host;host;x-amz-date",
            "host;;x-amz-date",
            "host;x-amz-date;",
            "",
            "host;x amz date",
        ] {
            let value =
                format!("{ALGORITHM} {GOOD_CREDENTIAL}, SignedHeaders={line}, {GOOD_SIGNATURE}");
            assert!(
                matches!(
                    parse_authorization(&value),
                    Err(Sigv4Error::MalformedSignedHeaders(_))
                ),
                "{line:?}"
            );
        }
    }

    #[test]
    fn a_missing_or_repeated_authorization_header_is_refused() {
        let keys = [key("AKIDREDOX", None)];
        let good = redox_push(&keys[0]);
        let mut missing = good.clone();
        missing.headers.retain(|(n, _)| n != "authorization");
        assert_eq!(
            verify(&missing, &keys),
            Err(Sigv4Error::MissingAuthorization)
        );
        let mut repeated = good.clone();
        let authorization = header_mut(&mut repeated, "authorization").clone();
        repeated
            .headers
            .push(("authorization".into(), authorization));
        assert_eq!(
            verify(&repeated, &keys),
            Err(Sigv4Error::RepeatedHeader("authorization"))
        );
    }

    // ---- Time ---------------------------------------------------------------

    #[test]
    fn x_amz_date_must_be_present_once_and_valid() {
        let keys = [key("AKIDREDOX", None)];
        let good = redox_push(&keys[0]);
        let mut missing = good.clone();
        missing.headers.retain(|(n, _)| n != "x-amz-date");
        assert_eq!(verify(&missing, &keys), Err(Sigv4Error::MissingDate));
        let mut repeated = good.clone();
        repeated
            .headers
            .push(("x-amz-date".into(), "20261128T101500Z".into()));
        assert_eq!(
            verify(&repeated, &keys),
            Err(Sigv4Error::RepeatedHeader("x-amz-date"))
        );
        for bad in [
            "20261128T101500",
            "2026-11-28T10:15:00Z",
            "20261128T251500Z",
            " 20261128T101500Z",
        ] {
            let mut invalid = good.clone();
            *header_mut(&mut invalid, "x-amz-date") = bad.into();
            assert_eq!(
                verify(&invalid, &keys),
                Err(Sigv4Error::InvalidDate),
                "{bad}"
            );
        }
    }

    #[test]
    fn clock_skew_is_allowed_up_to_the_limit_either_way() {
        let keys = [key("AKIDREDOX", None)];
        let request = redox_push(&keys[0]);
        let at = |now: SystemTime| verify_sigv4(&request, &keys, now, SKEW);
        assert_eq!(at(signed_at() + SKEW), Ok(&keys[0]));
        assert_eq!(at(signed_at() - SKEW), Ok(&keys[0]));
        assert_eq!(
            at(signed_at() + SKEW + Duration::from_secs(1)),
            Err(Sigv4Error::ClockSkew {
                skew_secs: 301,
                allowed_secs: 300
            })
        );
        assert_eq!(
            at(signed_at() - SKEW - Duration::from_secs(1)),
            Err(Sigv4Error::ClockSkew {
                skew_secs: 301,
                allowed_secs: 300
            })
        );
        let tight = verify_sigv4(
            &request,
            &keys,
            signed_at() + Duration::from_secs(31),
            Duration::from_secs(30),
        );
        assert!(matches!(tight, Err(Sigv4Error::ClockSkew { .. })));
    }

    // ---- Header coverage ----------------------------------------------------

    fn settings_excluding(extra: &'static str) -> SigningSettings {
        let mut settings = SigningSettings::default();
        let mut excluded = settings.excluded_headers.take().unwrap_or_default();
        excluded.push(Cow::Borrowed(extra));
        settings.excluded_headers = Some(excluded);
        settings
    }

    #[test]
    fn host_must_be_signed_and_sent_once() {
        let keys = [key("AKIDREDOX", None)];
        let unsigned_host = aws_sign_with(
            "POST",
            TARGET,
            &[("content-type", "application/json")],
            BODY,
            SignableBody::Bytes(BODY),
            &keys[0],
            settings_excluding("host"),
        );
        assert!(!signature_of(&unsigned_host).is_empty());
        assert_eq!(
            verify(&unsigned_host, &keys),
            Err(Sigv4Error::HostNotSigned)
        );

        let mut two_hosts = redox_push(&keys[0]);
        two_hosts
            .headers
            .push(("host".into(), "evil.example".into()));
        assert_eq!(
            verify(&two_hosts, &keys),
            Err(Sigv4Error::RepeatedHeader("host"))
        );
    }

    #[test]
    fn every_x_amz_header_present_must_be_signed() {
        let keys = [key("AKIDREDOX", None)];
        let mut added = redox_push(&keys[0]);
        added
            .headers
            .push(("x-amz-meta-note".into(), "added later".into()));
        assert_eq!(
            verify(&added, &keys),
            Err(Sigv4Error::UnsignedAmzHeader("x-amz-meta-note".into()))
        );
        // Gateway headers (x-amzn-*) are not x-amz-* and need no signature.
        let mut gateway = redox_push(&keys[0]);
        gateway
            .headers
            .push(("x-amzn-trace-id".into(), "Root=1-abc".into()));
        gateway
            .headers
            .push(("x-forwarded-for".into(), "203.0.113.9".into()));
        assert_eq!(verify(&gateway, &keys), Ok(&keys[0]));
    }

    #[test]
    fn a_signed_header_must_be_present_and_free_of_control_characters() {
        let keys = [key("AKIDREDOX", None)];
        let good = redox_push(&keys[0]);
        let mut missing = good.clone();
        missing.headers.retain(|(n, _)| n != "content-type");
        assert_eq!(
            verify(&missing, &keys),
            Err(Sigv4Error::SignedHeaderMissing("content-type".into()))
        );
        let mut broken = good.clone();
        *header_mut(&mut broken, "content-type") = "application/json\nx-injected: 1".into();
        assert_eq!(
            verify(&broken, &keys),
            Err(Sigv4Error::InvalidHeaderValue("content-type".into()))
        );
    }

    #[test]
    fn only_signed_headers_enter_the_canonical_request_with_repeats_in_order() {
        let keys = [key("AKIDREDOX", None)];
        let request = aws_sign(
            "/redox",
            &[
                ("x-redox-note", "  first   value  "),
                ("content-type", "application/json"),
                ("x-redox-note", "second"),
            ],
            BODY,
            &keys[0],
        );
        let (canonical, _) = canonical_request_and_string_to_sign(&request).expect("canonical");
        assert!(
            canonical.contains("\nx-redox-note:first value,second\n"),
            "{canonical}"
        );
        assert_eq!(verify(&request, &keys), Ok(&keys[0]));

        // An unsigned header changes nothing.
        let mut extra = request.clone();
        extra
            .headers
            .push(("user-agent".into(), "proxy/1.0".into()));
        assert_eq!(verify(&extra, &keys), Ok(&keys[0]));
        let (with_extra, _) = canonical_request_and_string_to_sign(&extra).expect("canonical");
        assert_eq!(with_extra, canonical);

        // Repeats are joined in arrival order, so swapping them is a change.
        let mut swapped = request.clone();
        let positions: Vec<usize> = swapped
            .headers
            .iter()
            .enumerate()
            .filter(|(_, (n, _))| n == "x-redox-note")
            .map(|(i, _)| i)
            .collect();
        swapped.headers.swap(positions[0], positions[1]);
        assert_eq!(verify(&swapped, &keys), Err(Sigv4Error::SignatureMismatch));
    }

    #[test]
    fn header_values_are_trimmed_and_inner_spaces_collapsed() {
        let mut out = String::new();
        push_trimmed_value("  a   b  c ", &mut out);
        assert_eq!(out, "a b c");
        out.clear();
        push_trimmed_value("\"a   b\"\tc", &mut out);
        assert_eq!(out, "\"a b\"\tc", "only spaces are collapsed");
    }

    // ---- Payload ------------------------------------------------------------

    fn with_content_sha256(body_hash: SignableBody<'_>) -> (SigV4Key, InboundRequest) {
        let key = key("AKIDREDOX", None);
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        let request = aws_sign_with(
            "POST",
            "/redox",
            &[("content-type", "application/json")],
            BODY,
            body_hash,
            &key,
            settings,
        );
        (key, request)
    }

    #[test]
    fn a_sent_content_sha256_must_be_the_body_hash() {
        let (key, request) = with_content_sha256(SignableBody::Bytes(BODY));
        let keys = [key];
        assert_eq!(verify(&request, &keys), Ok(&keys[0]));
        let mut changed = request.clone();
        changed.body = Bytes::from_static(b"{}");
        assert_eq!(
            verify(&changed, &keys),
            Err(Sigv4Error::PayloadHashMismatch)
        );
        let mut upper = request.clone();
        let value = header_mut(&mut upper, "x-amz-content-sha256");
        *value = value.to_ascii_uppercase();
        assert_eq!(
            verify(&upper, &keys),
            Err(Sigv4Error::MalformedContentSha256)
        );
        let mut repeated = request.clone();
        let value = header_mut(&mut repeated, "x-amz-content-sha256").clone();
        repeated
            .headers
            .push(("x-amz-content-sha256".into(), value));
        assert_eq!(
            verify(&repeated, &keys),
            Err(Sigv4Error::RepeatedHeader("x-amz-content-sha256"))
        );
    }

    fn head_of(request: &InboundRequest) -> InboundRequest {
        let mut head = request.clone();
        head.body = Bytes::new();
        head
    }

    #[test]
    fn a_head_is_checked_as_far_as_it_can_be_without_the_body() {
        let key = key("AKIDREDOX", None);
        let keys = [key.clone()];
        let check = |request: &InboundRequest, keys: &[SigV4Key], now: SystemTime| {
            verify_sigv4_head(&head_of(request), keys, now, SKEW)
        };
        // Redox's signers send no x-amz-content-sha256: the signature waits.
        let push = redox_push(&key);
        assert_eq!(check(&push, &keys, signed_at()), Ok(HeadCheck::AwaitsBody));
        // Everything the head shows is checked: the key, its scope, the
        // clock, the signed headers.
        assert_eq!(
            check(&push, &[self::key("AKIDOTHER", None)], signed_at()),
            Err(Sigv4Error::UnknownAccessKey)
        );
        let mut other_region = key.clone();
        other_region.region = "eu-west-1".into();
        assert_eq!(
            check(&push, &[other_region], signed_at()),
            Err(Sigv4Error::RegionMismatch)
        );
        assert!(matches!(
            check(&push, &keys, signed_at() + Duration::from_secs(900)),
            Err(Sigv4Error::ClockSkew { .. })
        ));
        let mut unsigned = push.clone();
        unsigned.headers.push(("x-amz-meta".into(), "x".into()));
        assert_eq!(
            check(&unsigned, &keys, signed_at()),
            Err(Sigv4Error::UnsignedAmzHeader("x-amz-meta".into()))
        );
        // A forged signature passes the head (it covers the body) and is
        // refused whole.
        let forged = forge_signature(&push);
        assert_eq!(
            check(&forged, &keys, signed_at()),
            Ok(HeadCheck::AwaitsBody)
        );
        assert_eq!(verify(&forged, &keys), Err(Sigv4Error::SignatureMismatch));
    }

    fn forge_signature(request: &InboundRequest) -> InboundRequest {
        let signature = signature_of(request);
        let flipped = if signature.starts_with('a') { 'b' } else { 'a' };
        tamper_authorization(request, &signature, &change_byte(&signature, 0, flipped))
    }

    #[test]
    fn a_head_with_the_body_hash_it_signed_is_verified_whole_from_the_head() {
        let (key, request) = with_content_sha256(SignableBody::Bytes(BODY));
        let keys = [key];
        let head = head_of(&request);
        assert_eq!(
            verify_sigv4_head(&head, &keys, signed_at(), SKEW),
            Ok(HeadCheck::Verified)
        );
        let forged = forge_signature(&request);
        assert_eq!(
            verify_sigv4_head(&head_of(&forged), &keys, signed_at(), SKEW),
            Err(Sigv4Error::SignatureMismatch)
        );
        // The body must still be the one hashed: checked once it is read.
        let mut changed = request.clone();
        changed.body = Bytes::from_static(b"{}");
        assert_eq!(
            verify(&changed, &keys),
            Err(Sigv4Error::PayloadHashMismatch)
        );
        let (_, unsigned) = with_content_sha256(SignableBody::UnsignedPayload);
        assert_eq!(
            verify_sigv4_head(&head_of(&unsigned), &keys, signed_at(), SKEW),
            Err(Sigv4Error::UnsignedPayload)
        );
    }

    #[test]
    fn unsigned_and_streaming_payloads_are_refused() {
        let (key, unsigned) = with_content_sha256(SignableBody::UnsignedPayload);
        let keys = [key];
        assert_eq!(
            unsigned.single_header("x-amz-content-sha256"),
            Ok(Some("UNSIGNED-PAYLOAD"))
        );
        assert_eq!(verify(&unsigned, &keys), Err(Sigv4Error::UnsignedPayload));
        let (_, streaming) = with_content_sha256(SignableBody::StreamingUnsignedPayloadTrailer);
        assert_eq!(verify(&streaming, &keys), Err(Sigv4Error::StreamingPayload));
        let mut chunked = redox_push(&keys[0]);
        chunked.headers.push((
            "x-amz-content-sha256".into(),
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD".into(),
        ));
        // Refused for the payload even before the missing signature matters.
        let refused = payload_hash(&chunked);
        assert_eq!(refused, Err(Sigv4Error::StreamingPayload));
    }

    /// A request signed without x-amz-content-sha256, then given one the
    /// way aws-requests-auth does: sent, not signed.
    fn with_unsigned_content_sha256(value: &str) -> (SigV4Key, InboundRequest) {
        let key = key("AKIDREDOX", None);
        let mut request = redox_push(&key);
        request.headers.push((CONTENT_SHA256.into(), value.into()));
        (key, request)
    }

    #[test]
    fn an_unsigned_content_sha256_equal_to_the_body_hash_is_accepted() {
        let body_hash = hex::encode(Sha256::digest(BODY));
        let (key, request) = with_unsigned_content_sha256(&body_hash);
        let authorization = parse_authorization_header(&request).unwrap();
        assert!(!authorization.signed_headers.contains(&CONTENT_SHA256));
        let keys = [key];
        assert_eq!(verify(&request, &keys), Ok(&keys[0]));
        // Front doors lower-case header names; a name that was not is not
        // the header the body hash is checked against, so it gets no
        // exception.
        let mut capitalised = request.clone();
        for (name, _) in &mut capitalised.headers {
            if name == CONTENT_SHA256 {
                *name = "X-Amz-Content-SHA256".into();
            }
        }
        assert_eq!(
            verify(&capitalised, &keys),
            Err(Sigv4Error::UnsignedAmzHeader(CONTENT_SHA256.into()))
        );
    }

    #[test]
    fn an_unsigned_content_sha256_is_held_to_the_body_it_came_with() {
        let body_hash = hex::encode(Sha256::digest(BODY));
        let other_hash = hex::encode(Sha256::digest(b"{}"));
        for (value, refusal) in [
            (other_hash.as_str(), Sigv4Error::PayloadHashMismatch),
            (UNSIGNED_PAYLOAD, Sigv4Error::UnsignedPayload),
            (
                "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
                Sigv4Error::StreamingPayload,
            ),
            (
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
                Sigv4Error::StreamingPayload,
            ),
            (
                &body_hash.to_ascii_uppercase(),
                Sigv4Error::MalformedContentSha256,
            ),
            ("", Sigv4Error::MalformedContentSha256),
        ] {
            let (key, request) = with_unsigned_content_sha256(value);
            assert_eq!(verify(&request, &[key]), Err(refusal), "{value:?}");
        }
        // A changed body with the header made to match it: the header is
        // not what is signed, the body is.
        let (key, mut request) = with_unsigned_content_sha256(&other_hash);
        request.body = Bytes::from_static(b"{}");
        assert_eq!(verify(&request, &[key]), Err(Sigv4Error::SignatureMismatch));
        // Two copies, even of the right value, are refused.
        let (key, mut request) = with_unsigned_content_sha256(&body_hash);
        request
            .headers
            .push((CONTENT_SHA256.into(), body_hash.clone()));
        assert_eq!(
            verify(&request, &[key]),
            Err(Sigv4Error::RepeatedHeader(CONTENT_SHA256))
        );
    }

    #[test]
    fn the_exception_is_only_x_amz_content_sha256() {
        let body_hash = hex::encode(Sha256::digest(BODY));
        for name in [
            "x-amz-content-sha256x",
            "x-amz-content-sha",
            "x-amz-checksum-sha256",
            "x-amz-decoded-content-length",
        ] {
            let (key, mut request) = with_unsigned_content_sha256(&body_hash);
            request.headers.push((name.into(), body_hash.clone()));
            assert_eq!(
                verify(&request, &[key]),
                Err(Sigv4Error::UnsignedAmzHeader(name.into())),
                "{name}"
            );
        }
    }

    #[test]
    fn without_content_sha256_the_body_is_hashed() {
        let request = inbound("POST", "/", vec![], b"");
        assert_eq!(
            payload_hash(&request).as_deref(),
            Ok("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    // ---- Path and query -----------------------------------------------------

    fn uri(raw_path: &str) -> String {
        let mut out = String::new();
        canonical_uri(raw_path, &mut out);
        out
    }

    fn query(raw_query: &str) -> String {
        let mut out = String::new();
        canonical_query(raw_query, &mut out);
        out
    }

    #[test]
    fn the_path_is_normalised_and_encoded_again() {
        assert_eq!(uri(""), "/");
        assert_eq!(uri("/"), "/");
        assert_eq!(uri("/redox/a%20b"), "/redox/a%2520b");
        assert_eq!(uri("/redox/a%2Fb/"), "/redox/a%252Fb/");
        assert_eq!(uri("/@connections/x:y"), "/%40connections/x%3Ay");
        assert_eq!(uri("/-._~AZaz09"), "/-._~AZaz09");
        assert_eq!(uri("/a/./b/../c//"), "/a/c/");
        assert_eq!(uri("//a//b"), "/a/b");
        assert_eq!(uri("/a/.."), "/");
        assert_eq!(uri("/a/b/.."), "/a/");
        assert_eq!(uri("/../.."), "/");
        assert_eq!(uri("/ሴ"), "/%E1%88%B4");
    }

    #[test]
    fn the_query_is_decoded_re_encoded_and_sorted() {
        assert_eq!(query(""), "");
        assert_eq!(query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(query("Param-3=x&Param=y"), "Param=y&Param-3=x");
        assert_eq!(query("a+b=c%20d"), "a%20b=c%20d");
        assert_eq!(query("%7e=%41&x"), "x=&~=A");
        assert_eq!(query("a=b=c"), "a=b%3Dc");
        assert_eq!(query("k=%2f&&k=%2F"), "k=%2F&k=%2F");
        assert_eq!(query("bad=%zz%4"), "bad=%25zz%254");
        assert_eq!(query("raw=%FF&raw=%FE"), "raw=%FE&raw=%FF");
        assert_eq!(query("u=%E1%88%B4"), "u=%E1%88%B4");
    }

    // ---- Session token ------------------------------------------------------

    #[test]
    fn the_session_token_is_required_checked_and_only_for_keys_that_have_one() {
        let with_token = key("AKIDSESSION", Some("the-session-token"));
        let keys = [with_token.clone()];
        assert_eq!(verify(&redox_push(&with_token), &keys), Ok(&keys[0]));

        let mut without = with_token.clone();
        without.session_token = None;
        assert_eq!(
            verify(&redox_push(&without), &keys),
            Err(Sigv4Error::MissingSessionToken)
        );

        let mut other = with_token.clone();
        other.session_token = Some("the-session-tokeN".into());
        assert_eq!(
            verify(&redox_push(&other), &keys),
            Err(Sigv4Error::SessionTokenMismatch)
        );

        let plain_keys = [without.clone()];
        assert_eq!(
            verify(&redox_push(&with_token), &plain_keys),
            Err(Sigv4Error::UnexpectedSessionToken)
        );

        let mut repeated = redox_push(&with_token);
        repeated
            .headers
            .push(("x-amz-security-token".into(), "the-session-token".into()));
        assert_eq!(
            verify(&repeated, &keys),
            Err(Sigv4Error::RepeatedHeader("x-amz-security-token"))
        );
    }

    #[test]
    fn a_session_token_added_after_signing_is_refused() {
        let with_token = key("AKIDSESSION", Some("the-session-token"));
        let keys = [with_token.clone()];
        let mut settings = SigningSettings::default();
        settings.session_token_mode = SessionTokenMode::Exclude;
        let request = aws_sign_with(
            "POST",
            "/redox",
            &[("content-type", "application/json")],
            BODY,
            SignableBody::Bytes(BODY),
            &with_token,
            settings,
        );
        assert_eq!(
            verify(&request, &keys),
            Err(Sigv4Error::UnsignedAmzHeader("x-amz-security-token".into()))
        );
    }

    // ---- Presigned URLs -----------------------------------------------------

    #[test]
    fn presigned_query_auth_is_refused() {
        for raw_query in [
            "X-Amz-Signature=abc",
            "a=1&x-amz-algorithm=AWS4-HMAC-SHA256",
            "X-AMZ-CREDENTIAL=AKID%2F20261128",
            "X%2DAmz%2DSignature=abc",
        ] {
            let request = inbound("POST", &format!("/?{raw_query}"), vec![], b"");
            assert_eq!(
                presigned_query_refusal(&request),
                Some(Sigv4Error::PresignedQuery),
                "{raw_query}"
            );
        }
        let plain = inbound("POST", "/?X-Amz-Date=1&amz-signature=2", vec![], b"");
        assert_eq!(presigned_query_refusal(&plain), None);

        let keys = [key("AKIDREDOX", None)];
        let mut settings = SigningSettings::default();
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
        let credentials = Credentials::new(
            "AKIDREDOX",
            keys[0].secret_access_key.clone(),
            None,
            None,
            "t",
        );
        let identity = credentials.into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("lambda")
            .time(signed_at())
            .settings(settings)
            .build()
            .expect("params")
            .into();
        let signable = SignableRequest::new(
            "POST",
            format!("https://{HOST}/redox"),
            std::iter::empty(),
            SignableBody::Bytes(BODY),
        )
        .expect("uri");
        let (instructions, _) = sign(signable, &params).expect("signs").into_parts();
        let presigned_query: Vec<String> = instructions
            .params()
            .iter()
            .map(|(k, v)| {
                let mut out = format!("{k}=");
                percent_encode_unreserved_bytes(v.as_bytes(), &mut out);
                out
            })
            .collect();
        let presigned = inbound(
            "POST",
            &format!("/redox?{}", presigned_query.join("&")),
            vec![("host".into(), HOST.into())],
            BODY,
        );
        assert_eq!(verify(&presigned, &keys), Err(Sigv4Error::PresignedQuery));

        // Header auth plus presigned parameters is ambiguous: refused too.
        let mut both = redox_push(&keys[0]);
        both.raw_query.push_str("&X-Amz-Signature=00");
        assert_eq!(verify(&both, &keys), Err(Sigv4Error::PresignedQuery));
    }

    // ---- With the rest of the auth layer ------------------------------------

    #[test]
    fn a_failing_sigv4_header_is_refused_even_with_a_valid_token() {
        let keys = vec![key("AKIDREDOX", None)];
        let material = AuthMaterial {
            token_digests: vec![TokenDigest::of(b"tok")],
            sigv4_keys: keys.clone(),
            ..AuthMaterial::default()
        };
        let policy = AuthPolicy {
            enabled: vec![AuthMethod::Token, AuthMethod::Sigv4],
            allowed_principals: vec![],
            clock_skew: SKEW,
        };
        let good = redox_push(&keys[0]);
        assert_eq!(
            authenticate(&good, &material, &policy, signed_at()),
            Ok(AuthMethod::Sigv4)
        );
        let mut forged = good.clone();
        forged.body = Bytes::from_static(b"{\"Meta\":{}}");
        forged
            .headers
            .push(("verification-token".into(), "tok".into()));
        assert_eq!(
            authenticate(&forged, &material, &policy, signed_at()),
            Err(AuthError::Sigv4(Sigv4Error::SignatureMismatch))
        );
    }

    // ---- No panics ----------------------------------------------------------

    fn near_valid_authorization() -> impl Strategy<Value = String> {
        (
            "(AWS4-HMAC-SHA256|AWS4-HMAC-SHA2|) ?",
            "AKID[A-Z]{0,3}(/[0-9a-z_-]{0,10}){0,6}",
            "[a-z;-]{0,30}",
            "[0-9a-fA-F]{60,66}",
            "(, ?|,|  )",
        )
            .prop_map(|(algorithm, credential, signed, signature, comma)| {
                format!(
                    "{algorithm}Credential={credential}{comma}SignedHeaders={signed}{comma}Signature={signature}"
                )
            })
    }

    fn header_strategy() -> impl Strategy<Value = Vec<(String, String)>> {
        proptest::collection::vec(
            (
                "host|x-amz-date|x-amz-content-sha256|x-amz-security-token|x-amz-[a-z-]{0,8}|[a-zA-Z-]{0,12}|[^:]{0,6}",
                prop_oneof![
                    "20261128T1015[0-9]{2}Z",
                    "[0-9a-f]{64}",
                    "UNSIGNED-PAYLOAD",
                    ".{0,40}"
                ],
            ),
            0..8,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        #[test]
        fn arbitrary_authorization_headers_and_header_sets_never_panic(
            authorization in prop_oneof![".{0,200}", near_valid_authorization()],
            mut headers in header_strategy(),
            path in ".{0,40}",
            raw_query in ".{0,40}",
            body in proptest::collection::vec(any::<u8>(), 0..64),
            skew_secs in 0u64..1_000,
        ) {
            headers.push(("authorization".into(), authorization.clone()));
            let request = inbound("POST", "/", headers, &body);
            let request = InboundRequest { raw_path: path, raw_query, ..request };
            let keys = [key("AKID", None), key("AKIDX", Some("token"))];
            let now = signed_at();
            let _ = verify_sigv4(&request, &keys, now, Duration::from_secs(skew_secs));
            let _ = presigned_query_refusal(&request);
            let _ = canonical_request_and_string_to_sign(&request);
            let _ = parse_authorization(&authorization);
        }

        /// Differential: whatever path and query aws-sigv4 signs, this
        /// verifier canonicalises the same way.
        #[test]
        fn requests_aws_sigv4_signs_always_verify(
            segments in proptest::collection::vec(
                "([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-7][0-9A-F]|%E1%88%B4){0,6}", 0..5),
            trailing_slash in any::<bool>(),
            pairs in proptest::collection::vec(
                ("([A-Za-z0-9._~-]|%[2-7][0-9A-F]|\\+){0,5}", "([A-Za-z0-9._~/:@-]|%[2-7][0-9A-F]|\\+|=){0,6}"),
                0..5),
        ) {
            let mut target = format!("/{}", segments.join("/"));
            if trailing_slash {
                target.push('/');
            }
            let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
            if !query.is_empty() {
                target.push('?');
                target.push_str(&query.join("&"));
            }
            prop_assume!(target.parse::<http::Uri>().is_ok());
            let keys = [key("AKIDREDOX", None)];
            let request = aws_sign(&target, &[("content-type", "application/json")], BODY, &keys[0]);
            prop_assert_eq!(verify(&request, &keys), Ok(&keys[0]), "{}", target);
        }
    }
}
