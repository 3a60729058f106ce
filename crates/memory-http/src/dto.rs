//! The wire format: serde mirrors of the core's types, converted by hand. The core derives no
//! serde; only this module knows what the JSON looks like.
//!
//! Requests are read leniently (every field optional, values as raw strings where the core
//! validates them) so that one 422 lists every problem at once: missing fields, bad values and
//! unknown fields alike. Unknown fields are rejected (`deny_unknown_fields`): a misspelt
//! `importance` instead of `importance_override` would otherwise be silently ignored.

use chrono::{DateTime, Utc};
use memory_core::domain::{
    ConversationId, EmbeddingStatus, Message, NewMessage, Role, SearchHit, SearchMode, SearchQuery,
    SearchResults, TenantId,
};
use memory_core::error::{FieldError, ValidationErrors};
use memory_core::retention::{RetentionReport, RetentionRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ApiError;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RoleDto {
    /// The end user.
    User,
    /// The AI assistant.
    Assistant,
    /// A system prompt.
    System,
}

impl From<Role> for RoleDto {
    fn from(r: Role) -> Self {
        match r {
            Role::User => RoleDto::User,
            Role::Assistant => RoleDto::Assistant,
            Role::System => RoleDto::System,
        }
    }
}

/// Whether a message's embedding is there yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingStatusDto {
    /// Stored, not embedded yet: it is embedded in the background.
    Pending,
    /// Embedded; the message takes part in search.
    Completed,
    /// The embedder failed; retried in the background.
    Failed,
}

impl From<EmbeddingStatus> for EmbeddingStatusDto {
    fn from(s: EmbeddingStatus) -> Self {
        match s {
            EmbeddingStatus::Pending => EmbeddingStatusDto::Pending,
            EmbeddingStatus::Completed => EmbeddingStatusDto::Completed,
            EmbeddingStatus::Failed => EmbeddingStatusDto::Failed,
        }
    }
}

/// Collects "is required" for missing fields, and drops the core's complaints about the
/// empty placeholders passed for them.
struct Required {
    missing: Vec<&'static str>,
}

impl Required {
    fn new() -> Self {
        Self {
            missing: Vec::new(),
        }
    }

    fn take<'a>(&mut self, field: &'static str, v: &'a Option<String>) -> &'a str {
        match v {
            Some(s) => s,
            None => {
                self.missing.push(field);
                ""
            }
        }
    }

    fn merge(self, extra: Vec<FieldError>, core: Option<ValidationErrors>) -> ValidationErrors {
        let mut out: Vec<FieldError> = self
            .missing
            .iter()
            .map(|f| FieldError::new(*f, "is required"))
            .collect();
        out.extend(extra);
        if let Some(core) = core {
            out.extend(
                core.0
                    .into_iter()
                    .filter(|e| !self.missing.contains(&e.field.as_str())),
            );
        }
        ValidationErrors(out)
    }
}

/// `POST /v1/messages`: a message to store.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant_id": "acme", "conversation_id": "conv-123", "role": "user",
    "content": "I love Python programming and machine learning",
    "metadata": {"source": "web", "user_id": "user-456"}}))]
pub struct CreateMessageRequest {
    /// Owner: 1-64 characters, no control characters, not only white space (the pattern says
    /// so for schema-driven clients).
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
    pub tenant_id: Option<String>,
    /// Conversation: 1-128 characters, no control characters, not only white space.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
    pub conversation_id: Option<String>,
    /// `user`, `assistant` or `system`.
    #[schema(value_type = RoleDto, required = true)]
    pub role: Option<String>,
    /// The text: 1-100,000 characters, no NUL.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 100000, pattern = r"^[^\u0000]*$")]
    pub content: Option<String>,
    /// Any JSON object (nesting up to 32 levels), echoed back exactly.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// The client's own importance in [0, 1], weighted 40% of the score.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub importance_override: Option<f64>,
    /// For imports: when the message was really written (RFC 3339, not in the future).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<String>,
}

