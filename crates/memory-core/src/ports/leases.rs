//! [`Leases`]: one holder at a time, across every process sharing the store.

use std::time::Duration;

use async_trait::async_trait;

use crate::error::RepositoryError;

/// Named leases in the store, so that work meant to run once for the whole fleet (the
/// retention scheduler) runs in one server process at a time however many replicas share
/// the store, without a leader of our own making.
///
/// Contract (checked by [`crate::testkit`], module `leases`): `try_lease` gives the lease
/// `name` to `holder` for `ttl`, measured by the store's clock (one clock for every process),
/// when it is free (never taken, or expired) or already `holder`'s (which renews it), and
/// answers whether `holder` holds it now. Two holders never hold one lease at once, however
/// their calls interleave; leases of other names are independent. `release_lease` frees it
/// at once when `holder` holds it, and does nothing otherwise.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Leases: Send + Sync + 'static {
    /// Takes or renews `name` for `holder`; see the trait's contract.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, RepositoryError>;
    /// Frees `name` if `holder` holds it.
    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), RepositoryError>;
}
