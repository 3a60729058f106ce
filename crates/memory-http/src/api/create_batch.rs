//! `POST /v1/messages/batch`: store up to 1,000 messages of one tenant at once.

use actix_web::{HttpRequest, HttpResponse, web};
use memory_core::domain::{NewMessage, TenantId};
use memory_core::error::{FieldError, ValidationErrors};
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::{RoleDto, idempotency_key};
use super::wire::IntoWire;

use super::create_message::CreateMessageRequest;
use super::{responses, schema};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::DigestedJson;
use crate::middleware::Caller;
use crate::startup::AppState;
pub use memory_api_types::{BatchItemResult, BatchResponse};

/// A batch: one tenant, many messages (of any of its conversations).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant_id": "acme", "messages": [
    {"conversation_id": "c1", "role": "user", "content": "I moved to Lisbon", "created_at": "2024-03-01T09:00:00Z"},
    {"conversation_id": "c1", "role": "assistant", "content": "How do you like it?"}]}))]
pub struct BatchRequest {
    /// Owner of every message.
    #[schema(schema_with = schema::tenant_id, required = true)]
    pub tenant_id: Option<String>,
    /// The messages, each shaped like `POST /v1/messages` without `tenant_id`.
    #[schema(schema_with = schema::batch_messages, required = true)]
    pub messages: Option<Vec<serde_json::Value>>,
}

/// One message of a batch (as `POST /v1/messages`; `tenant_id` may be left out, and must be
/// the batch's if given).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct BatchItem {
    /// Conversation.
    #[schema(schema_with = schema::conversation_id, required = true)]
    pub conversation_id: Option<String>,
    /// `user`, `assistant` or `system`.
    #[schema(value_type = RoleDto, required = true)]
    pub role: Option<String>,
    /// The text.
    #[schema(schema_with = schema::content, required = true)]
    pub content: Option<String>,
    /// Any JSON object.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// The client's own importance in [0, 1].
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub importance_override: Option<f64>,
    /// For imports: when the message was really written (RFC 3339, not in the future).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub created_at: Option<String>,
}

/// One item, parsed like a single message; a `tenant_id` must be the batch's.
fn parse_item(tenant: &TenantId, value: serde_json::Value) -> Result<NewMessage, ValidationErrors> {
    let mut item: CreateMessageRequest = crate::extract::from_value(value, "message")?;
    match &item.tenant_id {
        Some(t) if t != tenant.as_str() => {
            return Err(FieldError::new(
                "tenant_id",
                "must be the batch's tenant_id (or left out)",
            )
            .into());
        }
        _ => item.tenant_id = Some(tenant.as_str().to_owned()),
    }
    item.into_core().map_err(|e| match e {
        ApiError::Validation(v) => v,
        other => ValidationErrors(vec![FieldError::new("message", other.to_string())]),
    })
}

/// Store up to 1,000 messages of one tenant (mixed conversations; `created_at` may back-date
/// them for an import). Valid items are embedded in model-sized batches and stored in one
/// transaction; an invalid item is reported in its place and never keeps the others out.
/// The answer is always 207 Multi-Status once the request itself is valid: read each item's
/// `status` (201 stored, 422 refused). With an `Idempotency-Key`, a retry of the same
/// request returns the same results (`replayed: true`) without storing anything again.
#[utoipa::path(
    post,
    path = "/v1/messages/batch",
    tag = "messages",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: 1-255 visible ASCII characters, per tenant, kept 24 h"),
    ),
    request_body = BatchRequest,
    responses(
        (status = 207, description = "Per-item results", body = BatchResponse),
        (status = 409, description = "`idempotency_key_reused`: the key was used for another request", body = ErrorBody),
        (status = 422, description = "Invalid tenant, or not 1-1000 messages", body = ErrorBody),
        responses::Guarded,
        responses::JsonBody,
        responses::TenantBound,
    ),
    security(("api_key" = []))
)]
pub async fn create_batch(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: DigestedJson<BatchRequest>,
) -> ApiResult<HttpResponse> {
    let key = idempotency_key(&req, &body.digest)?;
    let BatchRequest {
        tenant_id,
        messages,
    } = body.value;
    let mut errors = ValidationErrors::new();
    let tenant = match tenant_id {
        None => {
            errors.push(FieldError::new("tenant_id", "is required"));
            None
        }
        Some(t) => errors.check(TenantId::parse(t)),
    };
    let messages = match messages {
        None => {
            errors.push(FieldError::new("messages", "is required"));
            None
        }
        Some(m) if m.is_empty() || m.len() > memory_core::service::MAX_BATCH_MESSAGES => {
            errors.push(FieldError::new(
                "messages",
                format!(
                    "must hold 1-{} messages, got {}",
                    memory_core::service::MAX_BATCH_MESSAGES,
                    m.len()
                ),
            ));
            None
        }
        Some(m) => Some(m),
    };
    let (Some(tenant), Some(messages)) = (tenant, messages) else {
        return Err(errors.into());
    };
    let items = messages
        .into_iter()
        .map(|v| parse_item(&tenant, v))
        .collect();
    let outcome = state
        .service
        .ingest_batch(&tenant, items, &caller.0, key.as_ref())
        .await?;
    let results: Vec<BatchItemResult> = outcome
        .items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Ok(m) => BatchItemResult {
                index,
                status: 201,
                id: Some(m.id.as_uuid()),
                embedding_status: Some(m.embedding_status.into_wire()),
                error: None,
            },
            Err(e) => BatchItemResult {
                index,
                status: 422,
                id: None,
                embedding_status: None,
                error: Some(ApiError::Validation(e).body()),
            },
        })
        .collect();
    let created = results.iter().filter(|r| r.status == 201).count();
    if !outcome.replayed {
        state.metrics.record_ingested_many(created);
    }
    Ok(
        HttpResponse::build(actix_web::http::StatusCode::MULTI_STATUS).json(BatchResponse {
            tenant_id: tenant.into_inner(),
            created,
            failed: results.len() - created,
            replayed: outcome.replayed,
            results,
        }),
    )
}
