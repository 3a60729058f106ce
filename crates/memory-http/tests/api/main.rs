//! Black-box API tests: each test starts the real server with `serve()` on 127.0.0.1:0 and
//! talks to it over HTTP. The service runs on the in-memory store and toy embedder of
//! memory-core's example until the real adapters land.

#[allow(dead_code, unused_imports)]
#[path = "../../../memory-core/examples/in_memory.rs"]
mod in_memory;

mod helpers;

mod auth;
mod cors;
mod docs;
mod errors;
mod health_metrics;
mod messages;
mod properties;
mod rate_limit;
mod retention;
mod search;
mod seed_examples;
mod timeouts;
