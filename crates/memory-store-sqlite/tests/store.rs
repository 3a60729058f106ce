//! What the contract suite does not cover: persistence across restarts, the dimension check,
//! many concurrent writers, the in-memory index staying equal to the table, URLs.

use std::path::Path;

use chrono::Duration;
use memory_core::domain::{EmbeddingStatus, MessageId};
use memory_core::error::RepositoryError;
use memory_core::ports::{
    CandidateQuery, EmbeddingUpdate, MessageRecord, MessageStore, RetentionStore, VectorSearch,
};
use memory_core::retention::{ArchiveRule, RetentionPolicy};
use memory_core::testkit::{Fixture, basis, ids_of, insert, query, t0, tenant, tilted};
use memory_store_sqlite::{SqliteStore, SqliteStoreError, SqliteStoreOptions};

const DIM: usize = 16;

fn url(dir: &Path, name: &str) -> String {
    format!("sqlite://{}", dir.join(name).display())
}

async fn ids(store: &SqliteStore, q: &CandidateQuery) -> Vec<MessageId> {
    ids_of(store, q).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memories_survive_closing_and_reopening() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = url(dir.path(), "memory.db");
    let embedded = Fixture::new("acme", "c1", DIM)
        .content("I love Python")
        .embedded(basis(DIM, 2))
        .build();
    let pending = Fixture::new("acme", "c1", DIM)
        .content("not embedded yet")
        .build();
    let old = Fixture::new("acme", "c2", DIM)
        .created(t0() - Duration::days(400))
        .embedded(basis(DIM, 2))
        .build();
    let policy = RetentionPolicy::new(7, 0.2, 14).expect("valid");
    {
        let store = SqliteStore::open(&url, DIM).expect("open");
        for m in [&embedded, &pending, &old] {
            insert(&store, m).await.expect("insert");
        }
        store
            .put_policy(&tenant("acme"), &policy, t0())
            .await
            .expect("policy");
        let rule = RetentionPolicy::default().archive_rule(t0());
        assert_eq!(
            store
                .archive(&tenant("acme"), &rule, t0(), false)
                .await
                .expect("archive"),
            1
        );
        assert_eq!(
            ids(&store, &query("acme", basis(DIM, 2), 10)).await,
            vec![embedded.id]
        );
    }
    let store = SqliteStore::open(&url, DIM).expect("reopen");
    assert_eq!(store.vector_cache_bytes(), 0, "nothing loaded yet");
    assert_eq!(store.preload_vectors().await.expect("preload"), 1);
    assert!(
        store.vector_cache_bytes() > 0,
        "acme's vectors are in memory"
    );
    let got = store.get(embedded.id).await.expect("get").expect("kept");
    assert_eq!(got, embedded, "every field survives a restart");
    let got = store.get(pending.id).await.expect("get").expect("kept");
    assert_eq!(got.embedding_status, EmbeddingStatus::Pending);
    assert!(
        store
            .get(old.id)
            .await
            .expect("get")
            .expect("kept")
            .archived
    );
    assert_eq!(
        ids(&store, &query("acme", basis(DIM, 2), 10)).await,
        vec![embedded.id],
        "search after a restart"
    );
    assert_eq!(
        store.get_policy(&tenant("acme")).await.expect("policy"),
        Some(policy)
    );
    let pending_ids: Vec<MessageId> = store
        .pending_embeddings(10)
        .await
        .expect("pending")
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(pending_ids, vec![pending.id]);
    // The archive copy survived too: purge finds it.
    assert_eq!(
        store
            .purge_archived(&tenant("acme"), t0() + Duration::days(1), false)
            .await
            .expect("purge"),
        1
    );
    assert!(store.get(old.id).await.expect("get").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_embedding_dimension_is_a_startup_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = url(dir.path(), "memory.db");
    {
        let store = SqliteStore::open(&url, DIM).expect("open");
        let m = Fixture::new("acme", "c1", DIM)
            .embedded(basis(DIM, 0))
            .build();
        insert(&store, &m).await.expect("insert");
    }
    match SqliteStore::open(&url, 32) {
        Err(e @ SqliteStoreError::DimensionMismatch { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("16") && text.contains("32") && text.contains("model changed"),
                "the error says what happened: {text}"
            );
        }
        other => panic!("expected DimensionMismatch, got {other:?}"),
    }
    // Nothing was lost or changed: the old dimension still opens and finds the message.
    let store = SqliteStore::open(&url, DIM).expect("reopen with the right dimension");
    assert_eq!(ids(&store, &query("acme", basis(DIM, 0), 5)).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_stored_vectors_the_dimension_may_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = url(dir.path(), "memory.db");
    {
        let store = SqliteStore::open(&url, DIM).expect("open");
        insert(&store, &Fixture::new("acme", "c1", DIM).build())
            .await
            .expect("pending insert");
    }
    let store = SqliteStore::open(&url, 32).expect("no embeddings yet: new dimension recorded");
    let m = Fixture::new("acme", "c1", 32)
        .embedded(basis(32, 1))
        .build();
    insert(&store, &m).await.expect("insert");
    drop(store);
    assert!(matches!(
        SqliteStore::open(&url, DIM),
        Err(SqliteStoreError::DimensionMismatch {
            stored: 32,
            configured: DIM,
            ..
        })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_model_is_a_startup_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = url(dir.path(), "memory.db");
    let opts = |model: &str| SqliteStoreOptions::new(DIM).model_id(model);
    {
        let store = SqliteStore::open_with(&url, opts("model-a")).expect("open");
        insert(
            &store,
            &Fixture::new("acme", "c1", DIM)
                .embedded(basis(DIM, 0))
                .build(),
        )
        .await
        .expect("insert");
    }
    SqliteStore::open_with(&url, opts("model-a")).expect("same model");
    SqliteStore::open(&url, DIM).expect("no model given: not checked");
    assert!(matches!(
        SqliteStore::open_with(&url, opts("model-b")),
        Err(SqliteStoreError::ModelMismatch { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&url(dir.path(), "memory.db"), DIM).expect("open");
    // Load the tenant's vectors first, so writes must also keep the in-memory index right.
    assert!(
        ids(&store, &query("acme", basis(DIM, 0), 10))
            .await
            .is_empty()
    );
    let tasks: Vec<_> = (0..32)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut written = Vec::new();
                for i in 0..40 {
                    let m = Fixture::new("acme", &format!("w{w}"), DIM)
                        .content(&format!("writer {w} message {i}"))
                        .build();
                    insert(&store, &m).await.expect("insert");
                    // Half get embedded afterwards, as the embedding worker would.
                    if i % 2 == 0 {
                        let e = tilted(DIM, 0.001 * f32::from(i as u8));
                        assert!(
                            store
                                .set_embedding(
                                    m.id,
                                    EmbeddingUpdate::Completed(e),
                                    m.updated_at,
                                    t0()
                                )
                                .await
                                .expect("set embedding")
                        );
                    }
                    // Readers run alongside the writers.
                    if i % 10 == 0 {
                        store
                            .search_candidates(&query("acme", basis(DIM, 0), 5))
                            .await
                            .expect("search while writing");
                    }
                    written.push(m.id);
                }
                written
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("writer task"));
    }
    assert_eq!(all.len(), 32 * 40);
    for id in &all {
        assert!(
            store.get(*id).await.expect("get").is_some(),
            "write {id} kept"
        );
    }
    let found = ids(&store, &query("acme", basis(DIM, 0), 10_000)).await;
    assert_eq!(found.len(), 32 * 20, "every embedded message is searchable");
    assert_eq!(
        store
            .pending_embeddings(10_000)
            .await
            .expect("pending")
            .len(),
        32 * 20
    );
}

/// The in-memory index answers exactly as a scan of the table does, after every kind of write,
/// and notices writes made through another connection (another process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vector_index_stays_equal_to_the_table() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = url(dir.path(), "memory.db");
    let indexed = SqliteStore::open(&url, DIM).expect("open");
    let scanning = SqliteStore::open_with(&url, SqliteStoreOptions::new(DIM).vector_cache_bytes(0))
        .expect("open without index");

    let check = |label: &'static str| {
        let (indexed, scanning) = (indexed.clone(), scanning.clone());
        async move {
            for i in 0..4 {
                for conv in [None, Some("c1")] {
                    let mut q = query("acme", tilted(DIM, 0.3 * i as f32), 1000);
                    q.conversation_id =
                        conv.map(|c| memory_core::domain::ConversationId::parse(c).expect("ok"));
                    let a = indexed.search_candidates(&q).await.expect("indexed");
                    let b = scanning.search_candidates(&q).await.expect("scan");
                    let a_ids: Vec<MessageId> = a.iter().map(|c| c.message.id).collect();
                    let b_ids: Vec<MessageId> = b.iter().map(|c| c.message.id).collect();
                    assert_eq!(a_ids, b_ids, "{label}: same candidates, same order");
                    for (x, y) in a.iter().zip(&b) {
                        assert!((x.similarity - y.similarity).abs() < 1e-5, "{label}");
                    }
                }
            }
        }
    };

    let mut messages = Vec::new();
    for i in 0..60 {
        let m = Fixture::new("acme", if i % 3 == 0 { "c1" } else { "c2" }, DIM)
            .importance(f64::from(i) / 60.0)
            .created(t0() - Duration::days(i64::from(i)))
            .embedded(tilted(DIM, 0.05 * i as f32))
            .build();
        messages.push(m);
    }
    let records: Vec<MessageRecord> = messages[..30]
        .iter()
        .cloned()
        .map(MessageRecord::new)
        .collect();
    indexed.insert_many(&records).await.expect("batch");
    check("after a batch").await; // loads the index
    for m in &messages[30..] {
        insert(&indexed, m).await.expect("insert");
    }
    check("after single inserts").await;
    indexed
        .set_embedding(
            messages[1].id,
            EmbeddingUpdate::Failed,
            messages[1].updated_at,
            t0(),
        )
        .await
        .expect("fail");
    indexed
        .set_embedding(
            messages[2].id,
            EmbeddingUpdate::Completed(basis(DIM, 5)),
            messages[2].updated_at,
            t0(),
        )
        .await
        .expect("re-embed");
    check("after set_embedding").await;
    let rule = ArchiveRule {
        created_before: t0() - Duration::days(40),
        importance_below: memory_core::domain::Importance::saturating(0.1),
    };
    let archived = indexed
        .archive(&tenant("acme"), &rule, t0(), false)
        .await
        .expect("archive");
    assert!(archived > 20);
    check("after archive").await;
    indexed
        .purge_archived(&tenant("acme"), t0() + Duration::days(1), false)
        .await
        .expect("purge");
    check("after purge").await;

    // A write through the other store (another connection, like another process).
    let outside = Fixture::new("acme", "c1", DIM)
        .importance(0.9)
        .embedded(basis(DIM, 0))
        .build();
    insert(&scanning, &outside).await.expect("outside insert");
    check("after a write by another connection").await;
    assert_eq!(
        ids(&indexed, &query("acme", basis(DIM, 0), 1)).await,
        vec![outside.id],
        "the index saw the other connection's write"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn urls_and_parent_directories() {
    let dir = tempfile::tempdir().expect("temp dir");
    let nested = dir.path().join("a/b/c/memory.db");
    let store = SqliteStore::open(&format!("sqlite://{}", nested.display()), DIM)
        .expect("creates the directories");
    store.health().await.expect("healthy");
    insert(&store, &Fixture::new("acme", "c1", DIM).build())
        .await
        .expect("insert");
    assert!(nested.exists());
    assert!(
        dir.path().join("a/b/c/memory.db-wal").exists(),
        "WAL mode: the write-ahead log is next to the database"
    );
    drop(store);
    SqliteStore::open(&format!("sqlite:{}", nested.display()), DIM).expect("sqlite: form");
    SqliteStore::open(nested.to_str().expect("utf-8"), DIM).expect("plain path");
    assert!(matches!(
        SqliteStore::open("sqlite::memory:", DIM),
        Err(SqliteStoreError::InvalidUrl { .. })
    ));
    assert!(matches!(
        SqliteStore::open("postgres://localhost/memory", DIM),
        Err(SqliteStoreError::InvalidUrl { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_dimensions_and_empty_limits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&url(dir.path(), "memory.db"), DIM).expect("open");
    let wrong = Fixture::new("acme", "c1", 8).embedded(basis(8, 0)).build();
    assert!(matches!(
        insert(&store, &wrong).await,
        Err(RepositoryError::DimensionMismatch {
            expected: DIM,
            got: 8
        })
    ));
    assert!(store.get(wrong.id).await.expect("get").is_none());
    assert!(matches!(
        store
            .search_candidates(&query("acme", basis(8, 0), 5))
            .await,
        Err(RepositoryError::DimensionMismatch { .. })
    ));
    let m = Fixture::new("acme", "c1", DIM)
        .embedded(basis(DIM, 0))
        .build();
    insert(&store, &m).await.expect("insert");
    assert!(
        store
            .search_candidates(&query("acme", basis(DIM, 0), 0))
            .await
            .expect("limit 0")
            .is_empty()
    );
    // A duplicate inside a batch fails the whole batch.
    let fresh = Fixture::new("acme", "c1", DIM).build();
    assert!(matches!(
        store
            .insert_many(&[
                MessageRecord::new(fresh.clone()),
                MessageRecord::new(m.clone())
            ])
            .await,
        Err(RepositoryError::Conflict(_))
    ));
    assert!(
        store.get(fresh.id).await.expect("get").is_none(),
        "all or nothing"
    );
}

/// Another process holding the write lock makes writes fail `Unavailable` after the busy
/// timeout, not hang; reads go on (WAL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_is_unavailable_in_bounded_time() {
    use diesel::connection::SimpleConnection;
    use diesel::{Connection, SqliteConnection};

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("memory.db");
    let options = SqliteStoreOptions {
        busy_timeout: std::time::Duration::from_millis(200),
        ..SqliteStoreOptions::new(DIM)
    };
    let store = SqliteStore::open_with(path.to_str().expect("utf-8"), options).expect("open");
    let kept = Fixture::new("acme", "c1", DIM).build();
    insert(&store, &kept).await.expect("insert");

    let mut other = SqliteConnection::establish(path.to_str().expect("utf-8")).expect("connect");
    other
        .batch_execute("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let started = std::time::Instant::now();
    match insert(&store, &Fixture::new("acme", "c1", DIM).build()).await {
        Err(RepositoryError::Unavailable { .. }) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "bounded by the busy timeout"
    );
    assert!(
        store.get(kept.id).await.expect("reads go on").is_some(),
        "readers are not blocked by a writer"
    );
    other.batch_execute("ROLLBACK").expect("release");
    insert(&store, &Fixture::new("acme", "c1", DIM).build())
        .await
        .expect("writes resume");
}
