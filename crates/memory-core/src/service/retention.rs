//! Retention: the tenant's policy, applied (archive, then delete).

use crate::access::TenantAccess;
use crate::domain::TenantId;
use crate::error::{CoreError, Result};
use crate::ports::RetentionStore;
use crate::retention::{RetentionAction, RetentionPolicy, RetentionReport, RetentionRequest};

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
}
