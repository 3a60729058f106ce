//! [`MessageStore`]: the one capability every store has — keeping messages.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{ConversationId, Embedding, Message, MessageId, TenantId};
use crate::error::RepositoryError;
use crate::text::AnalyzedText;

/// A message as the service hands it to a store: the message and its content analysed for
/// lexical search (by the core's [`crate::text::Analyzer`]; stores never analyse). A store
/// without [`super::LexicalSearch`] ignores `terms`.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRecord {
    /// The message, exactly as it is to be stored.
    pub message: Message,
    /// [`crate::text::Analyzer::analyze`] of its content.
    pub terms: AnalyzedText,
}

impl MessageRecord {
    /// The record of `message`, its content analysed by the English analyzer.
    pub fn new(message: Message) -> Self {
        let terms = crate::text::Analyzer::english().analyze(message.content.as_str());
        Self { message, terms }
    }
}

/// The outcome of embedding a stored message.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingUpdate {
    /// Store the embedding; the status becomes `completed`.
    Completed(Embedding),
    /// The embedder failed; the status becomes `failed` (the embedding stays empty).
    Failed,
}

/// Stores messages and reads them back.
///
/// Contract (checked by [`crate::testkit`], module `messages`):
/// - Tenant scope is mandatory: no method that takes a tenant ever reads, counts or changes
///   another tenant's rows.
/// - `insert` stores the message exactly as given (timestamps are microsecond precision) and
///   returns [`RepositoryError::Conflict`] for an id that exists. An embedding of another
///   dimension than the store's is [`RepositoryError::DimensionMismatch`]
///   ([`Embedding::check_dimension`]).
/// - `get` returns `Ok(None)` for an unknown id (never an error), archived messages included.
/// - `pending_embeddings` returns non-archived messages whose embedding is `pending` or
///   `failed`, oldest first.
/// - Failures to reach the store are [`RepositoryError::Unavailable`], returned in bounded
///   time (no hang when the database is down or the pool is exhausted).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// Stores a new message.
    async fn insert(&self, record: &MessageRecord) -> Result<(), RepositoryError>;
    /// Reads a message by id, with its embedding if any.
    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError>;
    /// Records the embedding outcome; `Ok(false)` when the id is unknown.
    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;
    /// Non-archived messages whose embedding is `pending` or `failed`, oldest first.
    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError>;
    /// Non-archived messages whose embedding is not `completed`, in one tenant (and
    /// conversation), or in every tenant when `tenant` is `None` (for metrics only).
    async fn count_pending(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, RepositoryError>;
    /// Every tenant that has at least one message.
    async fn list_tenants(&self) -> Result<Vec<TenantId>, RepositoryError>;
    /// Cheap round trip to the store.
    async fn health(&self) -> Result<(), RepositoryError>;
}
