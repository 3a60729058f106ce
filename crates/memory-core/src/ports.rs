//! Ports: the traits adapters implement. Their doc comments are the contract; the
//! [`crate::testkit`] suite (feature `testkit`) checks a repository against it.
//!
//! Every port is `Send + Sync + 'static` and uses `async_trait`, so a binary can also hold
//! adapters as `Arc<dyn Port>` and choose one at startup.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{ConversationId, Embedding, Importance, Message, MessageId, TenantId};
use crate::error::{EmbedderError, RepositoryError};
use crate::retention::{ArchiveRule, RetentionPolicy};
use crate::scoring::Candidate;

/// Turns texts into sentence embeddings.
///
/// Contract:
/// - `embed` returns exactly one embedding per text, in the same order, each of
///   [`Embedder::dimension`] values.
/// - It MUST NOT block the async executor: CPU-heavy work runs on threads of its own.
/// - When it cannot take more work now it returns [`EmbedderError::Overloaded`] at once
///   rather than queueing without bound.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Embedder: Send + Sync + 'static {
    /// The model's identifier (e.g. `sentence-transformers/all-MiniLM-L6-v2`).
    fn model_id(&self) -> String;
    /// Number of dimensions of every embedding.
    fn dimension(&self) -> usize;
    /// Embeds a batch of texts.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError>;
}

/// What [`MessageRepository::search_candidates`] looks for.
#[derive(Debug, Clone, PartialEq)]
pub struct CandidateQuery {
    /// Mandatory: only this tenant's messages.
    pub tenant_id: TenantId,
    /// Optional: only this conversation's messages.
    pub conversation_id: Option<ConversationId>,
    /// Optional: only messages with `importance_score >= importance_min`.
    pub importance_min: Option<Importance>,
    /// The query embedding.
    pub embedding: Embedding,
    /// At most this many candidates.
    pub limit: usize,
}

/// What [`MessageRepository::lexical_candidates`] looks for.
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalQuery {
    /// Mandatory: only this tenant's messages.
    pub tenant_id: TenantId,
    /// Optional: only this conversation's messages.
    pub conversation_id: Option<ConversationId>,
    /// Optional: only messages with `importance_score >= importance_min`.
    pub importance_min: Option<Importance>,
    /// Distinct terms from [`crate::text::Analyzer::query_terms`]; a document matches when it
    /// contains at least one.
    pub terms: Vec<String>,
    /// At most this many documents.
    pub limit: usize,
}

/// A message that matched a lexical query, with its analyzed text.
#[derive(Debug, Clone, PartialEq)]
pub struct LexicalDocument {
    /// The message, with its embedding when it has one.
    pub message: Message,
    /// [`crate::text::Analyzer::index_text`] of its content: space-separated terms.
    pub terms: String,
}

/// The answer to a lexical query: the matches plus the scope statistics BM25 needs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LexicalMatches {
    /// Number of messages in the scope (tenant, conversation, importance filter, not archived).
    pub scope_size: u64,
    /// Average number of terms of those messages.
    pub average_length: f64,
    /// Messages of the scope containing at least one query term.
    pub documents: Vec<LexicalDocument>,
}

/// The outcome of embedding a stored message.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbeddingUpdate {
    /// Store the embedding; the status becomes `completed`.
    Completed(Embedding),
    /// The embedder failed; the status becomes `failed` (the embedding stays empty).
    Failed,
}

