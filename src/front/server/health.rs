//! `GET /healthz`, the load balancer's health check (server mode only).
//!
//! Answered by the front door itself: no AWS call, no authentication, no
//! log line (a target group checks every few seconds), and nothing about
//! the process in the answer (no version, no configuration). `503` once
//! draining after SIGTERM, so the load balancer stops sending requests
//! here; any method but GET is `405`.

use crate::response::HttpResponse;

/// The health check's path.
pub const HEALTH_PATH: &str = "/healthz";

/// The answer to a request for [`HEALTH_PATH`].
pub fn health_answer(method: &str, draining: bool) -> HttpResponse {
    match (method, draining) {
        ("GET", false) => HttpResponse::plain_text(200, "ok".into()),
        ("GET", true) => HttpResponse::plain_text(503, "draining".into()),
        _ => HttpResponse::error(405, "method_not_allowed", "Use GET.").with_header("allow", "GET"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ok_while_serving_503_while_draining_405_for_other_methods() {
        let ok = health_answer("GET", false);
        assert_eq!((ok.status, ok.body.as_str()), (200, "ok"));
        assert_eq!(ok.header("content-type"), Some("text/plain; charset=utf-8"));
        assert_eq!(health_answer("GET", true).status, 503);
        for method in ["POST", "HEAD", "PUT", "DELETE", "get"] {
            let refused = health_answer(method, false);
            assert_eq!(refused.status, 405, "{method}");
            assert_eq!(refused.header("allow"), Some("GET"));
        }
    }
}
