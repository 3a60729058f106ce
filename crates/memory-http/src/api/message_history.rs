//! `GET /v1/messages/{message_id}/history`: a message's changes.

use crate::api::common::message_id_param;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use memory_core::domain::HistoryEntry;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::responses;
use crate::error::{ApiResult, ErrorBody};
use crate::middleware::Caller;
use crate::startup::AppState;

/// A message's values at one point of its history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MessageSnapshot {
    /// Text.
    pub content: String,
    /// Metadata.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Importance.
    pub importance_score: f64,
}

/// One change.
#[derive(Debug, Clone, Serialize, ToSchema)]
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

impl From<HistoryEntry> for HistoryEntryResponse {
    fn from(e: HistoryEntry) -> Self {
        Self {
            changed: e.changed_fields().into_iter().map(str::to_owned).collect(),
            id: e.id,
            at: e.at,
            actor: e.actor.as_str().to_owned(),
            old: MessageSnapshot {
                content: e.old_content.into_inner(),
                metadata: e.old_metadata.to_value(),
                importance_score: e.old_importance.value(),
            },
            new: MessageSnapshot {
                content: e.new_content.into_inner(),
                metadata: e.new_metadata.to_value(),
                importance_score: e.new_importance.value(),
            },
        }
    }
}

/// A message's history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryResponse {
    /// The message.
    pub message_id: Uuid,
    /// Its changes, oldest first (empty if it never changed).
    pub entries: Vec<HistoryEntryResponse>,
}

/// Read the history of a message's updates: who changed what, when, with the values before
/// and after. Deleting or erasing the message deletes its history.
#[utoipa::path(
    get,
    path = "/v1/messages/{message_id}/history",
    tag = "messages",
    params(("message_id" = String, Path, description = "The message's UUID", format = Uuid)),
    responses(
        (status = 200, description = "The history", body = HistoryResponse),
        (status = 404, description = "No such message (or not visible to this key)", body = ErrorBody),
        (status = 422, description = "Not a UUID", body = ErrorBody),
        responses::Guarded,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn message_history(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = message_id_param(&req)?;
    let entries = state.service.history(id, &caller.0).await?;
    Ok(HttpResponse::Ok().json(HistoryResponse {
        message_id: id.as_uuid(),
        entries: entries
            .into_iter()
            .map(HistoryEntryResponse::from)
            .collect(),
    }))
}
