//! [`VectorSearch`]: nearest neighbours by cosine similarity.

use async_trait::async_trait;

use crate::domain::{ConversationId, Embedding, Filters, Importance, Message, TenantId};
use crate::error::RepositoryError;

/// What [`VectorSearch::search_candidates`] looks for.
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
    /// Optional: a time range and metadata conditions ([`Filters::admits`] is the reference).
    pub filters: Filters,
}

/// A message a store proposes for a query, with its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The message (stores may leave its embedding out).
    pub message: Message,
    /// Cosine similarity to the query embedding, in `[-1, 1]`.
    pub similarity: f64,
}

/// Finds the messages nearest to an embedding.
///
/// Contract (checked by [`crate::testkit`], module `vector`): `search_candidates` returns
/// the `limit` nearest neighbours by cosine similarity among the tenant's (or
/// conversation's) non-archived messages whose embedding is `completed`, honouring
/// `importance_min` and `filters` (pushed into the store's query, never applied after the
/// limit: a filtered query still returns `limit` rows when that many match), most similar first, each with its cosine similarity. It searches all of
/// that history, not a recent window, and must not silently lose rows to an approximate index
/// filter. A query embedding of another dimension is [`RepositoryError::DimensionMismatch`].
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait VectorSearch: Send + Sync + 'static {
    /// The dimension of the embeddings the store holds; the service refuses an embedder of
    /// another.
    fn dimension(&self) -> usize;
    /// The nearest neighbours of the query embedding; see the trait's contract.
    async fn search_candidates(
        &self,
        query: &CandidateQuery,
    ) -> Result<Vec<Candidate>, RepositoryError>;
}
