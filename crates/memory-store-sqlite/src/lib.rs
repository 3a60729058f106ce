//! # memory-store-sqlite
//!
//! The embedded default store of AI Memory Layer: every store port of memory-core over one
//! SQLite file, with diesel's SQLite backend and a bundled libsqlite3 (no system library, no
//! server).
//!
//! Layout, one file per capability (the same names as in memory-store-postgres):
//! - `open.rs`: [`SqliteStore::open`], [`SqliteStoreOptions`], the writer connection and the
//!   reader pool, the dimension and model check.
//! - `messages.rs`: `MessageStore` (insert, get, embeddings, the backlog, tenants, health).
//! - `vector.rs`: `VectorSearch`, over `vector_index.rs` (dot product, top-k, the per-tenant
//!   index) and `vector_cache.rs` (the indexes held in memory, within a budget).
//! - `lexical.rs`: `LexicalSearch`, ranked by the core's BM25: over `lexical_index.rs` (the
//!   per-tenant postings held in memory) and `lexical_cache.rs` (loading them, and the hooks
//!   writes call to keep both in-memory indexes equal to the table), or on FTS5 (with metadata
//!   filters, or past the budget); and the analysed-text backfill.
//! - `tenant_cache.rs`: which tenants' indexes are held, least recently used evicted past a
//!   byte budget.
//! - `retention.rs`: `RetentionStore`; `erasure.rs`: `Erasure`; `timeline.rs`: `Timeline`.
//! - `listing.rs`: `Listing` (keyset pages); `editing.rs`: `Editing` (update, delete,
//!   history); `idempotency.rs`: the idempotency records written inside a write's
//!   transaction.
//! - `filter.rs`: search filters (time range, metadata conditions) in SQLite's SQL.
//! - `rows.rs`, `schema.rs`: the rows and the diesel schema; `url.rs`: database URLs;
//!   `error.rs`: [`SqliteStoreError`].
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

mod editing;
mod erasure;
mod error;
mod filter;
mod idempotency;
mod leases;
mod lexical;
mod lexical_cache;
mod lexical_index;
mod listing;
mod messages;
mod open;
mod retention;
mod rows;
mod schema;
mod tenant_cache;
mod timeline;
mod url;
mod vector;
mod vector_cache;
mod vector_index;

pub use error::SqliteStoreError;
pub use open::{MIGRATIONS, SqliteStore, SqliteStoreOptions};
pub use url::database_path;
