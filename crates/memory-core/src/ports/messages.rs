//! [`MessageStore`]: the one capability every store has — keeping messages.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt as _;
use futures::stream::BoxStream;

use crate::domain::{ConversationId, Embedding, IdempotencyRecord, Message, MessageId, TenantId};
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

/// The records of one batch arriving in parts, for [`MessageStore::insert_parts`]: the service
/// sends each part as soon as its embeddings are ready.
pub type RecordParts = BoxStream<'static, Vec<MessageRecord>>;

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
/// - `insert_batch` stores every record and `key` (if any) in one transaction: all or
///   nothing. A `key` whose tenant and key exist is [`RepositoryError::DuplicateKey`] (and
///   nothing is written).
/// - `insert_parts` is `insert_batch` of every record of every part: one transaction, all or
///   nothing, the same errors. It reads `parts` to its end before it commits; when it fails
///   it may stop reading (the service then stops producing parts).
/// - `find_idempotency` returns the record of a tenant's key; `purge_idempotency` deletes
///   the records created before a cut-off.
/// - `set_embedding` applies only while the message's `updated_at` is still `read_at`.
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
    /// Stores new messages, and the idempotency record of the request, in one transaction.
    async fn insert_batch(
        &self,
        records: &[MessageRecord],
        key: Option<IdempotencyRecord>,
    ) -> Result<(), RepositoryError>;
    /// [`Self::insert_batch`] of records that arrive in parts (a batch's embedded chunks), so
    /// that a store can write each part while the service embeds the next; still one
    /// transaction, committed after the last part. The default collects the parts, then calls
    /// `insert_batch`: right for a store whose writes are cheap next to embedding.
    async fn insert_parts(
        &self,
        parts: RecordParts,
        key: Option<IdempotencyRecord>,
    ) -> Result<(), RepositoryError> {
        let records: Vec<MessageRecord> = parts.concat().await;
        self.insert_batch(&records, key).await
    }
    /// The idempotency record of a tenant's key, if any.
    async fn find_idempotency(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, RepositoryError>;
    /// Deletes idempotency records created before `before`; returns how many.
    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError>;
    /// Reads a message by id, with its embedding if any.
    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError>;
    /// Records the embedding outcome of the message as it was when read (its `updated_at`
    /// was `read_at`); `Ok(false)` when the id is unknown or the message changed since (an
    /// update of its text must not get the old text's vector).
    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        read_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;
    /// Non-archived messages whose embedding is `pending` or `failed`, oldest first.
    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError>;
    /// What the catch-up worker embeds: as [`Self::pending_embeddings`], but a store shared
    /// by several server processes claims what it returns for `claim`, so that a concurrent
    /// call (another replica's worker) takes other messages until these are embedded or the
    /// claim runs out, and no message is embedded twice. The default claims nothing: right
    /// for a store one process uses.
    async fn claim_pending(
        &self,
        limit: usize,
        claim: std::time::Duration,
    ) -> Result<Vec<Message>, RepositoryError> {
        let _ = claim;
        self.pending_embeddings(limit).await
    }
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
