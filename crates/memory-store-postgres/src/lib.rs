//! # memory-store-postgres
//!
//! The production store of AI Memory Layer: memory-core's [`MessageRepository`] and
//! [`RetentionPolicyStore`] on PostgreSQL with pgvector, through diesel-async and a bounded
//! deadpool pool.
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
//!
//! [`MessageRepository`]: memory_core::ports::MessageRepository
//! [`RetentionPolicyStore`]: memory_core::ports::RetentionPolicyStore

mod config;
mod error;
mod lexical;
mod migrate;
mod rows;
pub mod schema;
mod search;
mod store;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use config::PostgresConfig;
pub use error::PgStoreError;
pub use migrate::{MIGRATIONS, pending_migrations, revert_all_migrations, run_migrations};
pub use store::{PgPool, PostgresStore, SearchPath};
