//! # memory-http
//!
//! The inbound HTTP adapter of AI Memory Layer: the seed's REST API on actix-web, in front of
//! [`memory_core::MemoryService`]. The only crate that knows HTTP and JSON.
//!
//! - [`config`]: [`HttpConfig`], [`ApiKeys`] (kept as SHA-256 hashes), [`RateLimit`],
//!   [`TrustedProxies`].
//! - [`api`]: one module per endpoint (handler, wire types, conversions, OpenAPI annotation);
//!   shared error responses and schemas from the core's limits.
//! - [`mcp`]: the Model Context Protocol at `/mcp` (tools over streamable HTTP), behind the
//!   same gate as the REST API.
//! - [`extract`]: extractors whose failures are [`ApiError`]s (same JSON for every error).
//! - [`middleware`]: request id + tracing + HTTP metrics, CORS, timeout, rate limits + auth.
//! - [`metrics`]: [`Metrics`], the Prometheus registry; it observes the service's store calls
//!   ([`memory_core::ports::PortObserver`]) and wraps the embedder.
//! - [`error`]: [`ApiError`], every failure mapped to a status and a stable code.
//! - [`openapi`]: the OpenAPI document (`/openapi.json`, Swagger UI at `/docs/`).
//! - [`startup`]: [`serve`], which builds the app and binds it.
//!
//! docs/api.md documents the API for clients.
//!
//! ```no_run
//! # async fn run(service: std::sync::Arc<memory_core::MemoryService>) -> std::io::Result<()> {
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
//!     console: true,
//! };
//! let listener = std::net::TcpListener::bind("127.0.0.1:8000")?;
//! serve(listener, service, config, Metrics::new())?.await
//! # }
//! ```

pub mod api;
pub mod config;
pub mod console;
pub mod error;
pub mod extract;
pub mod mcp;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod startup;

pub use config::{ApiKeys, ConfigError, HttpConfig, RateLimit, TrustedProxies};
pub use error::{ApiError, ErrorBody};
pub use metrics::Metrics;
pub use openapi::ApiDoc;
pub use startup::serve;
