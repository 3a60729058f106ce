//! [`RetentionStore`]: archiving, purging and per-tenant policies.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::TenantId;
use crate::error::RepositoryError;
use crate::retention::{ArchiveRule, RetentionPolicy};

/// What retention needs of a store.
///
/// Contract (checked by [`crate::testkit`], module `retention`):
/// - `archive` marks every message of the tenant matching the rule archived (keeping a copy
///   in the archive) and returns how many; with `dry_run` it returns the same count and
///   changes nothing. [`ArchiveRule::matches`] is the rule in Rust.
/// - `purge_archived` deletes the tenant's messages archived before the cut-off (the archive
///   copy and the message) and returns how many; `dry_run` as above.
/// - `put_policy` creates or replaces the tenant's policy, stamped `at`; `get_policy` reads it
///   back (`None` for a tenant without one: the service's default applies).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait RetentionStore: Send + Sync + 'static {
    /// Archives the tenant's messages matching `rule`; see the trait's contract.
    async fn archive(
        &self,
        tenant: &TenantId,
        rule: &ArchiveRule,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError>;
    /// Deletes the tenant's messages archived before `archived_before`.
    async fn purge_archived(
        &self,
        tenant: &TenantId,
        archived_before: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError>;
    /// The tenant's own policy, if it has one.
    async fn get_policy(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<RetentionPolicy>, RepositoryError>;
    /// Creates or replaces the tenant's policy.
    async fn put_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError>;
}
