//! What to do when `accept` fails, and what to log about it.
//!
//! A listener whose process is out of descriptors or memory (EMFILE,
//! ENFILE, ENOBUFS, ENOMEM) stays readable while `accept` keeps failing,
//! so retrying at once spins a core and writes a log line per attempt
//! (issue 20 measured 277,720 lines in one second). Such errors back off:
//! 10 ms, doubling to 500 ms, and the accept loop also retries as soon as
//! one of its own connections closes (that is what frees a descriptor
//! most often). An error that concerns only the connection being accepted
//! (aborted or reset while queued, or a network error Linux reports
//! through `accept`) is retried at once: the next one is unrelated.
//!
//! Logging is per burst, not per attempt: the first failure, a reminder
//! at most once a minute while failures go on, and one summary with the
//! count once accepting has worked for [`QUIET_PERIOD`]. A burst does not
//! end at the first success: when descriptors run short under churn, each
//! freed descriptor lets one accept through before the next fails, and
//! ending the burst there would log two lines per connection again.
//! [`AcceptFailures`] is pure: the caller passes the clock.

use std::io;
use std::time::Duration;

use tokio::time::Instant;

/// The first pause after a resource error.
pub const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest pause between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// While a burst goes on, a reminder is logged at most this often.
pub const REMINDER_INTERVAL: Duration = Duration::from_secs(60);
/// A burst is over once a connection is accepted this long after its last
/// failure.
pub const QUIET_PERIOD: Duration = Duration::from_secs(1);

/// Whether an accept error concerns the process or only one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptErrorKind {
    /// The queued connection died before it was accepted: retry at once.
    ConnectionGone,
    /// The process is short of something (descriptors, buffers, memory),
    /// or the error is unknown: back off.
    Resources,
}

/// Sorts an `accept` error by what it says about the process.
pub fn classify(error: &io::Error) -> AcceptErrorKind {
    use io::ErrorKind::*;
    match error.kind() {
        ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | PermissionDenied
        | HostUnreachable | NetworkUnreachable | NetworkDown | ConnectionRefused | TimedOut => {
            AcceptErrorKind::ConnectionGone
        }
        _ => AcceptErrorKind::Resources,
    }
}

/// What the accept loop does after one failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcceptRetry {
    /// Pause before the next attempt (zero: at once).
    pub delay: Duration,
    pub log: Option<BurstLog>,
}

/// A log line about a burst of failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BurstLog {
    /// The burst's first failure.
    Started,
    /// Failures go on: how many so far, for how long.
    StillFailing { failures: u64, lasted: Duration },
}

/// A finished burst, logged once accepting works again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BurstSummary {
    pub failures: u64,
    pub lasted: Duration,
}

/// The accept loop's failures since it last accepted a connection.
#[derive(Debug, Default)]
pub struct AcceptFailures {
    burst: Option<Burst>,
}

#[derive(Debug)]
struct Burst {
    started: Instant,
    last_failure: Instant,
    failures: u64,
    backoff: Duration,
    reported: Instant,
}

impl AcceptFailures {
    /// Records one failed `accept` at `now`.
    pub fn failed(&mut self, kind: AcceptErrorKind, now: Instant) -> AcceptRetry {
        let Some(burst) = &mut self.burst else {
            self.burst = Some(Burst {
                started: now,
                last_failure: now,
                failures: 1,
                backoff: FIRST_BACKOFF,
                reported: now,
            });
            return AcceptRetry {
                delay: delay_for(kind, FIRST_BACKOFF),
                log: Some(BurstLog::Started),
            };
        };
        burst.failures += 1;
        burst.last_failure = now;
        if kind == AcceptErrorKind::Resources {
            burst.backoff = (burst.backoff * 2).min(MAX_BACKOFF);
        }
        let log = (now.saturating_duration_since(burst.reported) >= REMINDER_INTERVAL).then(|| {
            burst.reported = now;
            BurstLog::StillFailing {
                failures: burst.failures,
                lasted: now.saturating_duration_since(burst.started),
            }
        });
        AcceptRetry {
            delay: delay_for(kind, burst.backoff),
            log,
        }
    }

    /// A connection was accepted at `now`: the burst, if any, is over when
    /// its last failure is [`QUIET_PERIOD`] old; until then accepting
    /// works again at once, but a failure still belongs to the same burst.
    pub fn accepted(&mut self, now: Instant) -> Option<BurstSummary> {
        let burst = self.burst.as_mut()?;
        if now.saturating_duration_since(burst.last_failure) < QUIET_PERIOD {
            burst.backoff = FIRST_BACKOFF;
            return None;
        }
        let burst = self.burst.take()?;
        Some(BurstSummary {
            failures: burst.failures,
            lasted: now.saturating_duration_since(burst.started),
        })
    }
}

