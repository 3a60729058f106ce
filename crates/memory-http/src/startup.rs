//! [`serve`]: builds the app (routes, middleware, docs) and binds it to a listener.

use std::io;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::{Method, header};
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::api;
use crate::api::common::IDEMPOTENCY_KEY;
use crate::config::{ApiKeys, HttpConfig, TrustedProxies};
use crate::extract;
use crate::metrics::Metrics;
use crate::middleware::{self, API_KEY, REQUEST_ID, RateLimiters};
use crate::openapi::ApiDoc;
use memory_core::MemoryService;

/// What every handler and middleware shares.
pub struct AppState {
    pub(crate) service: Arc<MemoryService>,
    pub(crate) metrics: Metrics,
    pub(crate) api_keys: ApiKeys,
    pub(crate) limiters: RateLimiters,
    pub(crate) trusted_proxies: TrustedProxies,
    pub(crate) request_timeout: Duration,
    /// Permits for API requests in flight (`HttpConfig::max_in_flight`).
    pub(crate) in_flight: Arc<tokio::sync::Semaphore>,
    pub(crate) environment: String,
    pub(crate) version: String,
    pub(crate) started: Instant,
    /// `MEMORY_ALLOWED_ORIGINS`, checked: the MCP endpoint refuses other browser origins.
    pub(crate) allowed_origins: Vec<String>,
}

/// Checks the CORS origins now: actix-cors would otherwise refuse to start its workers.
fn check_origins(origins: &[String]) -> io::Result<Vec<String>> {
    origins
        .iter()
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .map(|o| {
            let valid = o == "*"
                || o.parse::<actix_web::http::Uri>()
                    .is_ok_and(|u| u.scheme().is_some() && u.host().is_some());
            if valid {
                Ok(o)
            } else {
                Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "MEMORY_ALLOWED_ORIGINS: {o:?} is not an origin like https://example.com"
                    ),
                ))
            }
        })
        .collect()
}

fn cors(origins: &[String]) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::ACCEPT,
            API_KEY,
            REQUEST_ID,
            IDEMPOTENCY_KEY,
        ])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .max_age(3600);
    for o in origins {
        cors = if o == "*" {
            cors.allow_any_origin()
        } else {
            cors.allowed_origin(o)
        };
    }
    cors
}

/// A resource behind the timeout and the gate (rate limits, authentication). These run
/// after routing: they know the matched route, and may keep a handle on the request.
macro_rules! guarded {
    ($path:literal) => {
        web::resource($path)
            .wrap(from_fn(middleware::gate))
            .wrap(from_fn(middleware::timeout))
    };
}

/// Starts serving the API on `listener`. Await (or spawn) the returned server; it stops
/// gracefully (in-flight requests finish) on SIGINT/SIGTERM or through its handle.
///
/// Fails when the listener cannot be used or an allowed origin is malformed.
pub fn serve(
    listener: TcpListener,
    service: Arc<MemoryService>,
    config: HttpConfig,
    metrics: Metrics,
) -> io::Result<Server> {
    let origins = check_origins(&config.allowed_origins)?;
    let state = web::Data::new(AppState {
        service,
        metrics,
        limiters: RateLimiters::new(&config.rate_limit),
        trusted_proxies: config.trusted_proxies,
        api_keys: config.api_keys,
        request_timeout: config.request_timeout,
        in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_in_flight.max(1))),
        environment: config.environment,
        version: config.version,
        started: Instant::now(),
        allowed_origins: origins.clone(),
    });
    let request_timeout = state.request_timeout;
    let console = config.console;
    let openapi = ApiDoc::openapi();
    tracing::info!(
        addr = ?listener.local_addr().ok(),
        auth = !state.api_keys.is_empty(),
        rate_limit = %config.rate_limit,
        trusted_proxies = %state.trusted_proxies,
        timeout = ?state.request_timeout,
        max_in_flight = config.max_in_flight,
        console = config.console,
        "serving the HTTP API"
    );
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(extract::configure)
            .configure(|cfg| {
                if console {
                    crate::console::configure(cfg);
                }
            })
            .service(
                guarded!("/v1/messages")
                    .route(web::post().to(api::create_message::create_message))
                    .route(web::get().to(api::list_messages::list_messages)),
            )
            .service(
                guarded!("/v1/messages/batch")
                    .app_data(web::PayloadConfig::new(extract::BATCH_BODY_LIMIT_BYTES))
                    .app_data(extract::BodyLimit(extract::BATCH_BODY_LIMIT_BYTES))
                    .route(web::post().to(api::create_batch::create_batch)),
            )
            .service(
                guarded!("/v1/messages/{message_id}")
                    .route(web::get().to(api::get_message::get_message))
                    .route(web::patch().to(api::update_message::update_message))
                    .route(web::delete().to(api::delete_message::delete_message)),
            )
            .service(
                guarded!("/v1/messages/{message_id}/history")
                    .route(web::get().to(api::message_history::message_history)),
            )
            .service(
                guarded!("/v1/memory/search")
                    .route(web::get().to(api::search::search))
                    .route(web::post().to(api::search::search_post)),
            )
            .service(
                guarded!("/v1/admin/retention/run")
                    .route(web::post().to(api::run_retention::run_retention)),
            )
            .service(
                guarded!("/v1/admin/retention/preview")
                    .route(web::get().to(api::retention_preview::retention_preview)),
            )
            .service(guarded!("/v1/tenants").route(web::get().to(api::list_tenants::list_tenants)))
            .service(
                guarded!("/v1/conversations")
                    .route(web::get().to(api::list_conversations::list_conversations)),
            )
            .service(
                guarded!("/v1/conversations/{conversation_id}")
                    .route(web::delete().to(api::erase_conversation::erase_conversation)),
            )
            .service(
                guarded!("/v1/tenants/{tenant_id}/messages")
                    .route(web::delete().to(api::erase_tenant::erase_tenant)),
            )
            .service(guarded!("/mcp").route(web::post().to(crate::mcp::post)))
            .service(guarded!("/v1/admin/health").route(web::get().to(api::health::health)))
            .service(guarded!("/metrics").route(web::get().to(api::metrics::metrics)))
            .service(guarded!("/docs").route(web::get().to(api::docs_redirect)))
            .service(SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", openapi.clone()))
            .default_service(web::to(api::not_found))
            // Innermost first: CORS, then telemetry (outermost).
            .wrap(cors(&origins))
            .wrap(from_fn(middleware::telemetry))
    })
    // Idle keep-alive connections live longer than actix's 5 s default (nginx uses 75 s), so a
    // client reusing one rarely races the server closing it; a request head may take as long
    // as a request may.
    .keep_alive(Duration::from_secs(75))
    .client_request_timeout(request_timeout)
    .listen(listener)?
    .shutdown_timeout(30)
    .run();
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_checked_and_normalised() {
        let ok =
            check_origins(&["https://a.example/".into(), " * ".into(), "".into()]).expect("valid");
        assert_eq!(ok, ["https://a.example", "*"]);
        assert!(check_origins(&["a.example".into()]).is_err());
    }
}
