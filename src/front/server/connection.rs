//! One connection's clock: which phase it is in, when that phase runs
//! out, and the socket wrapper that closes the connection when it does.
//!
//! hyper's own `header_read_timeout` starts when hyper begins waiting for
//! a head, which on a keep-alive connection is right after the previous
//! answer: it is an idle timeout in disguise, and a short one would close
//! connections the load balancer means to reuse (it then answers 502).
//! So the phases are tracked here, from the bytes that actually cross the
//! socket:
//!
//! - **idle** from accept, and from each answer, until the next request's
//!   first byte: closed after `REDOX_IDLE_TIMEOUT_SECS` (at once while
//!   draining);
//! - **head** from that first byte until hyper has parsed the head:
//!   closed after `REDOX_HEADER_TIMEOUT_MS`;
//! - **busy** while the request is answered: the request's own deadline
//!   (`REDOX_REQUEST_TIMEOUT_MS` from the first byte) answers it, so the
//!   socket only closes a little after that, as a backstop;
//! - **answering** from the decided answer until it is flushed to the
//!   socket, then idle again. Draining never cuts an answer short.
//!
//! [`TimedIo`] checks the current phase's deadline on every read and write
//! and fails the I/O once it has passed, which makes hyper drop the
//! connection; its timer wakes the connection task at the deadline, so a
//! silent client needs no other watchdog. [`Phase::deadline`] is pure.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Time a busy connection is given past its request's deadline to write
/// the answer that deadline produced, before the socket is closed anyway.
pub const ANSWER_GRACE: Duration = Duration::from_secs(2);

/// The timeouts one connection obeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub request_timeout: Duration,
}

/// Where a connection is between requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No request in progress, since `since` (accept, or the last answer).
    Idle { since: Instant },
    /// A request's head is arriving; its first byte came at `first_byte`.
    Head { first_byte: Instant },
    /// The request is being answered.
    Busy { first_byte: Instant },
    /// The answer was decided at `since` and is being written.
    Answering { since: Instant },
}

impl Phase {
    /// When a connection in this phase is closed. Draining closes idle
    /// connections at once; a request already under way may finish.
    pub fn deadline(self, limits: &ConnectionLimits, drain_started: Option<Instant>) -> Instant {
        match self {
            Phase::Idle { since } => {
                let idle_end = since + limits.idle_timeout;
                drain_started.map_or(idle_end, |drain| idle_end.min(drain))
            }
            Phase::Head { first_byte } => first_byte + limits.header_timeout,
            Phase::Busy { first_byte } => first_byte + limits.request_timeout + ANSWER_GRACE,
            Phase::Answering { since } => since + limits.idle_timeout,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Phase::Idle { .. } => "idle",
            Phase::Head { .. } => "head",
            Phase::Busy { .. } => "busy",
            Phase::Answering { .. } => "answering",
        }
    }
}

/// The server-wide moment draining began (set once, on SIGTERM).
#[derive(Debug, Default)]
pub struct DrainSignal {
    started: OnceLock<Instant>,
}

impl DrainSignal {
    pub fn start(&self, now: Instant) {
        let _ = self.started.set(now);
    }

    pub fn started(&self) -> Option<Instant> {
        self.started.get().copied()
    }
}

/// One connection's phase, shared by its socket wrapper and its requests.
#[derive(Debug)]
pub struct ConnectionClock {
    state: Mutex<ClockState>,
    limits: ConnectionLimits,
    drain: Arc<DrainSignal>,
}

#[derive(Debug)]
struct ClockState {
    phase: Phase,
    /// The phase whose deadline closed the connection, if one did.
    expired: Option<Phase>,
}

