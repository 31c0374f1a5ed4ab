//! A step counter for the parsers that run before a request is
//! authenticated, so that tests can hold their work to a constant per
//! input byte: an unauthenticated caller must not buy more CPU than it
//! sends (issue 21: a 16 KiB form of 5,461 names once cost 250 times what
//! one pair of the same size did).
//!
//! A step is one byte examined, or one item stored or looked up. Each loop
//! over outside input in those parsers counts its steps here as it goes,
//! nested loops included (that is where super-linear work hides); a call
//! into a linear library parser (serde_json, base64) counts its input's
//! length. The count is a thread-local cell, a few instructions per call;
//! nothing in production reads it.

use std::cell::Cell;

thread_local! {
    static STEPS: Cell<u64> = const { Cell::new(0) };
}

/// Counts `steps` units of work on this thread.
#[inline]
pub fn count(steps: usize) {
    STEPS.with(|cell| {
        cell.set(
            cell.get()
                .saturating_add(u64::try_from(steps).unwrap_or(u64::MAX)),
        )
    });
}

/// Runs `f` and returns its result with the steps it counted on this thread.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, u64) {
    let before = STEPS.with(Cell::get);
    let result = f();
    let after = STEPS.with(Cell::get);
    (result, after.saturating_sub(before))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_counted_per_thread_and_per_measure() {
        let ((), outer) = measure(|| {
            count(3);
            let ((), inner) = measure(|| count(4));
            assert_eq!(inner, 4);
            std::thread::spawn(|| count(1000))
                .join()
                .unwrap_or_default();
        });
        assert_eq!(outer, 7);
    }
}
