//! `GET /v1/messages`: a tenant's messages, a page at a time.

use actix_web::{HttpResponse, web};
use memory_core::domain::{ListParams, ListRequest};
use serde::Deserialize;
use utoipa::IntoParams;

use super::common::{Required, RoleDto, parse_instant, parse_number};
use super::wire::IntoWire;

use super::{responses, schema};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::StrictQuery;
use crate::middleware::Caller;
use crate::startup::AppState;
pub use memory_api_types::{ListMessagesResponse, SortOrderDto};

/// The query parameters (read as text: a bad value is a 422 naming it).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListMessagesParams {
    /// Tenant (required).
    #[param(schema_with = schema::tenant_id, required = true)]
    pub tenant_id: Option<String>,
    /// Only this conversation.
    #[param(schema_with = schema::conversation_id)]
    pub conversation_id: Option<String>,
    /// Only this role.
    #[param(value_type = Option<RoleDto>)]
    pub role: Option<String>,
    /// `true`: only archived messages; `false`: only live ones; absent: both.
    #[param(value_type = Option<bool>)]
    pub archived: Option<String>,
    /// Only messages created at or after this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_after: Option<String>,
    /// Only messages created before this instant (RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    pub created_before: Option<String>,
    /// `asc` (oldest first, default) or `desc`, by (created_at, id).
    #[param(value_type = Option<SortOrderDto>)]
    pub order: Option<String>,
    /// Page size.
    #[param(schema_with = schema::list_limit)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (same tenant and filters).
    pub cursor: Option<String>,
}

impl ListMessagesParams {
    /// Validates into the core's [`ListRequest`], collecting every error.
    pub fn into_core(self) -> Result<ListRequest, ApiError> {
        let mut req = Required::new();
        let tenant = req.take("tenant_id", &self.tenant_id);
        let mut extra = Vec::new();
        let limit = parse_number::<i64>(&mut extra, "limit", &self.limit, "an integer");
        let archived =
            parse_number::<bool>(&mut extra, "archived", &self.archived, "true or false");
        let created_after = parse_instant(&mut extra, "created_after", &self.created_after);
        let created_before = parse_instant(&mut extra, "created_before", &self.created_before);
        let parsed = ListRequest::parse(&ListParams {
            tenant_id: tenant,
            conversation_id: self.conversation_id.as_deref(),
            role: self.role.as_deref(),
            archived,
            created_after,
            created_before,
            order: self.order.as_deref(),
            limit,
            cursor: self.cursor.as_deref(),
        });
        match parsed {
            Ok(r) if req.missing.is_empty() && extra.is_empty() => Ok(r),
            Ok(_) => Err(req.merge(extra, None).into()),
            Err(e) => Err(req.merge(extra, Some(e)).into()),
        }
    }
}

/// List a tenant's messages, archived ones included unless `archived` says otherwise, ordered
/// by (created_at, id). Keyset pages: follow `next_cursor` until it is null; no message that
/// existed when the first page was read is skipped or repeated, whatever is written
/// meanwhile. A cursor of another tenant or other filters is a 422.
#[utoipa::path(
    get,
    path = "/v1/messages",
    tag = "messages",
    params(ListMessagesParams),
    responses(
        (status = 200, description = "A page of messages", body = ListMessagesResponse),
        (status = 422, description = "Invalid parameters or cursor", body = ErrorBody),
        responses::Guarded,
        responses::TenantBound,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn list_messages(
    state: web::Data<AppState>,
    caller: Caller,
    params: StrictQuery<ListMessagesParams>,
) -> ApiResult<HttpResponse> {
    let request = params.0.into_core()?;
    let page = state.service.list(&request, &caller.0, false).await?;
    Ok(HttpResponse::Ok().json(page.into_wire()))
}
