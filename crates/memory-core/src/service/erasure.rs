//! Erasure: privacy requests, for admin callers only.

use crate::access::TenantAccess;
use crate::domain::{ConversationId, TenantId};
use crate::error::{CoreError, Result};
use crate::ports::Erasure;

use super::MemoryService;

impl MemoryService {
    fn erasure_store(&self, access: &TenantAccess) -> Result<&std::sync::Arc<dyn Erasure>> {
        if !access.is_admin() {
            return Err(CoreError::Forbidden(
                "erasure needs an admin key (one not bound to tenants)".into(),
            ));
        }
        self.stores
            .erasure()
            .ok_or(CoreError::Unsupported("erasure"))
    }

    /// Erases one conversation of one tenant (messages and archived copies), for privacy
    /// requests. Admin callers only ([`TenantAccess::All`]). Idempotent: returns how many
    /// messages were deleted, 0 the second time.
    pub async fn erase_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        access: &TenantAccess,
    ) -> Result<u64> {
        let store = self.erasure_store(access)?;
        Ok(self
            .call(
                "delete_conversation",
                store.delete_conversation(tenant, conversation),
            )
            .await?)
    }

    /// Erases everything of one tenant: messages, archived copies, retention policy. Admin
    /// callers only. Idempotent.
    pub async fn erase_tenant(&self, tenant: &TenantId, access: &TenantAccess) -> Result<u64> {
        let store = self.erasure_store(access)?;
        Ok(self
            .call("delete_tenant", store.delete_tenant(tenant))
            .await?)
    }
}
