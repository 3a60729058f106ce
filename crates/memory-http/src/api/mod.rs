//! The API, one module per endpoint: its handler, its request readers and its OpenAPI
//! annotation, side by side. The response shapes live in `memory-api-types` (shared with
//! `memory-client`), converted from the core's types by hand in [`wire`]. Handlers parse the wire type, call [`memory_core::MemoryService`] and convert the
//! answer back; no business logic lives here. The core derives no serde: only this module
//! and `memory-api-types` know what the JSON looks like.
//!
//! | endpoint | module |
//! | --- | --- |
//! | `POST /v1/messages` | [`create_message`] |
//! | `GET /v1/messages` | [`list_messages`] |
//! | `GET /v1/tenants` | [`list_tenants`] |
//! | `GET /v1/conversations` | [`list_conversations`] |
//! | `POST /v1/messages/batch` | [`create_batch`] |
//! | `GET /v1/messages/{message_id}` | [`get_message`] |
//! | `PATCH /v1/messages/{message_id}` | [`update_message`] |
//! | `DELETE /v1/messages/{message_id}` | [`delete_message`] |
//! | `GET /v1/messages/{message_id}/history` | [`message_history`] |
//! | `GET /v1/memory/search`, `POST /v1/memory/search` | [`search`] |
//! | `POST /v1/admin/retention/run` | [`run_retention`] |
//! | `GET /v1/admin/retention/preview` | [`retention_preview`] |
//! | `DELETE /v1/conversations/{conversation_id}` | [`erase_conversation`] |
//! | `DELETE /v1/tenants/{tenant_id}/messages` | [`erase_tenant`] |
//! | `GET /v1/admin/health` | [`health`] |
//! | `GET /metrics` | [`metrics`] |
//!
//! Shared by several: [`common`] (lenient-reading helpers), [`wire`] (core types to wire
//! types), [`responses`]
//! (the error responses, listed once) and [`schema`] (schemas from the core's limits).

use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};

use crate::error::ApiError;

pub mod common;
pub mod create_batch;
pub mod create_message;
pub mod delete_message;
pub mod erase_conversation;
pub mod erase_tenant;
pub mod get_message;
pub mod health;
pub mod list_conversations;
pub mod list_messages;
pub mod list_tenants;
pub mod message_history;
pub mod metrics;
pub mod responses;
pub mod retention_preview;
pub mod run_retention;
pub mod schema;
pub mod search;
pub mod update_message;
pub mod wire;

/// `/docs` without the slash: Swagger UI lives under `/docs/`.
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/docs/"))
        .finish()
}

/// Anything unrouted.
pub async fn not_found() -> HttpResponse {
    ApiError::NotFound("route".into()).error_response()
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::error::ApiError;

    /// The fields a validation error names, in order.
    pub(crate) fn fields(e: ApiError) -> Vec<String> {
        match e {
            ApiError::Validation(v) => v.0.into_iter().map(|f| f.field).collect(),
            other => panic!("{other:?}"),
        }
    }
}
