//! `POST /v1/admin/retention/run`: apply a tenant's retention policy now.

use std::time::Instant;

use actix_web::{HttpResponse, web};
use memory_core::retention::RetentionRequest;
use serde::Deserialize;
use utoipa::ToSchema;

use super::common::Required;
use super::wire::IntoWire;

use super::{responses, schema};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::JsonBody;
use crate::middleware::Caller;
use crate::startup::AppState;
pub use memory_api_types::{RetentionActionDto, RetentionRunResponse};

/// `POST /v1/admin/retention/run`: apply a tenant's retention policy.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"tenant_id": "acme", "dry_run": false, "actions": ["archive", "delete"]}))]
pub struct RetentionRunRequest {
    /// The tenant.
    #[schema(schema_with = schema::tenant_id, required = true)]
    pub tenant_id: Option<String>,
    /// Count only, change nothing (default false).
    pub dry_run: Option<bool>,
    /// What to do: at least one of `archive`, `delete`.
    #[schema(value_type = Vec<RetentionActionDto>, required = true, min_items = 1)]
    pub actions: Option<Vec<String>>,
}

impl RetentionRunRequest {
    /// Validates into the core's [`RetentionRequest`], collecting every error.
    pub fn into_core(self) -> Result<RetentionRequest, ApiError> {
        let mut req = Required::new();
        let tenant = req.take("tenant_id", &self.tenant_id);
        if self.actions.is_none() {
            req.missing.push("actions");
        }
        let actions = self.actions.unwrap_or_default();
        match RetentionRequest::parse(tenant, &actions, self.dry_run.unwrap_or(false)) {
            Ok(r) if req.missing.is_empty() => Ok(r),
            Ok(_) => Err(req.merge(Vec::new(), None).into()),
            Err(e) => Err(req.merge(Vec::new(), Some(e)).into()),
        }
    }
}

/// Apply a tenant's retention policy now: archive, then delete old archived messages.
#[utoipa::path(
    post,
    path = "/v1/admin/retention/run",
    tag = "admin",
    request_body = RetentionRunRequest,
    responses(
        (status = 200, description = "What was (or, in a dry run, would be) done", body = RetentionRunResponse),
        (status = 422, description = "Invalid fields", body = ErrorBody),
        responses::Guarded,
        responses::JsonBody,
        responses::TenantBound,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn run_retention(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<RetentionRunRequest>,
) -> ApiResult<HttpResponse> {
    let request = body.0.into_core()?;
    let start = Instant::now();
    let report = state.service.run_retention(request, &caller.0).await?;
    state
        .metrics
        .record_retention(&report, start.elapsed().as_secs_f64());
    Ok(HttpResponse::Ok().json(report.into_wire()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::fields;

    #[test]
    fn retention_requires_actions() {
        let r = RetentionRunRequest {
            tenant_id: Some("acme".into()),
            dry_run: None,
            actions: None,
        };
        assert_eq!(fields(r.into_core().expect_err("invalid")), ["actions"]);
    }
}