/// Stores messages and finds them again.
///
/// Contract (checked by `memory_core::testkit`):
/// - Tenant scope is mandatory: no method that takes a tenant ever reads, counts or changes
///   another tenant's rows.
/// - `insert` stores the message exactly as given (timestamps are microsecond precision) and
///   returns [`RepositoryError::Conflict`] for an id that exists.
/// - `get` returns `Ok(None)` for an unknown id (never an error), archived messages included.
/// - `search_candidates` returns the `limit` nearest neighbours by cosine similarity among the
///   tenant's (or conversation's) non-archived messages whose embedding is `completed`,
///   honouring `importance_min`, most similar first, each with its cosine similarity. It
///   searches all of that history, not a recent window, and must not silently lose rows to an
///   approximate index filter.
/// - `archive` marks every message matching the rule archived (keeping a copy in the archive)
///   and returns how many; with `dry_run` it returns the same count and changes nothing.
/// - `purge_archived` deletes archived messages archived before the cut-off (the archive copy
///   and the message) and returns how many; `dry_run` as above.
/// - Failures to reach the store are [`RepositoryError::Unavailable`], returned in bounded
///   time (no hang when the database is down or the pool is exhausted).
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait MessageRepository: Send + Sync + 'static {
    /// Stores a new message.
    async fn insert(&self, message: &Message) -> Result<(), RepositoryError>;
    /// Reads a message by id, with its embedding if any.
    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError>;
    /// Records the embedding outcome; `Ok(false)` when the id is unknown.
    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;
    /// The nearest neighbours of the query embedding; see the trait's contract.
    async fn search_candidates(
        &self,
        query: &CandidateQuery,
    ) -> Result<Vec<Candidate>, RepositoryError>;
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
    /// Non-archived messages whose embedding is `pending` or `failed`, oldest first.
    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError>;
    /// Every tenant that has at least one message.
    async fn list_tenants(&self) -> Result<Vec<TenantId>, RepositoryError>;
    /// Cheap round trip to the store.
    async fn health(&self) -> Result<(), RepositoryError>;
    /// Lexical matches in the scope, for hybrid search. Contract: every non-archived message of
    /// the scope (whatever its embedding status) that contains at least one of the query's
    /// terms in its analyzed content ([`crate::text::Analyzer::index_text`], which the store
    /// indexes at insert) is a match; at most `limit` are returned, the best by the store's
    /// own full-text rank when there are more. `scope_size` and `average_length` describe the
    /// whole scope, matching or not. No terms: no documents.
    async fn lexical_candidates(
        &self,
        query: &LexicalQuery,
    ) -> Result<LexicalMatches, RepositoryError>;
    /// Non-archived messages whose embedding is not `completed`, in one tenant (and
    /// conversation), or in every tenant when `tenant` is `None` (for metrics only).
    async fn count_pending(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, RepositoryError>;
    /// Erases one conversation of one tenant: its messages and their archived copies.
    /// Returns how many messages were deleted; idempotent (0 the second time).
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<u64, RepositoryError>;
    /// Erases everything of one tenant: messages, archived copies and its retention policy.
    /// Returns how many messages were deleted; idempotent.
    async fn delete_tenant(&self, tenant: &TenantId) -> Result<u64, RepositoryError>;
    /// The conversation's time line, for hybrid search's neighbour smoothing: the ids of its
    /// non-archived messages (whatever their embedding status) ordered by `created_at`, then
    /// id. `Ok(None)` when it has more than `limit` messages, or when the store does not
    /// provide time lines (the default): hybrid search then treats candidates that follow
    /// each other in time as neighbours, which is cheaper but less exact.
    async fn conversation_timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, RepositoryError> {
        let _ = (tenant, conversation, limit);
        Ok(None)
    }
}

/// Per-tenant retention policies. A tenant without one gets the configured default.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait RetentionPolicyStore: Send + Sync + 'static {
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
    ) -> Result<(), RepositoryError>;
}

/// The time. A port so tests control it.
#[cfg_attr(feature = "mocks", mockall::automock)]
pub trait Clock: Send + Sync + 'static {
    /// Now, in UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[async_trait]
impl<T: Embedder + ?Sized> Embedder for Arc<T> {
    fn model_id(&self) -> String {
        (**self).model_id()
    }
    fn dimension(&self) -> usize {
        (**self).dimension()
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        (**self).embed(texts).await
    }
}

#[async_trait]
impl<T: MessageRepository + ?Sized> MessageRepository for Arc<T> {
    async fn insert(&self, message: &Message) -> Result<(), RepositoryError> {
        (**self).insert(message).await
    }
    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError> {
        (**self).get(id).await
    }
    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        (**self).set_embedding(id, update, at).await
    }
    async fn search_candidates(
        &self,
        query: &CandidateQuery,
    ) -> Result<Vec<Candidate>, RepositoryError> {
        (**self).search_candidates(query).await
    }
    async fn archive(
        &self,
        tenant: &TenantId,
        rule: &ArchiveRule,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        (**self).archive(tenant, rule, now, dry_run).await
    }
    async fn purge_archived(
        &self,
        tenant: &TenantId,
        archived_before: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        (**self)
            .purge_archived(tenant, archived_before, dry_run)
            .await
    }
    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError> {
        (**self).pending_embeddings(limit).await
    }
    async fn list_tenants(&self) -> Result<Vec<TenantId>, RepositoryError> {
        (**self).list_tenants().await
    }
    async fn health(&self) -> Result<(), RepositoryError> {
        (**self).health().await
    }
    async fn lexical_candidates(
        &self,
        query: &LexicalQuery,
    ) -> Result<LexicalMatches, RepositoryError> {
        (**self).lexical_candidates(query).await
    }
    async fn count_pending(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, RepositoryError> {
        (**self).count_pending(tenant, conversation).await
    }
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<u64, RepositoryError> {
        (**self).delete_conversation(tenant, conversation).await
    }
    async fn delete_tenant(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        (**self).delete_tenant(tenant).await
    }
    async fn conversation_timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, RepositoryError> {
        (**self)
            .conversation_timeline(tenant, conversation, limit)
            .await
    }
}

#[async_trait]
impl<T: RetentionPolicyStore + ?Sized> RetentionPolicyStore for Arc<T> {
    async fn get_policy(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<RetentionPolicy>, RepositoryError> {
        (**self).get_policy(tenant).await
    }
    async fn put_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
    ) -> Result<(), RepositoryError> {
        (**self).put_policy(tenant, policy).await
    }
}

impl<T: Clock + ?Sized> Clock for Arc<T> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// A store that implements both repository ports; what the service needs. Blanket-implemented,
/// so `Arc<dyn Store>` lets a binary pick its store at startup.
pub trait Store: MessageRepository + RetentionPolicyStore {}

impl<T: MessageRepository + RetentionPolicyStore + ?Sized> Store for T {}