impl CreateMessageRequest {
    /// Validates into the core's [`NewMessage`], collecting every error.
    pub fn into_core(self) -> Result<NewMessage, ApiError> {
        let mut req = Required::new();
        let tenant = req.take("tenant_id", &self.tenant_id);
        let conversation = req.take("conversation_id", &self.conversation_id);
        let role = req.take("role", &self.role);
        let content = req.take("content", &self.content);
        let mut extra = Vec::new();
        let created_at = match &self.created_at {
            None => None,
            Some(s) => match DateTime::parse_from_rfc3339(s) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(_) => {
                    extra.push(FieldError::new(
                        "created_at",
                        "must be an RFC 3339 date-time, e.g. 2025-11-14T20:30:00Z",
                    ));
                    None
                }
            },
        };
        let parsed = NewMessage::parse(
            tenant,
            conversation,
            role,
            content,
            self.metadata.clone(),
            self.importance_override,
            created_at,
        );
        match parsed {
            Ok(m) if req.missing.is_empty() && extra.is_empty() => Ok(m),
            Ok(_) => Err(req.merge(extra, None).into()),
            Err(e) => Err(req.merge(extra, Some(e)).into()),
        }
    }
}

/// A stored message.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageResponse {
    /// The message's id (a UUID v7: ids sort by creation).
    pub id: Uuid,
    /// Owner.
    pub tenant_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Author.
    pub role: RoleDto,
    /// Text.
    pub content: String,
    /// The metadata exactly as sent (`{}` when none was).
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Importance in [0, 1], computed at ingest.
    pub importance_score: f64,
    /// Whether the embedding is there yet.
    pub embedding_status: EmbeddingStatusDto,
    /// When the message was written.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<Message> for MessageResponse {
    fn from(m: Message) -> Self {
        Self {
            id: m.id.as_uuid(),
            tenant_id: m.tenant_id.into_inner(),
            conversation_id: m.conversation_id.into_inner(),
            role: m.role.into(),
            content: m.content.into_inner(),
            metadata: serde_json::Value::Object(m.metadata.into_map()),
            importance_score: m.importance_score.value(),
            embedding_status: m.embedding_status.into(),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// `GET /v1/memory/search` parameters. Numbers are read as text here so that a bad one is a
/// 422 naming it, alongside any other problem.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Tenant to search (required).
    #[param(value_type = String, required = true, min_length = 1, max_length = 64, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
    pub tenant_id: Option<String>,
    /// Text to search for (required, up to 10,000 characters). The whole URL, percent-encoded,
    /// must stay under 64 KiB: 10,000 characters outside ASCII may not fit (see the 400).
    #[param(value_type = String, required = true, min_length = 1, max_length = 10000, pattern = r"^[^\u0000]*[^\s\u0000][^\u0000]*$")]
    pub query: Option<String>,
    /// Only this conversation.
    #[param(value_type = Option<String>, min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
    pub conversation_id: Option<String>,
    /// Number of results, 1-100 (default 5).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub top_k: Option<String>,
    /// Only messages at least this important, 0-1.
    #[param(value_type = Option<f64>, minimum = 0.0, maximum = 1.0)]
    pub importance_min: Option<String>,
    /// Nearest neighbours considered for ranking, 1-1000 and at least top_k (default 200).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    pub candidate_limit: Option<String>,
    /// `hybrid` (default: nearest neighbours plus lexical matches, fused), `vector` (the
    /// seed's nearest neighbours only) or `lexical` (lexical matches only, no embedding).
    #[param(value_type = Option<SearchModeDto>)]
    pub mode: Option<String>,
}

fn parse_number<T: std::str::FromStr>(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    v: &Option<String>,
    what: &str,
) -> Option<T> {
    let s = v.as_deref()?;
    match s.trim().parse::<T>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(FieldError::new(field, format!("must be {what}, got {s:?}")));
            None
        }
    }
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

/// A retention action.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RetentionActionDto {
    /// Archive messages older than the policy's age or below its importance threshold.
    Archive,
    /// Delete archived messages past the policy's deletion delay.
    Delete,
}

/// `POST /v1/admin/retention/run`: apply a tenant's retention policy.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant_id": "acme", "dry_run": false, "actions": ["archive", "delete"]}))]
pub struct RetentionRunRequest {
    /// The tenant.
    #[schema(value_type = String, required = true, min_length = 1, max_length = 64, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
    pub tenant_id: Option<String>,
    /// Count only, change nothing (default false).
    pub dry_run: Option<bool>,
    /// What to do: at least one of `archive`, `delete`.
    #[schema(value_type = Vec<RetentionActionDto>, required = true, min_items = 1)]
    pub actions: Option<Vec<String>>,
}

