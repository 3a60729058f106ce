//! [`Clock`]: the time, as a port so tests control it.

use chrono::{DateTime, Utc};

/// The time. Every timestamp the service writes (`created_at`, `updated_at`, archive and
/// policy times) comes from here.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}
