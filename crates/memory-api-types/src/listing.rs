//! Pages of messages and the history of a message's changes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::message::MessageResponse;

/// Which way a listing goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SortOrderDto {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

impl SortOrderDto {
    /// The name on the wire: `asc` or `desc`.
    pub fn as_str(self) -> &'static str {
        match self {
            SortOrderDto::Asc => "asc",
            SortOrderDto::Desc => "desc",
        }
    }
}

/// One page of messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListMessagesResponse {
    /// In the listing's order.
    pub messages: Vec<MessageResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A message's values at one point of its history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MessageSnapshot {
    /// Text.
    pub content: String,
    /// Metadata.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Value,
    /// Importance.
    pub importance_score: f64,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryEntryResponse {
    /// The change's id.
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `key:` and the first 8 hex digits of the API key's SHA-256, or `anonymous`.
    pub actor: String,
    /// The fields whose value changed: `content`, `metadata`, `importance_score`.
    pub changed: Vec<String>,
    /// Before the change.
    pub old: MessageSnapshot,
    /// After.
    pub new: MessageSnapshot,
}

/// A message's history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HistoryResponse {
    /// The message.
    pub message_id: Uuid,
    /// Its changes, oldest first (empty if it never changed).
    pub entries: Vec<HistoryEntryResponse>,
}

/// `GET /v1/tenants`: the tenants the caller's key may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TenantsResponse {
    /// An admin key (or no keys configured): every tenant, and erasure allowed.
    pub admin: bool,
    /// Sorted. For an admin, every tenant with at least one stored message; for a
    /// tenant-bound key, its own tenants.
    pub tenants: Vec<String>,
}

/// One conversation of a tenant, summed up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConversationResponse {
    /// The conversation.
    pub conversation_id: String,
    /// Its messages, archived ones included.
    pub messages: u64,
    /// How many of them are archived.
    pub archived: u64,
    /// When its oldest message was written.
    pub first_message_at: DateTime<Utc>,
    /// When its newest message was written (the listing's order).
    pub last_message_at: DateTime<Utc>,
}

/// `GET /v1/conversations`: a page of a tenant's conversations, most recently active first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ListConversationsResponse {
    /// The conversations.
    pub conversations: Vec<ConversationResponse>,
    /// Pass as `cursor` for the next page; null on the last page.
    pub next_cursor: Option<String>,
}
