//! What the command line prints about answers: the destination's JSON error
//! with a one-line hint per status (the troubleshooting table of
//! `docs/deploy.md` §11), and the latency summary of a run. Never a
//! credential: only statuses, timings and the destination's answer bodies,
//! which carry no secret.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use super::http::Answer;

/// What to do about a status, in one line.
pub fn hint(status: u16) -> &'static str {
    match status {
        400 => {
            "the request is malformed for the destination (invalid_challenge: a challenge must be \
             1-128 letters, digits or - . _ ~; bad_request: the Lambda event is not an HTTP event)"
        }
        401 => {
            "not authenticated: compare the token, SigV4 key (region, service) or OAuth client with \
             the destination's auth material and check REDOX_AUTH_METHODS enables the method; the \
             reason is in the destination's log line"
        }
        403 => {
            "refused by AWS before the function ran: the Function URL uses AWS_IAM and the request \
             was unsigned or its signer lacks permission (docs/deploy.md section 9)"
        }
        404 => "nothing answers at this path: check the URL",
        405 => {
            "method not allowed: Redox sends POST (GET only for the handshake); check the URL is \
             the destination's"
        }
        413 => {
            "the body is larger than REDOX_MAX_BODY_BYTES (6 MiB) or Lambda's 6 MB request limit"
        }
        429 => {
            "slow_down from the built-in token endpoint: too many failed or malformed token \
             requests came from this source address (counted per address, never per client \
             id: README, Throttling), so even a right credential from it is refused unchecked \
             until Retry-After; fix the client secret or key, then wait for Retry-After"
        }
        500 => {
            "a bug in the destination (internal_error): nothing was queued; its log has a panic \
             line; Redox would retry"
        }
        501 => {
            "synchronous queries are not supported (a queue cannot answer them): remove query data \
             models from the subscription"
        }
        502 => {
            "the function failed to start (a configuration error or a broken secret): the first \
             lines of its log group name the variable at fault"
        }
        503 => {
            "SQS, S3 or Secrets Manager failed or was too slow (queue_unavailable, \
             auth_unavailable, deadline_exceeded): nothing was queued; the log line names the \
             dependency; Redox would retry"
        }
        _ if status >= 500 => "the destination failed: see its log; Redox would retry",
        _ if status >= 400 => "the destination refused the request: see its log",
        _ => "unexpected status for a Redox destination",
    }
}

/// The answer body as printed: compact JSON when it is JSON, otherwise the
/// start of the text, so an HTML error page from a proxy stays one line.
pub fn body_for_display(answer: &Answer) -> String {
    if answer.body.is_empty() {
        return "(empty body)".into();
    }
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(&answer.body) {
        return json.to_string();
    }
    let text: String = answer
        .body_text()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    format!("(not JSON) {text}")
}

/// The refusal, as two indented lines: the destination's answer, the hint.
pub fn refusal(answer: &Answer) -> String {
    format!(
        "    answer: {}\n    hint:   {}",
        body_for_display(answer),
        hint(answer.status)
    )
}

pub fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// The statuses and latencies of a run of pushes.
#[derive(Debug, Default)]
pub struct RunSummary {
    statuses: BTreeMap<u16, usize>,
    latencies: Vec<Duration>,
    failed_transport: usize,
}

impl RunSummary {
    pub fn record(&mut self, answer: &Answer) {
        *self.statuses.entry(answer.status).or_default() += 1;
        self.latencies.push(answer.latency);
    }

    pub fn record_transport_failure(&mut self) {
        self.failed_transport += 1;
    }

    /// True when every push was answered 2xx.
    pub fn all_succeeded(&self) -> bool {
        self.failed_transport == 0
            && !self.latencies.is_empty()
            && self.statuses.keys().all(|s| (200..300).contains(s))
    }

