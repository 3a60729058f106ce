//! `POST /v1/messages`: store a message.

use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{DateTime, Utc};
use memory_core::domain::NewMessage;
use memory_core::error::FieldError;
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{MessageResponse, Required, RoleDto, idempotency_key};
use super::wire::IntoWire;
use super::{responses, schema};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::DigestedJson;
use crate::middleware::Caller;
use crate::startup::AppState;

/// A message to store.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant_id": "acme", "conversation_id": "conv-123", "role": "user",
    "content": "I love Python programming and machine learning",
    "metadata": {"source": "web", "user_id": "user-456"}}))]
pub struct CreateMessageRequest {
    /// Owner.
    #[schema(schema_with = schema::tenant_id, required = true)]
    pub tenant_id: Option<String>,
    /// Conversation.
    #[schema(schema_with = schema::conversation_id, required = true)]
    pub conversation_id: Option<String>,
    /// `user`, `assistant` or `system`.
    #[schema(value_type = RoleDto, required = true)]
    pub role: Option<String>,
    /// The text.
    #[schema(schema_with = schema::content, required = true)]
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

/// Store a message. It is committed before the answer; its embedding is computed before the
/// answer too when the embedder keeps up (`completed`), otherwise later (`pending`/`failed`).
/// With an `Idempotency-Key`, a retry of the same request (after a timeout, a lost
/// connection, a 5xx) returns the same message instead of storing it twice.
#[utoipa::path(
    post,
    path = "/v1/messages",
    tag = "messages",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: 1-255 visible ASCII characters, per tenant, kept 24 h"),
    ),
    request_body = CreateMessageRequest,
    responses(
        (status = 202, description = "Stored (or, for a retried Idempotency-Key, stored before)", body = MessageResponse),
        (status = 404, description = "A retry with an Idempotency-Key whose message was deleted since", body = ErrorBody),
        (status = 409, description = "`idempotency_key_reused`: the key was used for another request", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
        responses::Guarded,
        responses::JsonBody,
        responses::TenantBound,
    ),
    security(("api_key" = []))
)]
pub async fn create_message(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: DigestedJson<CreateMessageRequest>,
) -> ApiResult<HttpResponse> {
    let key = idempotency_key(&req, &body.digest)?;
    let new = body.value.into_core()?;
    let message = state
        .service
        .ingest_keyed(new, &caller.0, key.as_ref())
        .await?;
    state.metrics.record_ingested();
    Ok(HttpResponse::Accepted().json(message.into_wire()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::fields;

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
}