fn delay_for(kind: AcceptErrorKind, backoff: Duration) -> Duration {
    match kind {
        AcceptErrorKind::ConnectionGone => Duration::ZERO,
        AcceptErrorKind::Resources => backoff,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os_error(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn descriptor_and_memory_errors_back_off_and_dead_connections_do_not() {
        // Linux errno values: EMFILE, ENFILE, ENOBUFS, ENOMEM.
        for code in [24, 23, 105, 12] {
            assert_eq!(
                classify(&os_error(code)),
                AcceptErrorKind::Resources,
                "{code}"
            );
        }
        // ECONNABORTED, EINTR, EAGAIN, EPERM (a firewall), ENETUNREACH.
        for code in [103, 4, 11, 1, 101] {
            assert_eq!(
                classify(&os_error(code)),
                AcceptErrorKind::ConnectionGone,
                "{code}"
            );
        }
    }

    #[test]
    fn a_burst_is_logged_once_backs_off_to_the_cap_and_is_summarised_once() {
        let mut failures = AcceptFailures::default();
        let t0 = Instant::now();
        let first = failures.failed(AcceptErrorKind::Resources, t0);
        assert_eq!(first.delay, FIRST_BACKOFF);
        assert_eq!(first.log, Some(BurstLog::Started));
        let mut now = t0;
        let mut lines = 0;
        let mut delays = Vec::new();
        // A minute of failures at the pace the back-off allows.
        for _ in 0..200 {
            let retry = failures.failed(AcceptErrorKind::Resources, now);
            lines += usize::from(retry.log.is_some());
            delays.push(retry.delay);
            now += retry.delay;
        }
        assert_eq!(delays[0], FIRST_BACKOFF * 2);
        assert!(delays.windows(2).all(|w| w[0] <= w[1]), "{delays:?}");
        assert_eq!(delays.last(), Some(&MAX_BACKOFF));
        assert!(lines <= 2, "{lines} reminders in {:?}", now - t0);
        let last_failure = now - *delays.last().expect("delays");
        let later = last_failure + QUIET_PERIOD;
        let summary = failures.accepted(later).expect("a burst to summarise");
        assert_eq!(summary.failures, 201);
        assert_eq!(summary.lasted, later - t0);
        assert_eq!(failures.accepted(later), None, "summarised once");
    }

    #[test]
    fn a_dead_connection_is_retried_at_once_but_still_counted() {
        let mut failures = AcceptFailures::default();
        let t0 = Instant::now();
        let retry = failures.failed(AcceptErrorKind::ConnectionGone, t0);
        assert_eq!(retry.delay, Duration::ZERO);
        assert_eq!(retry.log, Some(BurstLog::Started));
        let again = failures.failed(AcceptErrorKind::ConnectionGone, t0);
        assert_eq!((again.delay, again.log), (Duration::ZERO, None));
        assert_eq!(
            failures.accepted(t0 + QUIET_PERIOD).map(|s| s.failures),
            Some(2)
        );
    }

    #[test]
    fn churn_after_a_burst_stays_in_that_burst() {
        // Each freed descriptor lets one accept through, then the next
        // fails: one burst, one start line, one summary.
        let mut failures = AcceptFailures::default();
        let t0 = Instant::now();
        let mut now = t0;
        let mut starts = 0;
        let mut summaries = 0;
        for _ in 0..100 {
            let retry = failures.failed(AcceptErrorKind::Resources, now);
            starts += usize::from(retry.log == Some(BurstLog::Started));
            now += Duration::from_millis(5);
            summaries += usize::from(failures.accepted(now).is_some());
            now += Duration::from_millis(5);
        }
        assert_eq!((starts, summaries), (1, 0));
        let summary = failures.accepted(now + QUIET_PERIOD).expect("the summary");
        assert_eq!(summary.failures, 100);
    }

    #[test]
    fn a_long_burst_reminds_once_a_minute() {
        let mut failures = AcceptFailures::default();
        let t0 = Instant::now();
        failures.failed(AcceptErrorKind::Resources, t0);
        let quiet = failures.failed(AcceptErrorKind::Resources, t0 + Duration::from_secs(59));
        assert_eq!(quiet.log, None);
        let reminder = failures.failed(AcceptErrorKind::Resources, t0 + Duration::from_secs(61));
        assert_eq!(
            reminder.log,
            Some(BurstLog::StillFailing {
                failures: 3,
                lasted: Duration::from_secs(61)
            })
        );
    }
}