impl ConnectionClock {
    pub fn new(limits: ConnectionLimits, drain: Arc<DrainSignal>, accepted: Instant) -> Self {
        ConnectionClock {
            state: Mutex::new(ClockState {
                phase: Phase::Idle { since: accepted },
                expired: None,
            }),
            limits,
            drain,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ClockState> {
        // Nothing that holds the lock can panic; recover the value anyway.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn phase(&self) -> Phase {
        self.state().phase
    }

    /// When the connection is closed unless its phase changes first.
    pub fn deadline(&self) -> Instant {
        self.phase().deadline(&self.limits, self.drain.started())
    }

    /// Bytes arrived: on an idle connection they are a new request's first.
    pub fn bytes_arrived(&self, now: Instant) {
        let mut state = self.state();
        if let Phase::Idle { .. } = state.phase {
            state.phase = Phase::Head { first_byte: now };
        }
    }

    /// hyper parsed a head: the request is now answered. Returns the
    /// instant of its first byte, from which its deadline counts (`now`
    /// when its bytes were already buffered before the previous answer).
    pub fn request_started(&self, now: Instant) -> Instant {
        let mut state = self.state();
        let first_byte = match state.phase {
            Phase::Head { first_byte } | Phase::Busy { first_byte } => first_byte,
            Phase::Idle { .. } | Phase::Answering { .. } => now,
        };
        state.phase = Phase::Busy { first_byte };
        first_byte
    }

    /// The answer is decided; it is written next.
    pub fn request_finished(&self, now: Instant) {
        self.state().phase = Phase::Answering { since: now };
    }

    /// Everything written so far reached the socket: an answer being
    /// written is out, and the connection is idle until the next head.
    pub fn flushed(&self, now: Instant) {
        let mut state = self.state();
        if let Phase::Answering { .. } = state.phase {
            state.phase = Phase::Idle { since: now };
        }
    }

    /// Records that `phase` ran out.
    fn expire(&self) -> Phase {
        let mut state = self.state();
        let phase = state.phase;
        state.expired = Some(phase);
        phase
    }

    /// The phase whose deadline closed the connection, if one did.
    pub fn expired(&self) -> Option<Phase> {
        self.state().expired
    }
}

/// Marks the request finished when dropped, whether it was answered,
/// failed or panicked.
pub struct RequestInProgress(pub Arc<ConnectionClock>);

impl Drop for RequestInProgress {
    fn drop(&mut self) {
        self.0.request_finished(Instant::now());
    }
}

/// A socket that fails its I/O once its connection's deadline passes.
pub struct TimedIo<S> {
    inner: S,
    clock: Arc<ConnectionClock>,
    timer: Pin<Box<Sleep>>,
}

impl<S> TimedIo<S> {
    pub fn new(inner: S, clock: Arc<ConnectionClock>) -> Self {
        let timer = Box::pin(tokio::time::sleep_until(clock.deadline()));
        TimedIo {
            inner,
            clock,
            timer,
        }
    }

    /// `Err` once the current phase's deadline has passed; otherwise arms
    /// the timer so the task is woken when it does.
    fn check_deadline(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        let deadline = self.clock.deadline();
        if self.timer.deadline() != deadline {
            self.timer.as_mut().reset(deadline);
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            let phase = self.clock.expire();
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("the connection's {} time ran out", phase.name()),
            ));
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TimedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check_deadline(cx)?;
        let before = buf.filled().len();
        ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            self.clock.bytes_arrived(Instant::now());
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TimedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check_deadline(cx)?;
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.check_deadline(cx)?;
        Pin::new(&mut self.inner).poll_write_vectored(cx, data)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    /// hyper flushes once an answer is written out.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check_deadline(cx)?;
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        self.clock.flushed(Instant::now());
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMITS: ConnectionLimits = ConnectionLimits {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(75),
        request_timeout: Duration::from_secs(60),
    };

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test(start_paused = true)]
    async fn each_phase_has_its_own_deadline_and_the_head_counts_from_its_first_byte() {
        let t0 = Instant::now();
        let idle = Phase::Idle { since: t0 };
        assert_eq!(idle.deadline(&LIMITS, None), t0 + secs(75));
        assert_eq!(idle.deadline(&LIMITS, Some(t0 + secs(3))), t0 + secs(3));
        let head = Phase::Head {
            first_byte: t0 + secs(70),
        };
        // Not 10 s after the previous answer: 10 s after the first byte.
        assert_eq!(head.deadline(&LIMITS, None), t0 + secs(80));
        assert_eq!(head.deadline(&LIMITS, Some(t0)), t0 + secs(80));
        let busy = Phase::Busy { first_byte: t0 };
        assert_eq!(busy.deadline(&LIMITS, None), t0 + secs(60) + ANSWER_GRACE);
        // An answer decided while draining is still written.
        let answering = Phase::Answering {
            since: t0 + secs(5),
        };
        assert_eq!(answering.deadline(&LIMITS, Some(t0)), t0 + secs(80));
    }

    #[tokio::test(start_paused = true)]
    async fn the_clock_follows_the_bytes_and_the_requests() {
        let t0 = Instant::now();
        let clock = ConnectionClock::new(LIMITS, Arc::default(), t0);
        clock.bytes_arrived(t0 + secs(5));
        assert_eq!(
            clock.phase(),
            Phase::Head {
                first_byte: t0 + secs(5)
            }
        );
        clock.bytes_arrived(t0 + secs(6));
        assert_eq!(clock.request_started(t0 + secs(7)), t0 + secs(5));
        // Body bytes do not restart anything.
        clock.bytes_arrived(t0 + secs(8));
        assert_eq!(
            clock.phase(),
            Phase::Busy {
                first_byte: t0 + secs(5)
            }
        );
        clock.request_finished(t0 + secs(9));
        assert_eq!(
            clock.phase(),
            Phase::Answering {
                since: t0 + secs(9)
            }
        );
        // Bytes arriving before the answer is out are not a new head.
        clock.bytes_arrived(t0 + secs(9));
        clock.flushed(t0 + secs(10));
        assert_eq!(clock.deadline(), t0 + secs(10 + 75));
        // A pipelined head parsed from the buffer starts when it is parsed.
        assert_eq!(clock.request_started(t0 + secs(11)), t0 + secs(11));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_socket_fails_at_the_idle_deadline_and_a_half_head_at_the_header_deadline() {
        let (client, server) = tokio::io::duplex(1024);
        let clock = Arc::new(ConnectionClock::new(LIMITS, Arc::default(), Instant::now()));
        let mut io = TimedIo::new(server, clock.clone());
        let started = Instant::now();
        let mut buf = [0u8; 64];
        let error = io.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), secs(75));
        assert_eq!(clock.expired().map(Phase::name), Some("idle"));

        let (mut client2, server2) = tokio::io::duplex(1024);
        let clock = Arc::new(ConnectionClock::new(LIMITS, Arc::default(), Instant::now()));
        let mut io = TimedIo::new(server2, clock.clone());
        tokio::time::sleep(secs(30)).await;
        client2.write_all(b"POST / HT").await.unwrap();
        let started = Instant::now();
        assert_eq!(io.read(&mut buf).await.unwrap(), 9);
        let error = io.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), secs(10));
        assert_eq!(clock.expired().map(Phase::name), Some("head"));
        drop(client);
    }

    #[tokio::test(start_paused = true)]
    async fn draining_closes_an_idle_connection_at_once() {
        let (_client, server) = tokio::io::duplex(1024);
        let drain = Arc::new(DrainSignal::default());
        let clock = Arc::new(ConnectionClock::new(LIMITS, drain.clone(), Instant::now()));
        let mut io = TimedIo::new(server, clock);
        tokio::time::sleep(secs(1)).await;
        drain.start(Instant::now());
        let started = Instant::now();
        let mut buf = [0u8; 8];
        let error = io.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::ZERO);
    }
}
