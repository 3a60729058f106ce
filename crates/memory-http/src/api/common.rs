//! Wire types more than one endpoint uses, and the helpers that read requests leniently.
//!
//! Requests are read leniently (every field optional, values as raw strings where the core
//! validates them) so that one 422 lists every problem at once: missing fields, bad values and
//! unknown fields alike. Unknown fields are rejected (`deny_unknown_fields`): a misspelt
//! `importance` instead of `importance_override` would otherwise be silently ignored.

use actix_web::HttpRequest;
use actix_web::http::header::HeaderName;
use chrono::{DateTime, Utc};
use memory_core::domain::{EmbeddingStatus, IdempotencyKey, Message, Role};
use memory_core::error::{FieldError, ValidationErrors};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use utoipa::ToSchema;
use uuid::Uuid;

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
pub(crate) struct Required {
    pub(crate) missing: Vec<&'static str>,
}

impl Required {
    pub(crate) fn new() -> Self {
        Self {
            missing: Vec::new(),
        }
    }

    pub(crate) fn take<'a>(&mut self, field: &'static str, v: &'a Option<String>) -> &'a str {
        match v {
            Some(s) => s,
            None => {
                self.missing.push(field);
                ""
            }
        }
    }

    pub(crate) fn merge(
        self,
        extra: Vec<FieldError>,
        core: Option<ValidationErrors>,
    ) -> ValidationErrors {
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
    /// Archived by retention (kept, but no longer searched).
    pub archived: bool,
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
            archived: m.archived,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Reads an optional number sent as text, naming the field when it is not one.
pub(crate) fn parse_number<T: std::str::FromStr>(
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

/// The header that makes a write safe to retry.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// The request's `Idempotency-Key`, bound to its method, path and body (`digest`, the
/// SHA-256 of the body): the same key with another request is a 409, not a replay.
pub(crate) fn idempotency_key(
    req: &HttpRequest,
    digest: &str,
) -> Result<Option<IdempotencyKey>, crate::error::ApiError> {
    let Some(value) = req.headers().get(&IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        crate::error::ApiError::field("Idempotency-Key", "must be visible ASCII characters")
    })?;
    let fingerprint: String =
        sha2::Sha256::digest(format!("{} {}\n{digest}", req.method(), req.uri().path()).as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    IdempotencyKey::parse(key, fingerprint)
        .map(Some)
        .map_err(|e| crate::error::ApiError::field(e.field, e.rule))
}

/// Reads an optional RFC 3339 instant, naming the field when it is not one.
pub(crate) fn parse_instant(
    errors: &mut Vec<FieldError>,
    field: &'static str,
    v: &Option<String>,
) -> Option<DateTime<Utc>> {
    let s = v.as_deref()?;
    match DateTime::parse_from_rfc3339(s.trim()) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => {
            errors.push(FieldError::new(
                field,
                "must be an RFC 3339 date-time, e.g. 2025-11-14T20:30:00Z",
            ));
            None
        }
    }
}

/// The `{message_id}` path parameter of the matched route, as a message id (a 422 naming
/// `message_id` when it is not a UUID).
pub(crate) fn message_id_param(
    req: &HttpRequest,
) -> Result<memory_core::domain::MessageId, crate::error::ApiError> {
    memory_core::domain::MessageId::parse(&crate::extract::path_param(req, "message_id")?)
        .map_err(|e| crate::error::ApiError::field(e.field, e.rule))
}
