//! [`Erasure`]: deleting what a privacy request names.

use async_trait::async_trait;

use crate::domain::{ConversationId, TenantId};
use crate::error::RepositoryError;

/// Erases data for privacy requests.
///
/// Contract (checked by [`crate::testkit`], module `erasure`): both methods delete exactly
/// what they name (never another tenant's or conversation's rows), archived copies included,
/// return how many messages were deleted, and are idempotent (0 the second time).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Erasure: Send + Sync + 'static {
    /// Erases one conversation of one tenant: its messages and their archived copies.
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<u64, RepositoryError>;
    /// Erases everything of one tenant: messages, archived copies and its retention policy.
    async fn delete_tenant(&self, tenant: &TenantId) -> Result<u64, RepositoryError>;
}
