//! Search results.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::message::RoleDto;

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchItem {
    /// The message's id.
    pub message_id: Uuid,
    /// `0.6*similarity + 0.3*importance + 0.1*decay` (weights configurable).
    pub score: f64,
    /// Cosine similarity of the query and the message, in [-1, 1].
    pub similarity: f64,
    /// `exp(-age_days / 7)`.
    pub decay: f64,
    /// The message's text.
    pub content: String,
    /// Author.
    pub role: RoleDto,
    /// The message's metadata.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Value,
    /// When the message was written.
    pub created_at: DateTime<Utc>,
    /// The message's importance.
    pub importance: f64,
    /// The message's conversation.
    pub conversation_id: String,
    /// Hybrid mode: the normalised lexical (BM25) score in [0, 1]; null in vector mode.
    pub lexical: Option<f64>,
    /// What the score's first term weighs: the similarity (vector mode) or the fused
    /// relevance of similarity and lexical score (hybrid mode).
    pub relevance: f64,
}

/// How candidates are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SearchModeDto {
    /// Nearest neighbours by cosine similarity only (the seed's method).
    Vector,
    /// Nearest neighbours plus lexical (BM25) matches, fused (the default).
    Hybrid,
    /// Lexical (BM25) matches only, without embedding the query; what a hybrid search runs
    /// when the embedder is unavailable or overloaded.
    Lexical,
}

/// Ranked search results, best first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SearchResponse {
    /// Number of items.
    pub total: usize,
    /// At most `top_k` results, best first.
    pub items: Vec<SearchItem>,
    /// The mode that ran: `lexical` when a hybrid search could not embed its query (the
    /// embedder unavailable or overloaded).
    pub mode: SearchModeDto,
    /// Messages of the scope not embedded yet: similarity could not consider them (hybrid
    /// mode still finds them lexically). They are embedded in the background.
    pub pending_embeddings: u64,
}
