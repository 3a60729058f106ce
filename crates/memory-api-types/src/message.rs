//! A stored message.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RoleDto {
    /// The end user.
    User,
    /// The AI assistant.
    Assistant,
    /// A system prompt.
    System,
}

impl RoleDto {
    /// The name on the wire: `user`, `assistant` or `system`.
    pub fn as_str(self) -> &'static str {
        match self {
            RoleDto::User => "user",
            RoleDto::Assistant => "assistant",
            RoleDto::System => "system",
        }
    }
}

/// Whether a message's embedding is there yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EmbeddingStatusDto {
    /// Stored, not embedded yet: it is embedded in the background.
    Pending,
    /// Embedded; the message takes part in search.
    Completed,
    /// The embedder failed; retried in the background.
    Failed,
}

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub metadata: serde_json::Value,
    /// Importance in [0, 1], computed at ingest.
    pub importance_score: f64,
    /// The client's own importance (given at ingest or by a PATCH) that `importance_score`
    /// weighs in; null when none was given.
    #[serde(default)]
    pub importance_override: Option<f64>,
    /// Whether the embedding is there yet.
    pub embedding_status: EmbeddingStatusDto,
    /// Archived by retention (kept, but no longer searched).
    pub archived: bool,
    /// When the message was written.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}
