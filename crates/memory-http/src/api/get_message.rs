//! `GET /v1/messages/{message_id}`: read one message.

use crate::api::common::message_id_param;
use actix_web::{HttpRequest, HttpResponse, web};

use super::common::MessageResponse;
use super::responses;
use super::wire::IntoWire;
use crate::error::{ApiResult, ErrorBody};
use crate::middleware::Caller;
use crate::startup::AppState;

/// Read a message by id. A message of a tenant the key may not access is a 404.
#[utoipa::path(
    get,
    path = "/v1/messages/{message_id}",
    tag = "messages",
    params(("message_id" = String, Path, description = "The message's UUID", format = Uuid)),
    responses(
        (status = 200, description = "The message", body = MessageResponse),
        (status = 404, description = "No such message (or not visible to this key)", body = ErrorBody),
        (status = 422, description = "Not a UUID", body = ErrorBody),
        responses::Guarded,
    ),
    security(("api_key" = []))
)]
pub async fn get_message(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = message_id_param(&req)?;
    let message = state.service.get(id, &caller.0).await?;
    Ok(HttpResponse::Ok().json(message.into_wire()))
}
