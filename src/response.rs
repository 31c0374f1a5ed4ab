//! The HTTP answer every front door sends back, built in one place.
//!
//! The decision table of the specification maps onto these constructors; the
//! front doors only translate an [`HttpResponse`] into their own wire format.

/// A finished HTTP response: status, headers and a text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl HttpResponse {
    /// A JSON body with `nosniff`, so no client ever guesses another type.
    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        HttpResponse {
            status,
            headers: vec![
                ("content-type", "application/json".into()),
                ("x-content-type-options", "nosniff".into()),
                ("cache-control", "no-store".into()),
            ],
            body: body.to_string(),
        }
    }

    /// `{"error": code, "message": text}` with the given status.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        Self::json(
            status,
            &serde_json::json!({ "error": code, "message": message }),
        )
    }

    /// Plain text that browsers must not sniff into HTML.
    pub fn plain_text(status: u16, body: String) -> Self {
        HttpResponse {
            status,
            headers: vec![
                ("content-type", "text/plain; charset=utf-8".into()),
                ("x-content-type-options", "nosniff".into()),
                ("cache-control", "no-store".into()),
            ],
            body,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The value of a header (test and log helper).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}
