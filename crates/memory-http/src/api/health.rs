//! `GET /v1/admin/health`: the database's status and latency.

use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpResponse, web};

pub use memory_api_types::{DatabaseStatus, HealthResponse, HealthStatus};

use crate::error::{ErrorChain, UNAVAILABLE_RETRY_AFTER_SECONDS};
use crate::startup::AppState;

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
            tracing::error!(error = %ErrorChain(&e), "health check: store failed");
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
            .insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER_SECONDS))
            .json(body)
    }
}
