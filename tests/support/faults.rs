//! The fault-injecting proxy (`tests/fault_proxy.py`) between the AWS SDK
//! and moto, started as a child process, and a small typed client for its
//! control API (`/__faults__/...`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{ChildGuard, Moto, http_request, repo_root, venv_bin};

/// AWS actions the tests aim faults at (any action the proxy recognises
/// works; `"*"` matches every action).
pub const SEND_MESSAGE: &str = "SendMessage";
pub const PUT_OBJECT: &str = "PutObject";
pub const DELETE_OBJECT: &str = "DeleteObject";
pub const GET_SECRET_VALUE: &str = "GetSecretValue";

/// What the proxy does to a matching request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A 500 with the protocol's error body; not forwarded.
    Error500,
    /// A definite refusal (SQS `QueueDoesNotExist`, S3 403 `AccessDenied`,
    /// Secrets Manager `AccessDeniedException`); not forwarded.
    Error400,
    /// The protocol's throttling error (SQS 400 `ThrottlingException` with
    /// `x-amzn-query-error: RequestThrottled;Sender`, S3 503 `SlowDown`,
    /// Secrets Manager 400 `ThrottlingException`); not forwarded.
    Throttle,
    /// The connection is closed without forwarding or answering.
    Drop,
    /// The connection is held for the delay without forwarding, then closed.
    Hang,
    /// Waits for the delay, then forwards and answers normally.
    SlowBeforeCommit,
    /// Forwards (the upstream commits), then closes without answering.
    DropAfterCommit,
    /// Forwards, waits for the delay, then answers.
    LateAfterCommit,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Error500 => "error500",
            Kind::Error400 => "error400",
            Kind::Throttle => "throttle",
            Kind::Drop => "drop",
            Kind::Hang => "hang",
            Kind::SlowBeforeCommit => "slow_before_commit",
            Kind::DropAfterCommit => "drop_after_commit",
            Kind::LateAfterCommit => "late_after_commit",
        }
    }

    /// Whether the upstream may have acted on a request whose answer the
    /// client never saw (so a retry can store a second copy).
    pub fn ambiguous(self) -> bool {
        matches!(
            self,
            Kind::SlowBeforeCommit | Kind::DropAfterCommit | Kind::LateAfterCommit
        )
    }
}

/// One fault rule.
#[derive(Debug, Clone)]
pub struct Fault {
    pub action: String,
    pub kind: Kind,
    /// How many matching requests it applies to; -1 is every one.
    pub count: i64,
    pub delay: Duration,
    /// Only requests whose scope (path, queue URL, secret id, RedoxLogId)
    /// contains this.
    pub matching: Option<String>,
}

impl Fault {
    pub fn new(action: &str, kind: Kind) -> Fault {
        Fault {
            action: action.into(),
            kind,
            count: -1,
            delay: Duration::ZERO,
            matching: None,
        }
    }
    pub fn count(mut self, count: i64) -> Fault {
        self.count = count;
        self
    }
    pub fn delay(mut self, delay: Duration) -> Fault {
        self.delay = delay;
        self
    }
    pub fn matching(mut self, scope: &str) -> Fault {
        self.matching = Some(scope.into());
        self
    }
}

/// What the proxy saw for one action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ActionStats {
    pub seen: u64,
    pub forwarded: u64,
    pub faults: u64,
}

/// What the proxy recorded for one request.
#[derive(Debug, Clone)]
pub struct Record {
    pub action: String,
    /// The fault kind injected, if any.
    pub fault: Option<String>,
    /// Whether it reached the upstream (moto).
    pub forwarded: bool,
    /// The status answered (or moto's, when the answer was dropped).
    pub status: Option<u16>,
    /// From arrival until the answer was written or the connection closed.
    pub total: Option<Duration>,
    /// Arrival, in seconds since the Unix epoch.
    pub started: f64,
}

/// Per-action counts.
#[derive(Debug, Clone, Default)]
pub struct Stats(pub HashMap<String, ActionStats>);

impl Stats {
    pub fn get(&self, action: &str) -> ActionStats {
        self.0.get(action).copied().unwrap_or_default()
    }
}

/// The proxy, killed when dropped.
pub struct FaultProxy {
    pub port: u16,
    upstream_env: Vec<(String, String)>,
    log: tempfile::NamedTempFile,
    _child: ChildGuard,
}

