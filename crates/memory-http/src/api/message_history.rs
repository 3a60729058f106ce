//! `GET /v1/messages/{message_id}/history`: a message's changes.

use crate::api::common::message_id_param;
use actix_web::{HttpRequest, HttpResponse, web};

pub use memory_api_types::{HistoryEntryResponse, HistoryResponse, MessageSnapshot};

use super::responses;
use super::wire::IntoWire;
use crate::error::{ApiResult, ErrorBody};
use crate::middleware::Caller;
use crate::startup::AppState;

/// Read the history of a message's updates: who changed what, when, with the values before
/// and after. Deleting or erasing the message deletes its history.
#[utoipa::path(
    get,
    path = "/v1/messages/{message_id}/history",
    tag = "messages",
    params(("message_id" = String, Path, description = "The message's UUID", format = Uuid)),
    responses(
        (status = 200, description = "The history", body = HistoryResponse),
        (status = 404, description = "No such message (or not visible to this key)", body = ErrorBody),
        (status = 422, description = "Not a UUID", body = ErrorBody),
        responses::Guarded,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn message_history(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = message_id_param(&req)?;
    let entries = state.service.history(id, &caller.0).await?;
    Ok(HttpResponse::Ok().json(HistoryResponse {
        message_id: id.as_uuid(),
        entries: entries.into_iter().map(IntoWire::into_wire).collect(),
    }))
}
