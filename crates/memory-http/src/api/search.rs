//! `GET /v1/memory/search` and `POST /v1/memory/search`: find a tenant's relevant memories,
//! optionally within a time range and under metadata conditions.

use actix_web::{HttpResponse, web};
use memory_core::domain::{Filters, MinRelevance, SearchMode, SearchQuery};
use memory_core::error::FieldError;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::common::{Required, parse_instant, parse_number};
use super::wire::IntoWire;

use super::{responses, schema};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, StrictQuery};
use crate::middleware::Caller;
use crate::startup::AppState;
pub use memory_api_types::{SearchItem, SearchModeDto, SearchResponse, SignalsDto};

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
    /// The least relevance a result (or, in hybrid mode, a turn next to it) must reach, 0-1:
    /// 0 keeps everything; the default (0.3, `MEMORY_SEARCH_MIN_RELEVANCE`) drops what is
    /// clearly unrelated, so an answer can be empty (docs/scoring.md).
    #[param(value_type = Option<f64>, minimum = 0.0, maximum = 1.0)]
    pub min_relevance: Option<String>,
    /// Only messages created at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_after: Option<String>,
    /// Only messages created before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_before: Option<String>,
    /// Metadata conditions as JSON (see `POST /v1/memory/search` and docs/api.md), e.g.
    /// `{"source":"web","priority":{"gte":2}}`.
    pub filters: Option<String>,
}

/// A search's fields once read from the query string or the body.
struct Raw<'a> {
    tenant_id: &'a Option<String>,
    query: &'a Option<String>,
    conversation_id: Option<&'a str>,
    top_k: Option<i64>,
    importance_min: Option<f64>,
    candidate_limit: Option<i64>,
    mode: Option<&'a str>,
    min_relevance: Option<f64>,
    created_after: &'a Option<String>,
    created_before: &'a Option<String>,
    filters: Option<serde_json::Value>,
}

impl Raw<'_> {
    /// Validates into the core's [`SearchQuery`], collecting every error (`extra`: those
    /// found while reading).
    fn into_core(self, mut extra: Vec<FieldError>) -> Result<SearchQuery, ApiError> {
        let mut req = Required::new();
        let tenant = req.take("tenant_id", self.tenant_id);
        let query = req.take("query", self.query);
        let mode = match self.mode.map(SearchMode::parse) {
            None => None,
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => {
                extra.push(e);
                None
            }
        };
        let min_relevance = match self
            .min_relevance
            .map(|v| MinRelevance::parse("min_relevance", v))
        {
            None => None,
            Some(Ok(m)) => Some(m),
            Some(Err(e)) => {
                extra.push(e);
                None
            }
        };
        let after = parse_instant(&mut extra, "created_after", self.created_after);
        let before = parse_instant(&mut extra, "created_before", self.created_before);
        let filters = Filters::parse(after, before, self.filters.as_ref());
        let parsed = SearchQuery::parse(
            tenant,
            query,
            self.conversation_id,
            self.top_k,
            self.importance_min,
            self.candidate_limit,
        );
        match (parsed, filters) {
            (Ok(q), Ok(f)) if req.missing.is_empty() && extra.is_empty() => {
                let q = q.with_filters(f);
                let q = match min_relevance {
                    Some(m) => q.with_min_relevance(m),
                    None => q,
                };
                Ok(match mode {
                    Some(m) => q.with_mode(m),
                    None => q,
                })
            }
            (parsed, filters) => {
                let mut core = parsed.err().unwrap_or_default();
                core.0.extend(filters.err().unwrap_or_default().0);
                Err(req.merge(extra, Some(core)).into())
            }
        }
    }
}

impl SearchParams {
    /// Validates into the core's [`SearchQuery`], collecting every error.
    pub fn into_core(self) -> Result<SearchQuery, ApiError> {
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
        let min_relevance =
            parse_number::<f64>(&mut extra, "min_relevance", &self.min_relevance, "a number");
        let filters = match self
            .filters
            .as_deref()
            .map(serde_json::from_str::<serde_json::Value>)
        {
            None => None,
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                extra.push(FieldError::new("filters", format!("must be JSON: {e}")));
                None
            }
        };
        Raw {
            tenant_id: &self.tenant_id,
            query: &self.query,
            conversation_id: self.conversation_id.as_deref(),
            top_k,
            importance_min,
            candidate_limit,
            mode: self.mode.as_deref(),
            min_relevance,
            created_after: &self.created_after,
            created_before: &self.created_before,
            filters,
        }
        .into_core(extra)
    }
}