    /// The latency below which `percent` of the answers came (nearest rank).
    pub fn percentile(&self, percent: usize) -> Option<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let rank = (percent * sorted.len()).div_ceil(100).max(1);
        sorted.get(rank - 1).copied()
    }

    /// The closing lines of `send`: statuses, latency and throughput over
    /// the `elapsed` wall time of the run.
    pub fn render(&self, elapsed: Duration) -> String {
        let answered = self.latencies.len();
        let mut out = String::new();
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, count)| format!("{status} x{count}"))
            .collect();
        let _ = write!(out, "summary: {answered} answered");
        if !statuses.is_empty() {
            let _ = write!(out, " ({})", statuses.join(", "));
        }
        if self.failed_transport > 0 {
            let _ = write!(out, ", {} without an answer", self.failed_transport);
        }
        if let (Some(p50), Some(p95), Some(max)) = (
            self.percentile(50),
            self.percentile(95),
            self.latencies.iter().max(),
        ) {
            let _ = write!(
                out,
                "\nlatency: p50 {}, p95 {}, max {}",
                millis(p50),
                millis(p95),
                millis(*max)
            );
        }
        let seconds = elapsed.as_secs_f64();
        if answered > 0 && seconds > 0.0 {
            let _ = write!(
                out,
                "\nthroughput: {:.1} messages/s ({answered} in {:.2} s, one at a time)",
                answered as f64 / seconds,
                seconds
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, millis: u64, body: &str) -> Answer {
        Answer {
            status,
            headers: http::HeaderMap::new(),
            body: bytes::Bytes::copy_from_slice(body.as_bytes()),
            latency: Duration::from_millis(millis),
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut summary = RunSummary::default();
        for ms in (1..=100).rev() {
            summary.record(&answer(200, ms, ""));
        }
        assert_eq!(summary.percentile(50), Some(Duration::from_millis(50)));
        assert_eq!(summary.percentile(95), Some(Duration::from_millis(95)));
        assert_eq!(summary.percentile(100), Some(Duration::from_millis(100)));
        assert!(summary.all_succeeded());
        let text = summary.render(Duration::from_secs(2));
        assert!(text.contains("100 answered (200 x100)"), "{text}");
        assert!(
            text.contains("p50 50.0 ms, p95 95.0 ms, max 100.0 ms"),
            "{text}"
        );
        assert!(text.contains("50.0 messages/s"), "{text}");
    }

    #[test]
    fn one_refusal_or_lost_answer_fails_the_run() {
        let mut summary = RunSummary::default();
        summary.record(&answer(200, 1, ""));
        summary.record(&answer(401, 1, ""));
        assert!(!summary.all_succeeded());
        assert!(
            summary
                .render(Duration::from_secs(1))
                .contains("200 x1, 401 x1")
        );

        let mut summary = RunSummary::default();
        summary.record(&answer(200, 1, ""));
        summary.record_transport_failure();
        assert!(!summary.all_succeeded());
        assert!(!RunSummary::default().all_succeeded(), "no answer at all");
    }

    #[test]
    fn every_status_of_the_troubleshooting_table_has_its_own_hint() {
        let statuses = [400, 401, 403, 405, 413, 429, 500, 501, 502, 503];
        let hints: std::collections::HashSet<&str> = statuses.iter().map(|s| hint(*s)).collect();
        assert_eq!(hints.len(), statuses.len());
        assert!(hint(401).contains("REDOX_AUTH_METHODS"));
        // The throttle counts per source address (issue 21), not per client.
        assert!(hint(429).contains("this source address"), "{}", hint(429));
        assert!(!hint(429).contains("client authentications"));
        assert!(hint(503).contains("queue_unavailable"));
    }

    #[test]
    fn bodies_print_as_one_line() {
        let json = answer(401, 1, "{\n \"error\": \"unauthorized\"\n}");
        assert_eq!(body_for_display(&json), r#"{"error":"unauthorized"}"#);
        let html = answer(502, 1, "<html>\n<body>Bad Gateway</body></html>");
        assert_eq!(
            body_for_display(&html),
            "(not JSON) <html> <body>Bad Gateway</body></html>"
        );
        assert_eq!(body_for_display(&answer(405, 1, "")), "(empty body)");
    }
}
