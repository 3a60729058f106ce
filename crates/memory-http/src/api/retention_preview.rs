//! `GET /v1/admin/retention/preview`: the tenant's policy and what a run now would do.

use actix_web::{HttpResponse, web};
use memory_core::MemoryService;
use memory_core::domain::TenantId;
use memory_core::error::ValidationErrors;
use serde::Deserialize;
use utoipa::IntoParams;

use super::common::{Required, parse_number};
use super::wire::IntoWire;
use super::{responses, schema};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::StrictQuery;
use crate::middleware::Caller;
use crate::startup::AppState;
pub use memory_api_types::{
    ArchivePreview, DeletePreview, RetentionPolicyDto, RetentionPreviewResponse,
};

/// The query parameters.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RetentionPreviewParams {
    /// Tenant (required).
    #[param(schema_with = schema::tenant_id, required = true)]
    pub tenant_id: Option<String>,
    /// How many of the messages to archive to return, 0-200 (default 20).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 200)]
    pub limit: Option<String>,
}

impl RetentionPreviewParams {
    fn into_core(self) -> Result<(TenantId, usize), ApiError> {
        let mut req = Required::new();
        let tenant = req.take("tenant_id", &self.tenant_id);
        let mut extra = Vec::new();
        let limit = parse_number::<i64>(&mut extra, "limit", &self.limit, "an integer");
        let mut core = ValidationErrors::new();
        let tenant_id = core.check(TenantId::parse(tenant));
        let limit = if extra.is_empty() {
            core.check(MemoryService::preview_sample(limit))
        } else {
            None
        };
        match (tenant_id, limit) {
            (Some(t), Some(l)) if req.missing.is_empty() && extra.is_empty() => Ok((t, l)),
            _ => Err(req.merge(extra, Some(core)).into()),
        }
    }
}

/// The tenant's retention policy (its own or the server's default) and what a retention run
/// now would do, changing nothing: exact counts of the messages it would archive and delete,
/// and up to `limit` of the messages it would archive, oldest first (found among the
/// tenant's oldest 5,000 live messages).
#[utoipa::path(
    get,
    path = "/v1/admin/retention/preview",
    tag = "admin",
    params(RetentionPreviewParams),
    responses(
        (status = 200, description = "The policy and what a run would do", body = RetentionPreviewResponse),
        (status = 422, description = "Invalid parameters", body = ErrorBody),
        responses::Guarded,
        responses::TenantBound,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn retention_preview(
    state: web::Data<AppState>,
    caller: Caller,
    params: StrictQuery<RetentionPreviewParams>,
) -> ApiResult<HttpResponse> {
    let (tenant, limit) = params.0.into_core()?;
    let preview = state
        .service
        .retention_preview(&tenant, limit, &caller.0)
        .await?;
    Ok(HttpResponse::Ok().json(preview.into_wire()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::fields;

    #[test]
    fn every_bad_parameter_is_named() {
        let p = |tenant: Option<&str>, limit: &str| RetentionPreviewParams {
            tenant_id: tenant.map(str::to_owned),
            limit: Some(limit.to_owned()),
        };
        let got = fields(p(None, "201").into_core().expect_err("invalid"));
        assert_eq!(got, ["tenant_id", "limit"]);
        let got = fields(p(Some(""), "x").into_core().expect_err("invalid"));
        assert_eq!(got, ["limit", "tenant_id"]);
        assert_eq!(p(Some("acme"), "0").into_core().expect("valid").1, 0);
    }
}
