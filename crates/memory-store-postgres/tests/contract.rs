//! memory-core's store contract suite against PostgresStore on a real server: one `#[test]`
//! per check, each on a fresh database, twice — with the default configuration, and with
//! every search forced through the HNSW index path (threshold 0), so the index path honours
//! the whole contract too.

use memory_store_postgres::testkit::TestDatabase;
use memory_store_postgres::{PostgresConfig, PostgresStore};

/// A fresh store on a database of its own (dropped with the guard), configured by `config`.
async fn fresh_with(config: PostgresConfig) -> (PostgresStore, TestDatabase) {
    let db = TestDatabase::migrated().await.expect("test database");
    let store = db.store(config).await.expect("connect");
    (store, db)
}

async fn fresh() -> (PostgresStore, TestDatabase) {
    fresh_with(PostgresConfig::default()).await
}

memory_core::contract_tests! {
    test = #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
    store = fresh(),
    dimension = 384,
    checks = [messages, vector, lexical, retention, erasure, timeline, listing, editing, filters, leases, claims],
}

mod index_path {
    use super::*;

    async fn fresh() -> (PostgresStore, TestDatabase) {
        fresh_with(PostgresConfig {
            exact_scan_threshold: 0,
            ..PostgresConfig::default()
        })
        .await
    }

    memory_core::contract_tests! {
        test = #[tokio::test(flavor = "multi_thread", worker_threads = 2)],
        store = fresh(),
        dimension = 384,
        checks = [messages, vector, lexical, retention, erasure, timeline, listing, editing, filters],
    }
}