impl FaultProxy {
    /// Starts the proxy in front of `moto` and waits until it listens.
    pub fn start(moto: &Moto) -> FaultProxy {
        let python = venv_bin("python");
        let log = tempfile::NamedTempFile::new().expect("proxy log file");
        let mut child = Command::new(python)
            .arg(repo_root().join("tests/fault_proxy.py"))
            .args(["--upstream", &moto.endpoint(), "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("proxy log file"))
            .spawn()
            .expect("start tests/fault_proxy.py");
        let stdout = child.stdout.take().expect("proxy stdout");
        let mut guard = ChildGuard(child);
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line);
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port.filter(|_| read.is_ok()) else {
            let status = guard.0.try_wait().ok().flatten();
            panic!(
                "tests/fault_proxy.py did not start (exit status {status:?}, first line {line:?}): {}",
                std::fs::read_to_string(log.path()).unwrap_or_default()
            );
        };
        FaultProxy {
            port,
            upstream_env: moto.aws_env(),
            log,
            _child: guard,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Like [`Moto::aws_env`], with the SDK pointed at the proxy.
    pub fn aws_env(&self) -> Vec<(String, String)> {
        self.upstream_env
            .iter()
            .map(|(name, value)| {
                if name == "AWS_ENDPOINT_URL" {
                    (name.clone(), self.endpoint())
                } else {
                    (name.clone(), value.clone())
                }
            })
            .collect()
    }

    /// Adds a rule for the next `count` requests of `action` (-1: all).
    pub fn inject(&self, action: &str, kind: Kind, count: i64, delay: Duration) {
        self.add(&Fault::new(action, kind).count(count).delay(delay));
    }

    /// Adds a rule.
    pub fn add(&self, fault: &Fault) {
        let rule = serde_json::json!({
            "action": fault.action,
            "kind": fault.kind.as_str(),
            "count": fault.count,
            "delay_ms": fault.delay.as_millis() as u64,
            "match": fault.matching,
        });
        let answer = http_request(
            self.port,
            "POST",
            "/__faults__/rules",
            &[("content-type", "application/json")],
            rule.to_string().as_bytes(),
        );
        assert_eq!(answer.status, 200, "adding {rule}: {}", answer.text());
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let answer = http_request(self.port, "DELETE", "/__faults__/rules", &[], b"");
        assert_eq!(answer.status, 200, "{}", answer.text());
    }

    /// Counts over every request so far.
    pub fn stats(&self) -> Stats {
        self.stats_query("/__faults__/stats")
    }

    /// Counts over the requests whose scope contains `scope` (a queue URL
    /// or name, a bucket, a secret id, or `RedoxLogId=<id>`).
    pub fn stats_matching(&self, scope: &str) -> Stats {
        self.stats_query(&format!("/__faults__/stats?match={}", query_escape(scope)))
    }

    fn stats_query(&self, target: &str) -> Stats {
        let answer = http_request(self.port, "GET", target, &[], b"");
        assert_eq!(answer.status, 200, "{}", answer.text());
        let value = answer.json();
        let map = value
            .as_object()
            .expect("stats are an object")
            .iter()
            .map(|(action, counts)| {
                let n = |field: &str| counts[field].as_u64().unwrap_or(0);
                (
                    action.clone(),
                    ActionStats {
                        seen: n("seen"),
                        forwarded: n("forwarded"),
                        faults: n("faults"),
                    },
                )
            })
            .collect();
        Stats(map)
    }

    /// The proxy's record of every request whose scope contains `scope`,
    /// oldest first.
    pub fn log_matching(&self, scope: &str) -> Vec<Record> {
        let target = format!("/__faults__/log?match={}", query_escape(scope));
        let answer = http_request(self.port, "GET", &target, &[], b"");
        assert_eq!(answer.status, 200, "{}", answer.text());
        let entries = answer.json();
        entries
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .map(|e| Record {
                        action: e["action"].as_str().unwrap_or_default().to_owned(),
                        fault: e["fault"].as_str().map(str::to_owned),
                        forwarded: e["forwarded"].as_bool().unwrap_or(false),
                        status: e["status"].as_u64().map(|s| s as u16),
                        total: e["total_ms"].as_u64().map(Duration::from_millis),
                        started: e["started"].as_f64().unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The requests whose scope contains `scope`, oldest first, each as
    /// `+arrival_ms action:fault:status:took_ms` (`-` when there was none),
    /// for failure messages.
    pub fn trace_matching(&self, scope: &str) -> String {
        let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let records = self.log_matching(scope);
        let first = records.first().map(|r| r.started).unwrap_or_default();
        records
            .iter()
            .map(|r| {
                format!(
                    "+{} {}:{}:{}:{}",
                    ((r.started - first) * 1000.0).round() as u64,
                    r.action,
                    dash(r.fault.clone()),
                    dash(r.status.map(|s| s.to_string())),
                    dash(r.total.map(|t| t.as_millis().to_string()))
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The proxy's own log (one line per request), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }
}

fn query_escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Waits for `interval` between polls of `check` until it holds or
/// `timeout` passes; returns whether it held.
pub fn eventually(timeout: Duration, interval: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(interval);
    }
}
