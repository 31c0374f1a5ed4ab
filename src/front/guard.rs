//! A panic while answering one request becomes that request's answer.
//!
//! Both front doors run each request inside [`catch_panic`]; a panic turns
//! into [`Refusal::Internal`](crate::destination::Refusal::Internal), a 500
//! `internal_error` with `Retry-After`, nothing is queued, and the process
//! keeps serving. [`install_panic_hook`] keeps the panic's message out of
//! the log: it can quote the input that caused it (a slicing panic prints
//! the string), and input may hold a token or PHI.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::task::Poll;

/// The future panicked; its payload is dropped unread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panicked;

/// Runs `future`, turning a panic in any of its polls into `Err(Panicked)`.
pub async fn catch_panic<F: Future>(future: F) -> Result<F::Output, Panicked> {
    let mut future = Box::pin(future);
    std::future::poll_fn(move |cx| {
        // The future is dropped right after a panic, so no state it may
        // have left half-updated is observed again.
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(output)) => Poll::Ready(Ok(output)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(Err(Panicked)),
        }
    })
    .await
}

/// Logs where a panic happened, never its message.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        tracing::error!(%location, "panic (message withheld: it may quote request data)");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_a_later_poll_is_caught() {
        let result = catch_panic(async {
            tokio::task::yield_now().await;
            let values: Vec<u8> = Vec::new();
            if values.is_empty() {
                panic!("deliberate");
            }
            1
        })
        .await;
        assert_eq!(result, Err(Panicked));
        assert_eq!(catch_panic(async { 7 }).await, Ok(7));
    }
}
