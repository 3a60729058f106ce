//! The handlers: parse the wire type, convert it to the core's, call [`crate::DynService`],
//! convert the answer back. No business logic lives here.

use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use memory_core::domain::{MessageId, TenantId};

use crate::dto::{
    CreateMessageRequest, DatabaseStatus, ErasureParams, ErasureResponse, HealthResponse,
    HealthStatus, MessageResponse, RetentionRunRequest, RetentionRunResponse, SearchParams,
    SearchResponse,
};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{JsonBody, StrictQuery, path_param};
use crate::middleware::Caller;
use crate::startup::AppState;

/// Store a message. It is committed before the answer; its embedding is computed before the
/// answer too when the embedder keeps up (`completed`), otherwise later (`pending`/`failed`).
#[utoipa::path(
    post,
    path = "/v1/messages",
    tag = "messages",
    request_body = CreateMessageRequest,
    responses(
        (status = 202, description = "Stored", body = MessageResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong x-api-key", body = ErrorBody),
        (status = 403, description = "The key may not act on this tenant", body = ErrorBody),
        (status = 413, description = "Body over 2 MiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
        (status = 504, description = "Timed out", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn create_message(
    state: web::Data<AppState>,
    caller: Caller,
    body: JsonBody<CreateMessageRequest>,
) -> ApiResult<HttpResponse> {
    let new = body.0.into_core()?;
    let message = state.service.ingest(new, &caller.0).await?;
    state.metrics.record_ingested();
    Ok(HttpResponse::Accepted().json(MessageResponse::from(message)))
}

/// Read a message by id. A message of a tenant the key may not access is a 404.
#[utoipa::path(
    get,
    path = "/v1/messages/{message_id}",
    tag = "messages",
    params(("message_id" = String, Path, description = "The message's UUID", format = Uuid)),
    responses(
        (status = 200, description = "The message", body = MessageResponse),
        (status = 401, description = "Missing or wrong x-api-key", body = ErrorBody),
        (status = 404, description = "No such message (or not visible to this key)", body = ErrorBody),
        (status = 422, description = "Not a UUID", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
        (status = 504, description = "Timed out", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn get_message(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let id = MessageId::parse(&path_param(&req, "message_id")?)
        .map_err(|e| ApiError::field(e.field, e.rule))?;
    let message = state.service.get(id, &caller.0).await?;
    Ok(HttpResponse::Ok().json(MessageResponse::from(message)))
}

/// Search a tenant's memories: nearest neighbours ranked by similarity, importance and recency.
#[utoipa::path(
    get,
    path = "/v1/memory/search",
    tag = "memory",
    params(SearchParams),
    responses(
        (status = 200, description = "Ranked results", body = SearchResponse),
        (status = 400, description = "The URL is longer than 64 KiB: refused by the HTTP layer \
            before the API sees it, with an empty body. Percent-encoded, 10,000 characters \
            outside ASCII can exceed it."),
        (status = 401, description = "Missing or wrong x-api-key", body = ErrorBody),
        (status = 403, description = "The key may not act on this tenant", body = ErrorBody),
        (status = 422, description = "Invalid parameters", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Embedder overloaded or store unavailable", body = ErrorBody),
        (status = 504, description = "Timed out", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn search(
    state: web::Data<AppState>,
    caller: Caller,
    params: StrictQuery<SearchParams>,
) -> ApiResult<HttpResponse> {
    let query = params.0.into_core()?;
    let results = state.service.search(query, &caller.0).await?;
    Ok(HttpResponse::Ok().json(SearchResponse::from(results)))
}

/// Apply a tenant's retention policy now: archive, then delete old archived messages.
#[utoipa::path(
    post,
    path = "/v1/admin/retention/run",
    tag = "admin",
    request_body = RetentionRunRequest,
    responses(
        (status = 200, description = "What was (or, in a dry run, would be) done", body = RetentionRunResponse),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or wrong x-api-key", body = ErrorBody),
        (status = 403, description = "The key may not act on this tenant", body = ErrorBody),
        (status = 413, description = "Body over 2 MiB", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Invalid fields", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
        (status = 504, description = "Timed out", body = ErrorBody),
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
    Ok(HttpResponse::Ok().json(RetentionRunResponse::from(report)))
}

/// Erase one conversation of a tenant (a privacy request): its messages and their archived
/// copies. Admin keys only (keys not bound to tenants). Idempotent: 200 with `deleted: 0`
/// when nothing is left.
#[utoipa::path(
    delete,
    path = "/v1/conversations/{conversation_id}",
    tag = "admin",
    params(
        ("conversation_id" = String, Path, description = "The conversation to erase",
            min_length = 1, max_length = 128, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"),
        ErasureParams
    ),
    responses(
        (status = 200, description = "Erased", body = ErasureResponse),
        (status = 401, description = "Missing or wrong x-api-key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 422, description = "Invalid tenant or conversation", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
        (status = 504, description = "Timed out", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn erase_conversation(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    params: StrictQuery<ErasureParams>,
) -> ApiResult<HttpResponse> {
    let (tenant, conversation) = params.0.into_core(&path_param(&req, "conversation_id")?)?;
    let deleted = state
        .service
        .erase_conversation(&tenant, &conversation, &caller.0)
        .await?;
    tracing::info!(tenant = %tenant, conversation = %conversation, deleted, "erased a conversation");
    Ok(HttpResponse::Ok().json(ErasureResponse {
        tenant_id: tenant.into_inner(),
        conversation_id: Some(conversation.into_inner()),
        deleted,
    }))
}

/// Erase everything of a tenant: messages, archived copies, retention policy. Admin keys
/// only. Idempotent.
#[utoipa::path(
    delete,
    path = "/v1/tenants/{tenant_id}/messages",
    tag = "admin",
    params(("tenant_id" = String, Path, description = "The tenant to erase",
        min_length = 1, max_length = 64, pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$")),
    responses(
        (status = 200, description = "Erased", body = ErasureResponse),
        (status = 401, description = "Missing or wrong x-api-key", body = ErrorBody),
        (status = 403, description = "Not an admin key", body = ErrorBody),
        (status = 422, description = "Invalid tenant", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
        (status = 503, description = "Store unavailable", body = ErrorBody),
        (status = 504, description = "Timed out", body = ErrorBody),
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

/// Health: the database's status and latency. 503 with `degraded` when the database is down.
/// Open (no API key) and not rate limited.
#[utoipa::path(
    get,
    path = "/v1/admin/health",
    tag = "admin",
    responses(
        (status = 200, description = "Healthy", body = HealthResponse),
        (status = 503, description = "Degraded: the database is down", body = HealthResponse),
    )
)]
pub async fn health(state: web::Data<AppState>) -> HttpResponse {
    // Leave time to answer "down" before the request timeout turns this into a 504.
    let budget = (state.request_timeout / 2).min(Duration::from_secs(5));
    let start = Instant::now();
    let ok = match tokio::time::timeout(budget, state.service.health()).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "health check: store failed");
            false
        }
        Err(_) => {
            tracing::error!(?budget, "health check: store did not answer in time");
            false
        }
    };
    let body = HealthResponse {
        status: if ok {
            HealthStatus::Ok
        } else {
            HealthStatus::Degraded
        },
        database: if ok {
            DatabaseStatus::Ok
        } else {
            DatabaseStatus::Down
        },
        timestamp: chrono::Utc::now(),
        latency_ms: start.elapsed().as_secs_f64() * 1000.0,
        uptime_seconds: state.started.elapsed().as_secs(),
        environment: state.environment.clone(),
        version: state.version.clone(),
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "5"))
            .json(body)
    }
}

/// Prometheus metrics in the text exposition format. Open and not rate limited.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "admin",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(state.metrics.render())
}

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
