//! [`Embedder`]: turns texts into sentence embeddings.

use async_trait::async_trait;

use crate::domain::{Embedding, TenantId};
use crate::error::EmbedderError;

/// Why texts are embedded, which decides who goes first when the model is busy: a
/// [`MemoryService`](crate::MemoryService) passes it with every call.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EmbedPurpose {
    /// A search's query: someone waits for the answer now. Served first.
    Query,
    /// The texts of a write (ingest, batch, update) of this tenant: served after queries,
    /// tenants in turn, so one tenant's import cannot keep the model from the others.
    Ingest(TenantId),
    /// Texts stored without an embedding, for the catch-up worker: served last.
    Backlog,
}

/// Turns texts into sentence embeddings.
///
/// Contract:
/// - `embed` returns exactly one embedding per text, in the same order, each of
///   [`Embedder::dimension`] values.
/// - It MUST NOT block the async executor: CPU-heavy work runs on threads of its own.
/// - When it cannot take more work now it returns [`EmbedderError::Overloaded`] at once, with
///   its estimate of when to retry, rather than queueing without bound.
/// - An embedder that queues SHOULD serve [`Embedder::embed_for`] calls in the order of their
///   [`EmbedPurpose`]: queries before ingest before the backlog. The default treats every
///   call alike.
#[cfg_attr(feature = "mocks", mockall::automock)]
#[async_trait]
pub trait Embedder: Send + Sync + 'static {
    /// The model's identifier (e.g. `sentence-transformers/all-MiniLM-L6-v2`).
    fn model_id(&self) -> String;
    /// Number of dimensions of every embedding.
    fn dimension(&self) -> usize;
    /// Embeds a batch of texts.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError>;
    /// Embeds a batch of texts for `purpose` (the service always calls this one). By
    /// default the same as [`Embedder::embed`].
    async fn embed_for(
        &self,
        texts: &[String],
        purpose: &EmbedPurpose,
    ) -> Result<Vec<Embedding>, EmbedderError> {
        let _ = purpose;
        self.embed(texts).await
    }
}
