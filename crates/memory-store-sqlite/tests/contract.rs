//! memory-core's repository contract suite, unchanged, against fresh database files: once with
//! the in-memory vector index (the default) and once scanning from disk.

use std::sync::atomic::{AtomicUsize, Ordering};

use memory_store_sqlite::{SqliteStore, SqliteStoreOptions};

const DIM: usize = 384;

async fn run(options: SqliteStoreOptions) {
    let dir = tempfile::tempdir().expect("temp dir");
    let n = AtomicUsize::new(0);
    memory_core::testkit::run_all(
        || {
            let path = dir
                .path()
                .join(format!("contract-{}.db", n.fetch_add(1, Ordering::Relaxed)));
            let options = options.clone();
            async move {
                SqliteStore::open_with(&format!("sqlite://{}", path.display()), options)
                    .expect("open fresh store")
            }
        },
        DIM,
    )
    .await;
    assert_eq!(
        n.load(Ordering::Relaxed),
        17,
        "every check ran on a fresh file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_suite_with_vector_index() {
    run(SqliteStoreOptions::new(DIM)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_suite_scanning_from_disk() {
    run(SqliteStoreOptions::new(DIM).vector_cache_bytes(0)).await;
}

#[tokio::test(flavor = "current_thread")]
async fn contract_suite_on_a_current_thread_runtime() {
    run(SqliteStoreOptions::new(DIM)).await;
}
