//! [`Timeline`]: a conversation's messages in time order.

use async_trait::async_trait;

use crate::domain::{ConversationId, MessageId, TenantId};
use crate::error::RepositoryError;

/// A conversation's time line, for hybrid search's neighbour smoothing.
///
/// Contract (checked by [`crate::testkit`], module `timeline`): the ids of the
/// conversation's non-archived messages (whatever their embedding status) ordered by
/// `created_at`, then id; `Ok(None)` when it has more than `limit` messages. A store without
/// this capability is fine: hybrid search then treats candidates that follow each other in
/// time as neighbours, which is cheaper but less exact.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Timeline: Send + Sync + 'static {
    /// The conversation's time line; see the trait's contract.
    async fn conversation_timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, RepositoryError>;
}
