//! An async Rust client for the AI Memory Layer's REST API (a driving adapter, like the
//! HTTP frontend, but on the caller's side).
//!
//! - Typed requests and answers: the shapes come from `memory-api-types`, the crate the
//!   server serialises with, re-exported here as [`types`].
//! - Typed errors: [`Error::Api`] carries the server's status, stable `code`, message and,
//!   for a 422, one detail per field ([`ApiError::field`]).
//! - Retries on 429/502/503/504 and lost connections, honouring `Retry-After` with a cap and
//!   jitter ([`RetryPolicy`]); every write carries an `Idempotency-Key`, so a retry never
//!   stores twice.
//! - One pooled connection set per client; clones share it.
//!
//! Verbs in mem0's terms: [`MemoryClient::add`], [`MemoryClient::add_batch`],
//! [`MemoryClient::search`], [`MemoryClient::get`], [`MemoryClient::get_all`] (and one page
//! at a time: [`MemoryClient::list`]), [`MemoryClient::update`], [`MemoryClient::delete`],
//! [`MemoryClient::delete_all`], [`MemoryClient::history`]. For admin tools:
//! [`MemoryClient::tenants`], [`MemoryClient::conversations`],
//! [`MemoryClient::retention_preview`].
//!
//! ```no_run
//! use memory_client::{Error, MemoryClient};
//! use memory_client::types::{RoleDto, requests::CreateMessage};
//!
//! # async fn demo() -> Result<(), Error> {
//! let client = MemoryClient::new("http://127.0.0.1:8000")?;
//! let bad = CreateMessage::new("acme", "conv-1", RoleDto::User, "");
//! match client.add(&bad).await {
//!     Err(Error::Api(e)) if e.is_validation() => {
//!         assert!(e.field("content").is_some());
//!     }
//!     other => panic!("expected a 422, got {other:?}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! HTTPS needs the `rustls` feature; plain HTTP (a sidecar, a private network) needs
//! nothing more.

mod client;
mod error;
mod retry;

pub use client::{ClientBuilder, MemoryClient};
pub use error::{ApiError, Error, Result};
/// The API's wire types (`memory-api-types`).
pub use memory_api_types as types;
pub use retry::RetryPolicy;
/// Message ids.
pub use uuid::Uuid;
