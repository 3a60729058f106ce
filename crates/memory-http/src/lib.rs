//! # memory-http
//!
//! The inbound HTTP adapter of AI Memory Layer: the seed's REST API on actix-web, in front of
//! [`memory_core::MemoryService`]. The only crate that knows HTTP and JSON.
//!
//! - [`config`]: [`HttpConfig`], [`ApiKeys`] (kept as SHA-256 hashes), [`RateLimit`],
//!   [`TrustedProxies`].
//! - [`dto`]: the wire types (serde + utoipa mirrors of the core's types, converted by hand).
//! - [`routes`]: one handler per endpoint; no business logic.
//! - [`extract`]: extractors whose failures are [`ApiError`]s (same JSON for every error).
//! - [`middleware`]: request id + tracing + HTTP metrics, CORS, timeout, rate limits + auth.
//! - [`metrics`]: [`Metrics`], the Prometheus registry, and port decorators recording latency.
//! - [`error`]: [`ApiError`], every failure mapped to a status and a stable code.
//! - [`openapi`]: the OpenAPI document (`/openapi.json`, Swagger UI at `/docs/`).
//! - [`startup`]: [`serve`], which builds the app and binds it.
//!
//! docs/api.md documents the API for clients.
//!
//! ```no_run
//! # async fn run(service: std::sync::Arc<memory_http::DynService>) -> std::io::Result<()> {
//! use memory_http::{ApiKeys, HttpConfig, Metrics, RateLimit, TrustedProxies, serve};
//! let config = HttpConfig {
//!     api_keys: ApiKeys::parse("key1:acme|globex,key2").expect("valid keys"),
//!     allowed_origins: vec!["https://app.example".into()],
//!     rate_limit: RateLimit::parse("200/minute").expect("valid rate"),
//!     trusted_proxies: TrustedProxies::parse("10.0.0.0/8").expect("valid proxies"),
//!     request_timeout: std::time::Duration::from_secs(15),
//!     max_in_flight: 512,
//!     environment: "local".into(),
//!     version: env!("CARGO_PKG_VERSION").into(),
//! };
//! let listener = std::net::TcpListener::bind("127.0.0.1:8000")?;
//! serve(listener, service, config, Metrics::new())?.await
//! # }
//! ```

use std::sync::Arc;

pub mod config;
pub mod dto;
pub mod error;
pub mod extract;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod routes;
pub mod startup;

pub use config::{ApiKeys, ConfigError, HttpConfig, RateLimit, TrustedProxies};
pub use error::{ApiError, ErrorBody};
pub use metrics::Metrics;
pub use openapi::ApiDoc;
pub use startup::serve;

/// The service the API serves: any store and embedder, chosen at startup, on the system clock.
pub type DynService = memory_core::MemoryService<
    Arc<dyn memory_core::ports::Store>,
    Arc<dyn memory_core::ports::Embedder>,
>;
