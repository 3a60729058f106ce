//! [`Embedder`]: turns texts into sentence embeddings.

use async_trait::async_trait;

use crate::domain::Embedding;
use crate::error::EmbedderError;

/// Turns texts into sentence embeddings.
///
/// Contract:
/// - `embed` returns exactly one embedding per text, in the same order, each of
///   [`Embedder::dimension`] values.
/// - It MUST NOT block the async executor: CPU-heavy work runs on threads of its own.
/// - When it cannot take more work now it returns [`EmbedderError::Overloaded`] at once, with
///   its estimate of when to retry, rather than queueing without bound.
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
