//! memory-core's store contract suite, one test per check, against fresh database files:
//! with the in-memory vector and lexical indexes (the default), from disk (no index: a
//! vector scan, FTS5 for lexical search), and on a
//! current-thread runtime (nothing may block the runtime).

use memory_store_sqlite::{SqliteStore, SqliteStoreOptions};

const DIM: usize = 384;

/// A fresh store in its own temporary directory (kept alive with the store).
async fn fresh(options: SqliteStoreOptions) -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("contract.db").display());
    let store = SqliteStore::open_with(&url, options).expect("open fresh store");
    (store, dir)
}

mod vector_index {
    use super::*;
    memory_core::contract_tests! {
        test = #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
        store = fresh(SqliteStoreOptions::new(DIM)),
        dimension = DIM,
        checks = [messages, vector, lexical, retention, erasure, timeline, listing, editing, filters, leases],
    }
}

mod disk_scan {
    use super::*;
    memory_core::contract_tests! {
        test = #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
        store = fresh(SqliteStoreOptions::new(DIM).vector_cache_bytes(0).lexical_cache_bytes(0)),
        dimension = DIM,
        checks = [messages, vector, lexical, retention, erasure, timeline, listing, editing, filters],
    }
}

mod current_thread {
    use super::*;
    memory_core::contract_tests! {
        test = #[tokio::test(flavor = "current_thread")],
        store = fresh(SqliteStoreOptions::new(DIM)),
        dimension = DIM,
        checks = [messages, vector, lexical, retention, erasure, timeline, listing, editing, filters],
    }
}
