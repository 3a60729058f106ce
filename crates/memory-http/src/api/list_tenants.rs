//! `GET /v1/tenants`: the tenants the caller's key may see, and whether it is an admin key.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::responses;
use super::wire::IntoWire;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::StrictQuery;
use crate::middleware::Caller;
use crate::startup::AppState;
pub use memory_api_types::TenantsResponse;

/// No parameters: an unknown one is a 422, as everywhere.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// The tenants this key may see: for an admin key (or when no keys are configured) every
/// tenant with a stored message; for a tenant-bound key its own tenants, and nothing about
/// any other. `admin` says whether the key may erase.
#[utoipa::path(
    get,
    path = "/v1/tenants",
    tag = "messages",
    responses(
        (status = 200, description = "The visible tenants", body = TenantsResponse),
        (status = 422, description = "An unknown query parameter", body = ErrorBody),
        responses::Guarded,
    ),
    security(("api_key" = []))
)]
pub async fn list_tenants(
    state: web::Data<AppState>,
    caller: Caller,
    _params: StrictQuery<NoParams>,
) -> ApiResult<HttpResponse> {
    let visible = state.service.visible_tenants(&caller.0).await?;
    Ok(HttpResponse::Ok().json(visible.into_wire()))
}
