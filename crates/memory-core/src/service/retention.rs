//! Retention: the tenant's policy, applied (archive, then delete).

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::access::TenantAccess;
use crate::domain::{Message, SortOrder, TenantId};
use crate::error::{CoreError, FieldError, Result};
use crate::ports::{ListQuery, RetentionStore};
use crate::retention::{
    ArchiveRule, RetentionAction, RetentionPolicy, RetentionReport, RetentionRequest,
};

/// What the next retention run would do to a tenant, changing nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct RetentionPreview {
    /// The tenant.
    pub tenant_id: TenantId,
    /// The instant the rules were evaluated at.
    pub now: DateTime<Utc>,
    /// The policy in force (the tenant's own, or the default).
    pub policy: RetentionPolicy,
    /// The archive rule at `now`.
    pub archive_rule: ArchiveRule,
    /// Messages a run would archive (exact).
    pub would_archive: u64,
    /// Archived messages archived before this instant are deleted.
    pub purge_cutoff: DateTime<Utc>,
    /// Archived messages a run would delete (exact).
    pub would_delete: u64,
    /// Some of the messages a run would archive, oldest first (see
    /// [`MemoryService::retention_preview`]).
    pub sample: Vec<Message>,
}

use super::{MemoryService, truncate_to_micros};

impl MemoryService {
    fn retention_store(&self) -> Result<&std::sync::Arc<dyn RetentionStore>> {
        self.stores
            .retention()
            .ok_or(CoreError::Unsupported("retention"))
    }

    /// The policy in force for a tenant: its own, or the default.
    pub async fn retention_policy(&self, tenant: &TenantId) -> Result<RetentionPolicy> {
        let store = self.retention_store()?;
        Ok(self
            .call("get_policy", store.get_policy(tenant))
            .await?
            .unwrap_or_else(|| self.default_retention.clone()))
    }

    /// Gives a tenant a policy of its own, stamped with the service's clock.
    pub async fn set_retention_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
        access: &TenantAccess,
    ) -> Result<()> {
        Self::check_access(access, tenant)?;
        let store = self.retention_store()?;
        let at = truncate_to_micros(self.clock.now());
        Ok(self
            .call("put_policy", store.put_policy(tenant, policy, at))
            .await?)
    }

    /// Applies the tenant's retention policy: archive first, then delete. A dry run reports
    /// the same counts and changes nothing.
    pub async fn run_retention(
        &self,
        request: RetentionRequest,
        access: &TenantAccess,
    ) -> Result<RetentionReport> {
        Self::check_access(access, request.tenant_id())?;
        let store = self.retention_store()?;
        let policy = self.retention_policy(request.tenant_id()).await?;
        let now = truncate_to_micros(self.clock.now());
        let dry_run = request.dry_run();
        let mut report = RetentionReport {
            dry_run,
            ..Default::default()
        };
        if request.actions().contains(&RetentionAction::Archive) {
            let rule = policy.archive_rule(now);
            report.archived = self
                .call(
                    "archive",
                    store.archive(request.tenant_id(), &rule, now, dry_run),
                )
                .await?;
        }
        if request.actions().contains(&RetentionAction::Delete) {
            let cutoff = policy.purge_cutoff(now);
            report.deleted = self
                .call(
                    "purge_archived",
                    store.purge_archived(request.tenant_id(), cutoff, dry_run),
                )
                .await?;
        }
        Ok(report)
    }

    /// Takes or renews the fleet-wide lease `name` for `holder` for `ttl` (see
    /// [`crate::ports::Leases`]), so that a job meant to run once for every server sharing the
    /// store runs in one of them at a time. `true` when `holder` holds it; also `true` for a
    /// store without leases (its one process is the fleet).
    pub async fn try_lease(&self, name: &str, holder: &str, ttl: Duration) -> Result<bool> {
        match self.stores.leases() {
            Some(leases) => Ok(self
                .call("try_lease", leases.try_lease(name, holder, ttl))
                .await?),
            None => Ok(true),
        }
    }

    /// Largest sample [`Self::retention_preview`] returns.
    pub const PREVIEW_MAX_SAMPLE: usize = 200;
    /// The sample size when none is asked for.
    pub const PREVIEW_DEFAULT_SAMPLE: usize = 20;

    /// Reads a requested sample size: the default when absent, else 0 to
    /// [`Self::PREVIEW_MAX_SAMPLE`] (an error naming `limit` otherwise).
    pub fn preview_sample(limit: Option<i64>) -> std::result::Result<usize, FieldError> {
        match limit {
            None => Ok(Self::PREVIEW_DEFAULT_SAMPLE),
            Some(n) if (0..=Self::PREVIEW_MAX_SAMPLE as i64).contains(&n) => Ok(n as usize),
            Some(n) => Err(FieldError::new(
                "limit",
                format!(
                    "must be between 0 and {}, got {n}",
                    Self::PREVIEW_MAX_SAMPLE
                ),
            )),
        }
    }

    /// How many live messages [`Self::retention_preview`] reads at most to find its sample.
    pub const PREVIEW_SCAN_LIMIT: usize = 5_000;

    /// What the next retention run would archive and delete (exact counts, by a dry run), and
    /// up to `sample_limit` of the messages it would archive: the oldest live messages that
    /// match the rule among the tenant's oldest [`Self::PREVIEW_SCAN_LIMIT`] live ones (all of
    /// them for smaller tenants); at most [`Self::PREVIEW_MAX_SAMPLE`]. Changes nothing.
    pub async fn retention_preview(
        &self,
        tenant: &TenantId,
        sample_limit: usize,
        access: &TenantAccess,
    ) -> Result<RetentionPreview> {
        Self::check_access(access, tenant)?;
        let sample_limit = sample_limit.min(Self::PREVIEW_MAX_SAMPLE);
        let store = self.retention_store()?;
        let policy = self.retention_policy(tenant).await?;
        let now = truncate_to_micros(self.clock.now());
        let archive_rule = policy.archive_rule(now);
        let purge_cutoff = policy.purge_cutoff(now);
        let would_archive = self
            .call("archive", store.archive(tenant, &archive_rule, now, true))
            .await?;
        let would_delete = self
            .call(
                "purge_archived",
                store.purge_archived(tenant, purge_cutoff, true),
            )
            .await?;
        let mut sample = Vec::new();
        if let Some(listing) = self.stores.listing().filter(|_| sample_limit > 0) {
            let mut query = ListQuery {
                tenant_id: tenant.clone(),
                conversation_id: None,
                role: None,
                archived: Some(false),
                created_after: None,
                created_before: None,
                order: SortOrder::Asc,
                after: None,
                limit: 500,
                with_embeddings: false,
            };
            let mut scanned = 0;
            while sample.len() < sample_limit && scanned < Self::PREVIEW_SCAN_LIMIT {
                let page = self.call("list", listing.list(&query)).await?;
                scanned += page.len();
                query.after = page.last().map(|m| crate::domain::Position {
                    created_at: m.created_at,
                    id: m.id,
                });
                let full = page.len() == query.limit;
                sample.extend(page.into_iter().filter(|m| archive_rule.matches(m)));
                if !full {
                    break;
                }
            }
            sample.truncate(sample_limit);
        }
        Ok(RetentionPreview {
            tenant_id: tenant.clone(),
            now,
            policy,
            archive_rule,
            would_archive,
            purge_cutoff,
            would_delete,
            sample,
        })
    }
}
