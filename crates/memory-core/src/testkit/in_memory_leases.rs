//! [`Leases`] for the [`InMemoryStore`]: a map of holders and expiry instants (one process,
//! one clock).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::InMemoryStore;
use crate::error::RepositoryError;
use crate::ports::Leases;

/// Lease name → (holder, expires).
#[derive(Debug, Default)]
pub(super) struct LeaseTable(Mutex<HashMap<String, (String, Instant)>>);

#[async_trait]
impl Leases for InMemoryStore {
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, RepositoryError> {
        let mut leases = self.leases.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let free = leases
            .get(name)
            .is_none_or(|(h, expires)| h == holder || *expires <= now);
        if free {
            leases.insert(name.to_owned(), (holder.to_owned(), now + ttl));
        }
        Ok(free)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), RepositoryError> {
        let mut leases = self.leases.0.lock().unwrap_or_else(PoisonError::into_inner);
        if leases.get(name).is_some_and(|(h, _)| h == holder) {
            leases.remove(name);
        }
        Ok(())
    }
}
