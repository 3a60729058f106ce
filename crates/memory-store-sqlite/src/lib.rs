//! # memory-store-sqlite
//!
//! The embedded default store of AI Memory Layer: memory-core's [`MessageRepository`] and
//! [`RetentionPolicyStore`] over one SQLite file, with diesel's SQLite backend and a bundled
//! libsqlite3 (no system library, no server).
//!
//! - WAL mode, `busy_timeout`, foreign keys; one writer connection plus a small reader pool;
//!   every blocking call runs on tokio's blocking pool.
//! - Embeddings are little-endian f32 blobs. Search is exact: a scan of the tenant's
//!   (or conversation's) searchable vectors, held unit-normalised in one contiguous buffer per
//!   tenant in memory (loaded on first search, kept in step with every write).
//! - The embedding dimension (and model id) is recorded in the database; opening it with
//!   another fails with [`SqliteStoreError::DimensionMismatch`] instead of mixing vectors.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use memory_store_sqlite::SqliteStore;
//! let store = SqliteStore::open("sqlite://./data/memory.db", 384)?;
//! # let _ = store; Ok(()) }
//! ```
//!
//! See `docs/storage-sqlite.md` for the schema, how search works, and its limits.
//!
//! [`MessageRepository`]: memory_core::ports::MessageRepository
//! [`RetentionPolicyStore`]: memory_core::ports::RetentionPolicyStore

mod error;
mod rows;
mod schema;
mod store;
mod url;
mod vector;

pub use error::SqliteStoreError;
pub use store::{MIGRATIONS, SqliteStore, SqliteStoreOptions};
pub use url::database_path;
