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
    /// What orders the results: `0.6*r + 0.3*importance + 0.1*decay` (weights configurable),
    /// r the similarity in vector mode and, in hybrid and lexical modes, the fused relevance
    /// relative to the best candidate of this search (1 for the best). Compare scores within
    /// one answer; compare `relevance` across answers.
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
    /// Hybrid and lexical modes: BM25 on a fixed scale in [0, 1], the share of the query's
    /// word weight (idf) the message matches; null in vector mode.
    pub lexical: Option<f64>,
    /// The `r` of `score = 0.6·r + 0.3·importance + 0.1·decay`: the cosine similarity in
    /// vector mode; in hybrid and lexical modes the fused similarity and lexical value,
    /// relative to this answer's best candidate (docs/scoring.md).
    #[serde(default)]
    pub fusion: f64,
    /// Hybrid and lexical modes: what `fusion` is made of (`fusion` is their total divided by
    /// the best candidate's total); null in vector mode.
    #[serde(default)]
    pub signals: Option<SignalsDto>,
    /// How relevant the message is to the query, on an absolute scale in [0, 1]: the same
    /// for the same message and query whatever else is stored (docs/scoring.md). What
    /// `min_relevance` is compared with.
    pub relevance: f64,
}

/// The parts of a hybrid or lexical result's `fusion` (docs/scoring.md, "Hybrid search").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SignalsDto {
    /// BM25 and cosine similarity, each min-max normalised over this search's candidates,
    /// fused (0.5 each by default).
    pub matched: f64,
    /// A share (0.25) of the `matched` of the candidates at most 2 turns away in the
    /// conversation.
    pub neighbours: f64,
    /// A share (0.8) of the best `matched` in the message's session (its conversation's
    /// candidates, split at silences over an hour).
    pub session: f64,
    /// When the query names a period (a year, a month, a day) and the message was written in
    /// it or within 7 days after: a share (0.3) of the best candidate's
    /// `matched + neighbours + session`; else 0.
    pub date: f64,
    /// When the query names the message's speaker (its metadata's `speaker`): a share (0.25)
    /// of the same best; else 0.
    #[serde(default)]
    pub speaker: f64,
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
    /// The relevance threshold the search applied (the request's `min_relevance`, or the
    /// server's default).
    #[serde(default)]
    pub min_relevance: f64,
    /// How many of the `top_k` best-scored candidates were left out for falling below
    /// `min_relevance`. An empty `items` with a positive count: nothing relevant was found.
    #[serde(default)]
    pub below_min_relevance: u64,
}
