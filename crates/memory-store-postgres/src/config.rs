//! The store's settings.

use std::time::Duration;

use crate::error::PgStoreError;

/// How [`crate::PostgresStore`] connects and searches. `Default` gives production defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresConfig {
    /// Most connections the pool opens (default 16). Every operation holds one connection.
    pub pool_size: usize,
    /// The embedding dimension (the model's; default 384). Must equal the `messages.embedding`
    /// column's, or [`crate::PostgresStore::connect`] fails with
    /// [`PgStoreError::DimensionMismatch`].
    pub dimension: usize,
    /// Longest wait for a new connection to be established (default 5 s).
    pub connect_timeout: Duration,
    /// Longest wait for a free connection when the pool is exhausted (default 5 s).
    pub acquire_timeout: Duration,
    /// Longest one operation (one query, or one batch of a retention run) may take once it
    /// has its connection (default 30 s). Past it the connection is dropped and the call
    /// returns `Unavailable`.
    pub operation_timeout: Duration,
    /// Scopes (tenant, or tenant + conversation, with the importance filter) with fewer
    /// searchable messages than this are searched exactly through a btree; larger ones through
    /// the HNSW index (default 10,000). 0 always uses the index; `u64::MAX` never does.
    pub exact_scan_threshold: u64,
    /// `hnsw.ef_search` for index searches (default 200); raised to the query's limit when
    /// that is larger. Higher: better recall, slower.
    pub hnsw_ef_search: u32,
    /// `hnsw.max_scan_tuples`: how far an iterative index scan may go to fill a filtered
    /// result before giving up (default 20,000; the store then falls back to the exact scan).
    pub hnsw_max_scan_tuples: u32,
    /// How long a scope's size class (small or large) is remembered (default 60 s), so most
    /// searches skip the capped count.
    pub scope_size_cache_ttl: Duration,
    /// Most single-message inserts written at once (default 4). Further ones wait and are
    /// written together, in one statement, by the next free writer: under load, many
    /// messages share one commit and round trip. 1 groups the most; `pool_size` (or more)
    /// writes every insert at once, alone, as before grouping existed.
    pub insert_writers: usize,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            pool_size: 16,
            dimension: 384,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(30),
            exact_scan_threshold: 10_000,
            hnsw_ef_search: 200,
            hnsw_max_scan_tuples: 20_000,
            scope_size_cache_ttl: Duration::from_secs(60),
            insert_writers: 4,
        }
    }
}

impl PostgresConfig {
    /// Checks the values; [`crate::PostgresStore::connect`] calls it.
    pub fn validate(&self) -> Result<(), PgStoreError> {
        let bad = |m: String| Err(PgStoreError::config(m));
        if self.pool_size == 0 {
            return bad("pool_size must be at least 1".into());
        }
        if self.insert_writers == 0 {
            return bad("insert_writers must be at least 1".into());
        }
        // pgvector's limit for an HNSW-indexed vector column.
        if !(1..=2_000).contains(&self.dimension) {
            return bad(format!("dimension must be 1-2000, got {}", self.dimension));
        }
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("acquire_timeout", self.acquire_timeout),
            ("operation_timeout", self.operation_timeout),
        ] {
            if d.is_zero() {
                return bad(format!("{name} must be positive"));
            }
        }
        if !(1..=1_000).contains(&self.hnsw_ef_search) {
            return bad(format!(
                "hnsw_ef_search must be 1-1000, got {}",
                self.hnsw_ef_search
            ));
        }
        if self.hnsw_max_scan_tuples == 0 {
            return bad("hnsw_max_scan_tuples must be positive".into());
        }
        Ok(())
    }
}
