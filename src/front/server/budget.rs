//! The memory budget for request bodies held at once
//! (`REDOX_BODY_MEMORY_BYTES`).
//!
//! A body is read into memory whole (its bytes are signed, classified and
//! uploaded as one value), so without a bound a few concurrent 40 MB
//! pushes would outgrow the task and be killed by the kernel, taking every
//! other request in flight with them. Each body reserves here what has
//! arrived of it (in steps, never what its head declares, so a head alone
//! holds nothing), and holds it until its answer is decided; a body that
//! does not fit waits, up to a bound its caller chooses, and is then
//! refused (503 with `Retry-After`: Redox retries) rather than read.
//!
//! Bodies up to [`FREE_ALLOWANCE`] reserve nothing: their memory is part
//! of each connection's fixed share (`limits.rs`), so handshakes and token
//! requests never queue behind large pushes.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Bodies up to this size are covered by their connection's fixed share.
pub const FREE_ALLOWANCE: usize = 64 * 1024;

/// The budget counts KiB: a semaphore permit per KiB keeps every count in
/// `u32` for budgets up to terabytes.
const UNIT: usize = 1024;

/// Memory for bodies in flight, shared by every connection.
#[derive(Clone)]
pub struct BodyBudget {
    units: Arc<Semaphore>,
    bytes: usize,
}

/// What one body holds of the budget; released when dropped.
#[derive(Default)]
pub struct Reservation {
    permit: Option<OwnedSemaphorePermit>,
}

/// The body did not fit in the budget within the wait allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetFull;

impl BodyBudget {
    pub fn new(bytes: usize) -> BodyBudget {
        BodyBudget {
            units: Arc::new(Semaphore::new(units_for(bytes))),
            bytes,
        }
    }

    /// What a body of `total` bytes takes from the budget.
    pub fn charged(total: usize) -> usize {
        if total <= FREE_ALLOWANCE { 0 } else { total }
    }

    /// The budget's size in bytes.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Grows `reservation` so that it covers a body of `total` bytes,
    /// waiting until `wait_until` at most for others to release theirs.
    /// Waiters are served in arrival order, so a large body is not
    /// starved by a stream of smaller ones.
    pub async fn reserve(
        &self,
        reservation: &mut Reservation,
        total: usize,
        wait_until: Instant,
    ) -> Result<(), BudgetFull> {
        let needed = if total <= FREE_ALLOWANCE {
            0
        } else {
            units_for(total)
        };
        let held = reservation
            .permit
            .as_ref()
            .map_or(0, OwnedSemaphorePermit::num_permits);
        let Some(more) = needed.checked_sub(held).filter(|more| *more > 0) else {
            return Ok(());
        };
        let more = u32::try_from(more).map_err(|_| BudgetFull)?;
        let acquire = self.units.clone().acquire_many_owned(more);
        let permit = match tokio::time::timeout_at(wait_until, acquire).await {
            Ok(Ok(permit)) => permit,
            // Timed out, or the semaphore was closed (it never is).
            _ => return Err(BudgetFull),
        };
        match &mut reservation.permit {
            Some(held) => held.merge(permit),
            None => reservation.permit = Some(permit),
        }
        Ok(())
    }

    /// Bytes currently free (for tests and the start-up line).
    pub fn available(&self) -> usize {
        self.units.available_permits().saturating_mul(UNIT)
    }
}

fn units_for(bytes: usize) -> usize {
    bytes.div_ceil(UNIT)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIB: usize = 1024 * 1024;

    #[tokio::test(start_paused = true)]
    async fn a_body_that_does_not_fit_waits_then_is_refused_and_fits_once_memory_frees() {
        let budget = BodyBudget::new(10 * MIB);
        let mut first = Reservation::default();
        budget
            .reserve(&mut first, 8 * MIB, Instant::now())
            .await
            .unwrap();
        assert_eq!(budget.available(), 2 * MIB);

        let mut second = Reservation::default();
        let started = Instant::now();
        let wait = Duration::from_secs(2);
        let refused = budget.reserve(&mut second, 3 * MIB, started + wait).await;
        assert_eq!(refused, Err(BudgetFull));
        assert_eq!(started.elapsed(), wait, "waited exactly the bound");
        assert_eq!(budget.available(), 2 * MIB, "a refused wait holds nothing");

        drop(first);
        assert_eq!(budget.available(), 10 * MIB);
        budget
            .reserve(&mut second, 3 * MIB, Instant::now())
            .await
            .unwrap();
        assert_eq!(budget.available(), 7 * MIB);
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_body_gets_memory_as_soon_as_it_is_released() {
        let budget = BodyBudget::new(10 * MIB);
        let mut first = Reservation::default();
        budget
            .reserve(&mut first, 10 * MIB, Instant::now())
            .await
            .unwrap();
        let waiter = {
            let budget = budget.clone();
            tokio::spawn(async move {
                let mut second = Reservation::default();
                let until = Instant::now() + Duration::from_secs(5);
                budget
                    .reserve(&mut second, 4 * MIB, until)
                    .await
                    .map(|_| second)
            })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        drop(first);
        let second = waiter.await.unwrap().unwrap();
        assert_eq!(budget.available(), 6 * MIB);
        drop(second);
        assert_eq!(budget.available(), 10 * MIB);
    }

    #[tokio::test(start_paused = true)]
    async fn a_growing_body_reserves_only_the_difference_and_small_bodies_nothing() {
        let budget = BodyBudget::new(10 * MIB);
        let mut growing = Reservation::default();
        let now = Instant::now();
        budget
            .reserve(&mut growing, FREE_ALLOWANCE, now)
            .await
            .unwrap();
        assert_eq!(budget.available(), 10 * MIB, "small bodies are free");
        budget.reserve(&mut growing, MIB, now).await.unwrap();
        assert_eq!(budget.available(), 9 * MIB);
        budget.reserve(&mut growing, 4 * MIB, now).await.unwrap();
        assert_eq!(budget.available(), 6 * MIB);
        // Asking for less than is held changes nothing.
        budget.reserve(&mut growing, 2 * MIB, now).await.unwrap();
        assert_eq!(budget.available(), 6 * MIB);
        drop(growing);
        assert_eq!(budget.available(), 10 * MIB);
    }
}
