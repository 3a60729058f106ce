//! [`Listing`]: a tenant's messages in time order, a page at a time.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{
    ConversationId, ConversationSummary, Message, Position, Role, SortOrder, TenantId,
};
use crate::error::RepositoryError;

/// What [`Listing::list`] reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Mandatory: only this tenant's messages.
    pub tenant_id: TenantId,
    /// Only this conversation's.
    pub conversation_id: Option<ConversationId>,
    /// Only this role's.
    pub role: Option<Role>,
    /// `Some(true)`: only archived messages; `Some(false)`: only live ones; `None`: both.
    pub archived: Option<bool>,
    /// Only messages with `created_at >= created_after`.
    pub created_after: Option<DateTime<Utc>>,
    /// Only messages with `created_at < created_before`.
    pub created_before: Option<DateTime<Utc>>,
    /// Ascending or descending `(created_at, id)`.
    pub order: SortOrder,
    /// Only messages strictly after this position in `order`.
    pub after: Option<Position>,
    /// At most this many.
    pub limit: usize,
    /// Whether to read the embeddings too (exports); otherwise they are left out.
    pub with_embeddings: bool,
}

/// What [`Listing::conversations`] reads.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationQuery {
    /// Mandatory: only this tenant's conversations.
    pub tenant_id: TenantId,
    /// Only conversations strictly after this `(last_message_at, conversation_id)` in the
    /// listing's descending order.
    pub before: Option<(DateTime<Utc>, ConversationId)>,
    /// At most this many.
    pub limit: usize,
}

/// Lists messages, and a tenant's conversations.
///
/// Contract (checked by [`crate::testkit`], module `listing`): `list` returns the tenant's
/// messages that pass every filter, archived ones included unless `archived` says otherwise,
/// ordered by `(created_at, id)` in `order`, strictly after `after`, at most `limit`. Without
/// `with_embeddings` their `embedding` is `None`. Keyset paging on `(created_at, id)` means a
/// page never repeats or skips a message that existed when the first page was read, whatever
/// is written meanwhile.
///
/// `conversations` sums up each conversation of the tenant that has at least one message
/// (archived ones count, in `messages` and in `archived`), ordered by
/// `(last_message_at, conversation_id)` descending (most recently active first), strictly
/// after `before`, at most `limit`.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Listing: Send + Sync + 'static {
    /// One page; see the trait's contract.
    async fn list(&self, query: &ListQuery) -> Result<Vec<Message>, RepositoryError>;
    /// One page of a tenant's conversations; see the trait's contract.
    async fn conversations(
        &self,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationSummary>, RepositoryError>;
}
