//! Typed requests, as a client sends them. Optional fields left `None` are not sent, so the
//! server applies its defaults.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::admin::RetentionActionDto;
use crate::listing::SortOrderDto;
use crate::message::RoleDto;
use crate::search::SearchModeDto;

/// `POST /v1/messages`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateMessage {
    /// Owner.
    pub tenant_id: String,
    /// Conversation.
    pub conversation_id: String,
    /// Author.
    pub role: RoleDto,
    /// The text.
    pub content: String,
    /// Any JSON object, echoed back exactly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// The client's own importance in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance_override: Option<f64>,
    /// For imports: when the message was really written (not in the future).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

impl CreateMessage {
    /// A message with no metadata, importance or date of its own.
    pub fn new(
        tenant_id: impl Into<String>,
        conversation_id: impl Into<String>,
        role: RoleDto,
        content: impl Into<String>,
    ) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            conversation_id: conversation_id.into(),
            role,
            content: content.into(),
            metadata: None,
            importance_override: None,
            created_at: None,
        }
    }
}

/// One message of `POST /v1/messages/batch` (its tenant is the batch's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchMessage {
    /// Conversation.
    pub conversation_id: String,
    /// Author.
    pub role: RoleDto,
    /// The text.
    pub content: String,
    /// Any JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// The client's own importance in [0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance_override: Option<f64>,
    /// When the message was really written (not in the future).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

impl From<CreateMessage> for BatchMessage {
    fn from(m: CreateMessage) -> Self {
        Self {
            conversation_id: m.conversation_id,
            role: m.role,
            content: m.content,
            metadata: m.metadata,
            importance_override: m.importance_override,
            created_at: m.created_at,
        }
    }
}

/// `POST /v1/messages/batch`: up to 1,000 messages of one tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CreateBatch {
    /// Owner of every message.
    pub tenant_id: String,
    /// The messages.
    pub messages: Vec<BatchMessage>,
}

/// `POST /v1/memory/search`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Search {
    /// Tenant to search.
    pub tenant_id: String,
    /// Text to search for.
    pub query: String,
    /// Only this conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Number of results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    /// Only messages at least this important, 0-1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance_min: Option<f64>,
    /// Nearest neighbours considered for ranking (at least `top_k`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub candidate_limit: Option<u32>,
    /// `hybrid` (the server's default), `vector` or `lexical`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SearchModeDto>,
    /// The least relevance a result must reach, 0-1 (0 keeps everything; the server's
    /// default drops what is clearly unrelated).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_relevance: Option<f64>,
    /// Only messages created at or after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<DateTime<Utc>>,
    /// Only messages created before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before: Option<DateTime<Utc>>,
    /// Metadata conditions (docs/api.md, "Search filters").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<serde_json::Value>,
}

impl Search {
    /// A search with the server's defaults.
    pub fn new(tenant_id: impl Into<String>, query: impl Into<String>) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            query: query.into(),
            ..Self::default()
        }
    }
}

/// How `PATCH` applies new metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetadataMode {
    /// The new metadata replaces the old (the default).
    Replace,
    /// A JSON Merge Patch (RFC 7386): `null` removes a key.
    Merge,
}

/// `PATCH /v1/messages/{id}`: at least one field.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UpdateMessage {
    /// New text (re-embedded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// New metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// How `metadata` applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_mode: Option<MetadataMode>,
    /// `Some(Some(x))`: a new importance; `Some(None)`: rescore without one (sent as `null`);
    /// `None`: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub importance_override: Option<Option<f64>>,
}

/// `GET /v1/messages`'s query parameters.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ListMessages {
    /// Tenant.
    pub tenant_id: String,
    /// Only this conversation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    /// Only this role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoleDto>,
    /// Only archived (`true`) or live (`false`) messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived: Option<bool>,
    /// Only messages created at or after this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_after: Option<DateTime<Utc>>,
    /// Only messages created before this instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_before: Option<DateTime<Utc>>,
    /// `asc` (the server's default) or `desc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<SortOrderDto>,
    /// Page size, 1-1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// The previous page's `next_cursor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl ListMessages {
    /// Every message of a tenant, in the server's default order and page size.
    pub fn new(tenant_id: impl Into<String>) -> Self {
        Self {
            tenant_id: tenant_id.into(),
            ..Self::default()
        }
    }
}

/// `POST /v1/admin/retention/run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRun {
    /// The tenant.
    pub tenant_id: String,
    /// Count only, change nothing.
    pub dry_run: bool,
    /// What to do.
    pub actions: Vec<RetentionActionDto>,
}
