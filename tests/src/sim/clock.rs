//! The virtual clock: every time a device stamps on a record comes from here, and the scheduler
//! moves it forward between steps. Nothing in a schedule reads the wall clock to decide
//! anything, and nothing waits on it (the sync client's retries pause for zero time).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use fieldbook_core::store::Clock;

#[derive(Debug, Clone)]
pub struct VirtualClock(Arc<AtomicI64>);

impl VirtualClock {
    /// Starts at `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(Arc::new(AtomicI64::new(start.timestamp())))
    }

    pub fn now(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.0.load(Ordering::SeqCst), 0).unwrap_or_default()
    }

    pub fn advance(&self, seconds: i64) {
        self.0.fetch_add(seconds, Ordering::SeqCst);
    }

    /// The clock a device's store stamps with.
    pub fn store_clock(&self) -> Clock {
        let clock = self.clone();
        Box::new(move || clock.now())
    }
}
