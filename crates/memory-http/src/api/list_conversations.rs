//! `GET /v1/conversations`: a tenant's conversations, most recently active first.

use actix_web::{HttpResponse, web};
use memory_core::domain::ConversationRequest;
use serde::Deserialize;
use utoipa::IntoParams;

use super::common::{Required, parse_number};
use super::wire::IntoWire;
use super::{responses, schema};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::StrictQuery;
use crate::middleware::Caller;
use crate::startup::AppState;
pub use memory_api_types::{ConversationResponse, ListConversationsResponse};

/// The query parameters (read as text: a bad value is a 422 naming it).
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListConversationsParams {
    /// Tenant (required).
    #[param(schema_with = schema::tenant_id, required = true)]
    pub tenant_id: Option<String>,
    /// Page size.
    #[param(schema_with = schema::conversations_limit)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page (same tenant).
    pub cursor: Option<String>,
}

impl ListConversationsParams {
    /// Validates into the core's [`ConversationRequest`], collecting every error.
    pub fn into_core(self) -> Result<ConversationRequest, ApiError> {
        let mut req = Required::new();
        let tenant = req.take("tenant_id", &self.tenant_id);
        let mut extra = Vec::new();
        let limit = parse_number::<i64>(&mut extra, "limit", &self.limit, "an integer");
        match ConversationRequest::parse(tenant, limit, self.cursor.as_deref()) {
            Ok(r) if req.missing.is_empty() && extra.is_empty() => Ok(r),
            Ok(_) => Err(req.merge(extra, None).into()),
            Err(e) => Err(req.merge(extra, Some(e)).into()),
        }
    }
}

/// List a tenant's conversations, most recently active first (by their newest message, ties
/// by id), each with its message count (archived included), archived count and first and
/// last activity. Follow `next_cursor` until it is null; a conversation written to meanwhile
/// moves to the top of a fresh first page. A cursor of another tenant is a 422.
#[utoipa::path(
    get,
    path = "/v1/conversations",
    tag = "messages",
    params(ListConversationsParams),
    responses(
        (status = 200, description = "A page of conversations", body = ListConversationsResponse),
        (status = 422, description = "Invalid parameters or cursor", body = ErrorBody),
        responses::Guarded,
        responses::TenantBound,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn list_conversations(
    state: web::Data<AppState>,
    caller: Caller,
    params: StrictQuery<ListConversationsParams>,
) -> ApiResult<HttpResponse> {
    let request = params.0.into_core()?;
    let page = state.service.conversations(&request, &caller.0).await?;
    Ok(HttpResponse::Ok().json(page.into_wire()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::tests::fields;

    #[test]
    fn every_bad_parameter_is_named() {
        let p = ListConversationsParams {
            tenant_id: None,
            limit: Some("many".into()),
            cursor: None,
        };
        let mut got = fields(p.into_core().expect_err("invalid"));
        got.sort();
        assert_eq!(got, ["limit", "tenant_id"]);
    }
}
