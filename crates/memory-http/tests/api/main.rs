//! Black-box API tests: each test starts the real server with `serve()` on 127.0.0.1:0 and
//! talks to it over HTTP. The service runs on memory-core's testkit (`InMemoryStore`,
//! `ToyEmbedder`): these tests are about HTTP; the workspace's `tests/api` runs the same
//! server on the real model and stores.

mod helpers;

mod auth;
mod client;
mod console;
mod cors;
mod docs;
mod errors;
mod health_metrics;
mod mcp;
mod messages;
mod properties;
mod rate_limit;
mod retention;
mod search;
mod seed_examples;
mod timeouts;