impl RetentionRunRequest {
    /// Validates into the core's [`RetentionRequest`], collecting every error.
    pub fn into_core(self) -> Result<RetentionRequest, ApiError> {
        let mut req = Required::new();
        let tenant = req.take("tenant_id", &self.tenant_id);
        if self.actions.is_none() {
            req.missing.push("actions");
        }
        let actions = self.actions.unwrap_or_default();
        match RetentionRequest::parse(tenant, &actions, self.dry_run.unwrap_or(false)) {
            Ok(r) if req.missing.is_empty() => Ok(r),
            Ok(_) => Err(req.merge(Vec::new(), None).into()),
            Err(e) => Err(req.merge(Vec::new(), Some(e)).into()),
        }
    }
}

/// What a retention run did (or, in a dry run, would do).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RetentionRunResponse {
    /// Messages archived.
    pub archived: u64,
    /// Archived messages deleted.
    pub deleted: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
}

impl From<RetentionReport> for RetentionRunResponse {
    fn from(r: RetentionReport) -> Self {
        Self {
            archived: r.archived,
            deleted: r.deleted,
            dry_run: r.dry_run,
        }
    }
}

/// Overall health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// Everything works.
    Ok,
    /// The database is down (answered with 503).
    Degraded,
}

/// The database's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseStatus {
    /// Answered in time.
    Ok,
    /// Failed or did not answer in time.
    Down,
}

/// `GET /v1/admin/health`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`, or `degraded` (with 503) when the database is down.
    pub status: HealthStatus,
    /// `ok` or `down`.
    pub database: DatabaseStatus,
    /// When the check ran.
    pub timestamp: DateTime<Utc>,
    /// How long the database check took, in milliseconds.
    pub latency_ms: f64,
    /// Seconds since the server started.
    pub uptime_seconds: u64,
    /// The deployment environment.
    pub environment: String,
    /// The server's version.
    pub version: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation(v) => v.0.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn missing_fields_are_reported_once_alongside_bad_ones() {
        let r = CreateMessageRequest {
            tenant_id: None,
            conversation_id: Some("c".into()),
            role: Some("robot".into()),
            content: None,
            metadata: Some(serde_json::json!([1])),
            importance_override: Some(1.5),
            created_at: Some("yesterday".into()),
        };
        assert_eq!(
            fields(r.into_core().expect_err("invalid")),
            [
                "tenant_id",
                "content",
                "created_at",
                "role",
                "metadata",
                "importance_override"
            ]
        );
    }

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

    #[test]
    fn retention_requires_actions() {
        let r = RetentionRunRequest {
            tenant_id: Some("acme".into()),
            dry_run: None,
            actions: None,
        };
        assert_eq!(fields(r.into_core().expect_err("invalid")), ["actions"]);
    }
}

/// `DELETE /v1/conversations/{conversation_id}` parameters.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ErasureParams {
    /// The tenant that owns the conversation (required).
    #[param(value_type = String, required = true, min_length = 1, max_length = 64, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")]
    pub tenant_id: Option<String>,
}

impl ErasureParams {
    /// Validates the tenant and the conversation from the path, collecting every error.
    pub fn into_core(self, conversation: &str) -> Result<(TenantId, ConversationId), ApiError> {
        let mut req = Required::new();
        let tenant = req.take("tenant_id", &self.tenant_id);
        let mut errors = ValidationErrors::new();
        let tenant = if self.tenant_id.is_some() {
            errors.check(TenantId::parse(tenant))
        } else {
            None
        };
        let conversation = errors.check(ConversationId::parse(conversation));
        let all = req.merge(Vec::new(), (!errors.is_empty()).then_some(errors));
        match (tenant, conversation) {
            (Some(t), Some(c)) if all.is_empty() => Ok((t, c)),
            _ => Err(ApiError::Validation(all)),
        }
    }
}

/// What an erasure deleted.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErasureResponse {
    /// The tenant.
    pub tenant_id: String,
    /// The conversation, when one conversation was erased.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Messages deleted (archived copies go with them); 0 when there was nothing left.
    pub deleted: u64,
}
