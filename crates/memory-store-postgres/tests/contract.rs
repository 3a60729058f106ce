//! memory-core's repository contract suite against PostgresStore on a real server.

use std::sync::{Arc, Mutex};

use memory_store_postgres::PostgresConfig;
use memory_store_postgres::testkit::TestDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_suite() {
    // Every check gets a fresh database; the guards live until the suite is done.
    let guards: Arc<Mutex<Vec<TestDatabase>>> = Arc::default();
    memory_core::testkit::run_all(
        || {
            let guards = guards.clone();
            async move {
                let db = TestDatabase::migrated().await.expect("test database");
                let store = db.store(PostgresConfig::default()).await.expect("connect");
                guards.lock().expect("guards").push(db);
                store
            }
        },
        384,
    )
    .await;
}

/// The same suite with every search forced through the HNSW index path (threshold 0), so the
/// index path honours the whole contract too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_suite_index_path() {
    let guards: Arc<Mutex<Vec<TestDatabase>>> = Arc::default();
    memory_core::testkit::run_all(
        || {
            let guards = guards.clone();
            async move {
                let db = TestDatabase::migrated().await.expect("test database");
                let store = db
                    .store(PostgresConfig {
                        exact_scan_threshold: 0,
                        ..PostgresConfig::default()
                    })
                    .await
                    .expect("connect");
                guards.lock().expect("guards").push(db);
                store
            }
        },
        384,
    )
    .await;
}
