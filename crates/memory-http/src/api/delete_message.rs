//! `DELETE /v1/messages/{message_id}`: delete one message.

use crate::api::common::message_id_param;
use actix_web::{HttpRequest, HttpResponse, web};

use super::responses;
use crate::error::{ApiResult, ErrorBody};
use crate::middleware::Caller;
use crate::startup::AppState;

/// Delete a message, with its archived copy and its history. 204 when it was deleted, 404
/// when there is no such message (a retried delete that already succeeded), also for a
/// message of a tenant the key may not access.
#[utoipa::path(
    delete,
    path = "/v1/messages/{message_id}",
    tag = "messages",
    params(("message_id" = String, Path, description = "The message's UUID", format = Uuid)),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such message (or not visible to this key)", body = ErrorBody),
        (status = 422, description = "Not a UUID", body = ErrorBody),
        responses::Guarded,
        responses::Optional,
    ),
    security(("api_key" = []))
)]
pub async fn delete_message(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = message_id_param(&req)?;
    state.service.delete(id, &caller.0).await?;
    Ok(HttpResponse::NoContent().finish())
}
