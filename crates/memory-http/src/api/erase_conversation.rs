//! `DELETE /v1/conversations/{conversation_id}`: erase one conversation (a privacy request).

use actix_web::{HttpRequest, HttpResponse, web};
use memory_core::domain::{ConversationId, TenantId};
use memory_core::error::ValidationErrors;
use serde::Deserialize;
use utoipa::IntoParams;

use super::common::{ErasureResponse, Required};
use super::{responses, schema};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{StrictQuery, path_param};
use crate::middleware::Caller;
use crate::startup::AppState;

/// The path parameter (documentation only: the handler reads it strictly decoded).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct ConversationPath {
    /// The conversation to erase.
    #[param(schema_with = schema::conversation_id)]
    conversation_id: String,
}

/// The query parameters.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ErasureParams {
    /// The tenant that owns the conversation (required).
    #[param(schema_with = schema::tenant_id, required = true)]
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

/// Erase one conversation of a tenant (a privacy request): its messages and their archived
/// copies. Admin keys only (keys not bound to tenants). Idempotent: 200 with `deleted: 0`
/// when nothing is left.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{conversation_id}",
    tag = "admin",
    params(ConversationPath, ErasureParams),
    responses(
        (status = 200, description = "Erased", body = ErasureResponse),
        (status = 422, description = "Invalid tenant or conversation", body = ErrorBody),
        responses::Guarded,
        responses::AdminOnly,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn erase_conversation(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    params: StrictQuery<ErasureParams>,
) -> ApiResult<HttpResponse> {
    let (tenant, conversation) = params.0.into_core(&path_param(&req, "conversation_id")?)?;
    let deleted = state
        .service
        .erase_conversation(&tenant, &conversation, &caller.0)
        .await?;
    tracing::info!(tenant = %tenant, conversation = %conversation, deleted, "erased a conversation");
    Ok(HttpResponse::Ok().json(ErasureResponse {
        tenant_id: tenant.into_inner(),
        conversation_id: Some(conversation.into_inner()),
        deleted,
    }))
}
