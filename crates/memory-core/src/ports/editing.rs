//! [`Editing`]: change or delete one message, and the history of its changes.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::MessageRecord;
use crate::domain::{HistoryEntry, IdempotencyRecord, MessageId, TenantId};
use crate::error::RepositoryError;

/// A message's new state, computed by the service from the state it read.
#[derive(Debug, Clone, PartialEq)]
pub struct Revision {
    /// The message as it is to be stored (same id, tenant, conversation, role, archived flag
    /// and `created_at`; new content, analysed text, metadata, importance (score and override), embedding and
    /// `updated_at`).
    pub record: MessageRecord,
    /// The `updated_at` the service read: the update applies only if the message still has
    /// it (optimistic concurrency: a change in between is not silently overwritten).
    pub expected_updated_at: DateTime<Utc>,
    /// The entry to append to the message's history.
    pub entry: HistoryEntry,
}

/// Changes and deletes single messages.
///
/// Contract (checked by [`crate::testkit`], module `editing`):
/// - `update` writes the revision, its history entry and `key` (if any) in one transaction,
///   and only if the message exists in the revision's tenant with
///   `updated_at == expected_updated_at`; otherwise it
///   writes nothing and returns `Ok(false)`. The lexical index follows the new text; an
///   archived message's archive copy follows too. A `key` whose tenant and key exist is
///   [`RepositoryError::DuplicateKey`] (and nothing is written).
/// - `delete` removes the message, its archive copy and its history; `Ok(false)` when it
///   does not exist in `tenant`.
/// - `history` lists the message's entries oldest first (empty for an unknown id, or an id
///   of another tenant).
/// - Every statement names the tenant (a sharded store routes it to one shard).
/// - Erasing a conversation or tenant ([`super::Erasure`]) removes their history too.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Editing: Send + Sync + 'static {
    /// Applies a revision; see the trait's contract.
    async fn update(
        &self,
        revision: &Revision,
        key: Option<IdempotencyRecord>,
    ) -> Result<bool, RepositoryError>;
    /// Deletes one message with its archive copy and history.
    async fn delete(&self, tenant: &TenantId, id: MessageId) -> Result<bool, RepositoryError>;
    /// The message's changes, oldest first.
    async fn history(
        &self,
        tenant: &TenantId,
        id: MessageId,
    ) -> Result<Vec<HistoryEntry>, RepositoryError>;
}
