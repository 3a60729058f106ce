//! `GET /v1/memory/search`: find a tenant's relevant memories.

use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use memory_core::domain::{SearchHit, SearchMode, SearchQuery, SearchResults};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::common::{Required, RoleDto, parse_number};
use super::{responses, schema};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::StrictQuery;
use crate::middleware::Caller;
use crate::startup::AppState;

/// The query parameters. Numbers are read as text here so that a bad one is a 422 naming
/// it, alongside any other problem.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Tenant to search (required).
    #[param(schema_with = schema::tenant_id, required = true)]
    pub tenant_id: Option<String>,
    /// Text to search for (required).
    #[param(schema_with = schema::query, required = true)]
    pub query: Option<String>,
    /// Only this conversation.
    #[param(schema_with = schema::conversation_id)]
    pub conversation_id: Option<String>,
    /// Number of results.
    #[param(schema_with = schema::top_k)]
    pub top_k: Option<String>,
    /// Only messages at least this important, 0-1.
    #[param(value_type = Option<f64>, minimum = 0.0, maximum = 1.0)]
    pub importance_min: Option<String>,
    /// Nearest neighbours considered for ranking.
    #[param(schema_with = schema::candidate_limit)]
    pub candidate_limit: Option<String>,
    /// `hybrid` (default: nearest neighbours plus lexical matches, fused), `vector` (the
    /// seed's nearest neighbours only) or `lexical` (lexical matches only, no embedding).
    #[param(value_type = Option<SearchModeDto>)]
    pub mode: Option<String>,
}

impl SearchParams {
    /// Validates into the core's [`SearchQuery`], collecting every error.
    pub fn into_core(self) -> Result<SearchQuery, ApiError> {
        let mut req = Required::new();
        let tenant = req.take("tenant_id", &self.tenant_id);
        let query = req.take("query", &self.query);
        let mut extra = Vec::new();
        let top_k = parse_number::<i64>(&mut extra, "top_k", &self.top_k, "an integer");
        let importance_min = parse_number::<f64>(
            &mut extra,
            "importance_min",
            &self.importance_min,
            "a number",
        );
        let candidate_limit = parse_number::<i64>(
            &mut extra,
            "candidate_limit",
            &self.candidate_limit,
            "an integer",
        );
        let mode = match self.mode.as_deref().map(SearchMode::parse) {
            None => None,
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => {
                extra.push(e);
                None
            }
        };
        let parsed = SearchQuery::parse(
            tenant,
            query,
            self.conversation_id.as_deref(),
            top_k,
            importance_min,
            candidate_limit,
        );
        match parsed {
            Ok(q) if req.missing.is_empty() && extra.is_empty() => Ok(match mode {
                Some(m) => q.with_mode(m),
                None => q,
            }),
            Ok(_) => Err(req.merge(extra, None).into()),
            Err(e) => Err(req.merge(extra, Some(e)).into()),
        }
    }
}

/// One search result.
#[derive(Debug, Clone, Serialize, ToSchema)]
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
    #[schema(value_type = Object)]
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

impl From<SearchHit> for SearchItem {
    fn from(h: SearchHit) -> Self {
        let m = h.message;
        Self {
            message_id: m.id.as_uuid(),
            score: h.score,
            similarity: h.similarity,
            decay: h.decay,
            content: m.content.into_inner(),
            role: m.role.into(),
            metadata: serde_json::Value::Object(m.metadata.into_map()),
            created_at: m.created_at,
            importance: h.importance,
            conversation_id: m.conversation_id.into_inner(),
            lexical: h.lexical,
            relevance: h.relevance,
        }
    }
}

/// How candidates are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
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

impl From<SearchMode> for SearchModeDto {
    fn from(m: SearchMode) -> Self {
        match m {
            SearchMode::Vector => SearchModeDto::Vector,
            SearchMode::Hybrid => SearchModeDto::Hybrid,
            SearchMode::Lexical => SearchModeDto::Lexical,
        }
    }
}

/// Ranked search results, best first.
#[derive(Debug, Clone, Serialize, ToSchema)]
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

impl From<SearchResults> for SearchResponse {
    fn from(r: SearchResults) -> Self {
        let items: Vec<SearchItem> = r.items.into_iter().map(SearchItem::from).collect();
        Self {
            total: items.len(),
            items,
            mode: r.mode.into(),
            pending_embeddings: r.pending_embeddings,
        }
    }
}

/// Search a tenant's memories: nearest neighbours ranked by similarity, importance and recency.
#[utoipa::path(
    get,
    path = "/v1/memory/search",
    tag = "memory",
    params(SearchParams),
    responses(
        (status = 200, description = "Ranked results", body = SearchResponse),
        (status = 400, description = "The URL is longer than 64 KiB: refused by the HTTP layer \
            before the API sees it, with an empty body. Percent-encoded, 10,000 characters \
            outside ASCII can exceed it."),
        (status = 422, description = "Invalid parameters", body = ErrorBody),
        responses::Guarded,
        responses::TenantBound,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn search(
    state: web::Data<AppState>,
    caller: Caller,
    params: StrictQuery<SearchParams>,
) -> ApiResult<HttpResponse> {
    let query = params.0.into_core()?;
    let results = state.service.search(query, &caller.0).await?;
    Ok(HttpResponse::Ok().json(SearchResponse::from(results)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::fields;

    #[test]
    fn search_params_name_bad_numbers() {
        let p = SearchParams {
            tenant_id: Some("acme".into()),
            query: None,
            conversation_id: None,
            top_k: Some("five".into()),
            importance_min: Some("2".into()),
            candidate_limit: None,
            mode: Some("fuzzy".into()),
        };
        assert_eq!(
            fields(p.into_core().expect_err("invalid")),
            ["query", "top_k", "mode", "importance_min"]
        );
    }
}
