//! `DELETE /v1/tenants/{tenant_id}/messages`: erase everything of a tenant.

use actix_web::{HttpRequest, HttpResponse, web};
use memory_core::domain::TenantId;
use utoipa::IntoParams;

use super::common::ErasureResponse;
use super::{responses, schema};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::path_param;
use crate::middleware::Caller;
use crate::startup::AppState;

/// The path parameter (documentation only: the handler reads it strictly decoded).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub struct TenantPath {
    /// The tenant to erase.
    #[param(schema_with = schema::tenant_id)]
    tenant_id: String,
}

/// Erase everything of a tenant: messages, archived copies, retention policy. Admin keys
/// only. Idempotent.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/messages",
    tag = "admin",
    params(TenantPath),
    responses(
        (status = 200, description = "Erased", body = ErasureResponse),
        (status = 422, description = "Invalid tenant", body = ErrorBody),
        responses::Guarded,
        responses::AdminOnly,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn erase_tenant(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let tenant = TenantId::parse(path_param(&req, "tenant_id")?)
        .map_err(|e| ApiError::field(e.field, e.rule))?;
    let deleted = state.service.erase_tenant(&tenant, &caller.0).await?;
    tracing::info!(tenant = %tenant, deleted, "erased a tenant");
    Ok(HttpResponse::Ok().json(ErasureResponse {
        tenant_id: tenant.into_inner(),
        conversation_id: None,
        deleted,
    }))
}