/// A search as a JSON body: the GET's parameters, with `filters` as a JSON object.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant_id": "acme", "query": "where did I move?", "top_k": 5,
    "created_after": "2024-01-01T00:00:00Z",
    "filters": {"source": "web", "OR": [{"priority": {"gte": 2}}, {"tags": {"contains": "travel"}}]}}))]
pub struct SearchRequest {
    /// Tenant to search (required).
    #[schema(schema_with = schema::tenant_id, required = true)]
    pub tenant_id: Option<String>,
    /// Text to search for (required).
    #[schema(schema_with = schema::query, required = true)]
    pub query: Option<String>,
    /// Only this conversation.
    #[schema(schema_with = schema::conversation_id)]
    pub conversation_id: Option<String>,
    /// Number of results.
    #[schema(schema_with = schema::top_k)]
    pub top_k: Option<i64>,
    /// Only messages at least this important, 0-1.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub importance_min: Option<f64>,
    /// Nearest neighbours considered for ranking.
    #[schema(schema_with = schema::candidate_limit)]
    pub candidate_limit: Option<i64>,
    /// `hybrid` (default), `vector` or `lexical`.
    #[schema(value_type = Option<SearchModeDto>)]
    pub mode: Option<String>,
    /// The least relevance a result (or, in hybrid mode, a turn next to it) must reach, 0-1
    /// (0 keeps everything; default 0.3).
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub min_relevance: Option<f64>,
    /// Only messages created at or after this instant (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_after: Option<String>,
    /// Only messages created before this instant (RFC 3339).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_before: Option<String>,
    /// Metadata conditions: `{"key": value}` (equality), `{"key": {"op": operand}}` with
    /// op one of eq, ne, in, nin, gt, gte, lt, lte, contains, exists; combined with
    /// `AND`/`OR` (arrays) and `NOT`. A condition on a missing field is false.
    #[schema(value_type = Option<Object>)]
    pub filters: Option<serde_json::Value>,
}

impl SearchRequest {
    /// Validates into the core's [`SearchQuery`], collecting every error.
    pub fn into_core(self) -> Result<SearchQuery, ApiError> {
        Raw {
            tenant_id: &self.tenant_id,
            query: &self.query,
            conversation_id: self.conversation_id.as_deref(),
            top_k: self.top_k,
            importance_min: self.importance_min,
            candidate_limit: self.candidate_limit,
            mode: self.mode.as_deref(),
            min_relevance: self.min_relevance,
            created_after: &self.created_after,
            created_before: &self.created_before,
            filters: self.filters,
        }
        .into_core(Vec::new())
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
    Ok(HttpResponse::Ok().json(results.into_wire()))
}

/// Search with a JSON body: the same search as the GET, with metadata `filters` as an
/// object and the time range (`created_after`, `created_before`). Malformed filters are a
/// 422 naming the part that is wrong (`filters.OR[1].priority.gte`).
#[utoipa::path(
    post,
    path = "/v1/memory/search",
    tag = "memory",
    request_body = SearchRequest,
    responses(
        (status = 200, description = "Ranked results", body = SearchResponse),
        (status = 422, description = "Invalid fields or filters", body = ErrorBody),
        responses::Guarded,
        responses::JsonBody,
        responses::TenantBound,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn search_post(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<SearchRequest>,
) -> ApiResult<HttpResponse> {
    let query = body.0.into_core()?;
    let results = state.service.search(query, &caller.0).await?;
    Ok(HttpResponse::Ok().json(results.into_wire()))
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
            min_relevance: Some("1.5".into()),
            created_after: Some("later".into()),
            created_before: None,
            filters: Some("{\"n\": {\"between\": 1}}".into()),
        };
        assert_eq!(
            fields(p.into_core().expect_err("invalid")),
            [
                "query",
                "top_k",
                "mode",
                "min_relevance",
                "created_after",
                "importance_min",
                "filters.n.between"
            ]
        );
    }
}
