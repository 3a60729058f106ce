//! # memory-store-postgres
//!
//! The production store of AI Memory Layer: every memory-core store port on PostgreSQL with
//! pgvector, through diesel-async and a bounded deadpool pool. [`PostgresStore`] implements
//! [`MessageStore`], [`VectorSearch`], [`LexicalSearch`], [`RetentionStore`], [`Erasure`],
//! [`Timeline`], [`Listing`] and [`Editing`], so `StorePorts::full(Arc::new(store))` wires it into the service.
//!
//! ```no_run
//! # async fn demo() -> Result<(), memory_store_postgres::PgStoreError> {
//! use memory_store_postgres::{PostgresConfig, PostgresStore, run_migrations};
//! let url = "postgres://postgres@127.0.0.1:55432/postgres";
//! run_migrations(url).await?;
//! let store = PostgresStore::connect(url, PostgresConfig::default()).await?;
//! # let _ = store; Ok(()) }
//! ```
//!
//! Search (see `docs/storage-postgres.md`): small scopes (a conversation, a tenant below
//! [`PostgresConfig::exact_scan_threshold`] searchable messages) are answered by an exact scan
//! through a btree; large scopes by the HNSW index with pgvector's iterative scan, re-sorted
//! by exact distance, falling back to the exact scan when the index returns too few rows.
//! Lexical search matches through a GIN index on the analysed text the service stores with
//! each message and ranks by the core's BM25 (never the database's `ts_rank`).
//!
//! Layout, one file per concern:
//! - `open.rs`: connecting, the pool, the schema check, [`PostgresStore`] and its
//!   bounded-time connection helper;
//! - `messages.rs`, `vector.rs`, `lexical.rs`, `retention.rs`, `erasure.rs`, `timeline.rs`,
//!   `listing.rs`, `editing.rs`: one port each, with its SQL (`vector.rs` also holds the scope size cache and
//!   [`PostgresStore::search_with_path`] / [`PostgresStore::explain_search`]);
//! - `coalesce.rs`: concurrent single inserts written together (group commit);
//! - `idempotency.rs`: the idempotency records written inside a write's transaction;
//! - `large.rs`: which tenants' rows the HNSW index holds (large ones), and promoting a
//!   tenant that has grown;
//! - `scope.rs` (specific to this store): the scope predicate vector and lexical SQL share;
//!   `filter.rs`: search filters (time range, metadata conditions) in Postgres's SQL;
//! - `config.rs`, `error.rs`, `migrate.rs`, `rows.rs`, `schema.rs`; `testkit.rs` (feature
//!   `testkit`): a fresh database per test and synthetic data.
//!
//! [`MessageStore`]: memory_core::ports::MessageStore
//! [`VectorSearch`]: memory_core::ports::VectorSearch
//! [`LexicalSearch`]: memory_core::ports::LexicalSearch
//! [`RetentionStore`]: memory_core::ports::RetentionStore
//! [`Erasure`]: memory_core::ports::Erasure
//! [`Timeline`]: memory_core::ports::Timeline
//! [`Listing`]: memory_core::ports::Listing
//! [`Editing`]: memory_core::ports::Editing

mod coalesce;
mod config;
mod editing;
mod erasure;
mod error;
mod filter;
mod idempotency;
mod large;
mod leases;
mod lexical;
mod listing;
mod messages;
mod migrate;
mod open;
mod retention;
mod rows;
pub mod schema;
mod scope;
mod standby;
mod timeline;
mod vector;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::PostgresConfig;
pub use error::PgStoreError;
pub use migrate::{MIGRATIONS, pending_migrations, revert_all_migrations, run_migrations};
pub use open::{PgPool, PostgresStore};
pub use standby::WithStandby;
pub use vector::SearchPath;
