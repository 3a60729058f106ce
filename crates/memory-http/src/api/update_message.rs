//! `PATCH /v1/messages/{message_id}`: change a message's content, metadata or importance.

use crate::api::common::message_id_param;
use actix_web::{HttpRequest, HttpResponse, web};
use memory_core::domain::MessagePatch;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;

use super::common::{MessageResponse, idempotency_key};
use super::wire::IntoWire;
use super::{responses, schema};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::DigestedJson;
use crate::middleware::Caller;
use crate::startup::AppState;

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn explicit<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

/// What to change; at least one field.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"content": "I moved to Lisbon in 2024", "metadata": {"corrected": true},
    "metadata_mode": "merge"}))]
pub struct UpdateMessageRequest {
    /// New text: re-embedded, and re-indexed for lexical search.
    #[schema(schema_with = schema::content)]
    pub content: Option<String>,
    /// New metadata: replaces the old (`metadata_mode: replace`, default) or is merged into it
    /// as a JSON Merge Patch (RFC 7386: `null` removes a key).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// `replace` (default) or `merge`.
    #[schema(value_type = Option<String>, example = "merge")]
    pub metadata_mode: Option<String>,
    /// A new client importance in [0, 1]: the message is rescored as at ingest, dated now.
    /// `null` rescores it without one.
    #[serde(default, deserialize_with = "explicit")]
    #[schema(value_type = Option<f64>, minimum = 0.0, maximum = 1.0)]
    pub importance_override: Option<Option<f64>>,
}

impl UpdateMessageRequest {
    /// Validates into the core's [`MessagePatch`].
    pub fn into_core(self) -> Result<MessagePatch, ApiError> {
        Ok(MessagePatch::parse(
            self.content.as_deref(),
            self.metadata,
            self.metadata_mode.as_deref(),
            self.importance_override,
        )?)
    }
}

/// Change a message and return it as stored. The change is recorded in the message's
/// history (`GET /v1/messages/{message_id}/history`). With an `Idempotency-Key`, a retry of
/// the same request returns the same answer without changing anything again.
#[utoipa::path(
    patch,
    path = "/v1/messages/{message_id}",
    tag = "messages",
    params(
        ("message_id" = String, Path, description = "The message's UUID", format = Uuid),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: 1-255 visible ASCII characters, per tenant, kept 24 h"),
    ),
    request_body = UpdateMessageRequest,
    responses(
        (status = 200, description = "The message as stored", body = MessageResponse),
        (status = 404, description = "No such message (or not visible to this key)", body = ErrorBody),
        (status = 409, description = "`idempotency_key_reused`: the key was used for another request; `conflict`: the message kept changing meanwhile", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
        responses::Guarded,
        responses::JsonBody,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn update_message(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: DigestedJson<UpdateMessageRequest>,
) -> ApiResult<HttpResponse> {
    let id = message_id_param(&req)?;
    let key = idempotency_key(&req, &body.digest)?;
    let patch = body.value.into_core()?;
    let message = state
        .service
        .update(id, &patch, &caller.1, key.as_ref(), &caller.0)
        .await?;
    Ok(HttpResponse::Ok().json(message.into_wire()))
}
