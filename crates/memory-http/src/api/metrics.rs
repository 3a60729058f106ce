//! `GET /metrics`: Prometheus metrics.

use actix_web::{HttpResponse, web};

use crate::startup::AppState;

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
