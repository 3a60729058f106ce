//! Concurrent single inserts written together (`coalesce.rs`) against a real server: they
//! share statements, each caller still gets its own outcome, none is lost or waits forever.

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use futures::future::join_all;
use memory_core::domain::MessageId;
use memory_core::error::RepositoryError;
use memory_core::ports::{MessageRecord, MessageStore as _};
use memory_core::testkit::{Fixture, basis};
use memory_store_postgres::testkit::TestDatabase;
use memory_store_postgres::{PostgresConfig, PostgresStore};

const DIM: usize = 384;

fn record(tenant: &str, i: usize) -> MessageRecord {
    MessageRecord::new(
        Fixture::new(tenant, "c", DIM)
            .content(&format!("message number {i}"))
            .embedded(basis(DIM, i % DIM))
            .build(),
    )
}

#[derive(diesel::QueryableByName)]
struct Counts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    rows: i64,
    /// Rows written by one statement share their inserting transaction id.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    transactions: i64,
}

async fn counts(url: &str, tenant: &str) -> Counts {
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    diesel::sql_query(
        "SELECT count(*) AS rows, count(DISTINCT xmin::text) AS transactions \
         FROM messages WHERE tenant_id = $1",
    )
    .bind::<diesel::sql_types::Text, _>(tenant)
    .get_result(&mut conn)
    .await
    .expect("count")
}

async fn store(db: &TestDatabase, insert_writers: usize) -> PostgresStore {
    db.store(PostgresConfig {
        insert_writers,
        ..PostgresConfig::default()
    })
    .await
    .expect("connect")
}

#[tokio::test]
async fn concurrent_inserts_share_statements() {
    let db = TestDatabase::migrated().await.expect("database");
    let store = store(&db, 1).await;
    let records: Vec<MessageRecord> = (0..64).map(|i| record("t", i)).collect();
    let outcomes = join_all(records.iter().map(|r| store.insert(r))).await;
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let c = counts(&db.url, "t").await;
    assert_eq!(c.rows, 64);
    assert!(
        c.transactions <= 4,
        "64 concurrent inserts with one writer took {} transactions",
        c.transactions
    );
    for r in &records {
        let got = store.get(r.message.id).await.expect("get").expect("stored");
        assert_eq!(got.content, r.message.content);
    }
}

#[tokio::test]
async fn a_duplicate_fails_only_its_own_insert() {
    let db = TestDatabase::migrated().await.expect("database");
    let store = store(&db, 1).await;
    let first = record("t", 0);
    store.insert(&first).await.expect("first insert");
    let mut records: Vec<MessageRecord> = (1..32).map(|i| record("t", i)).collect();
    let mut duplicate = record("t", 99);
    duplicate.message.id = first.message.id;
    records.insert(10, duplicate);
    let outcomes = join_all(records.iter().map(|r| store.insert(r))).await;
    for (i, outcome) in outcomes.iter().enumerate() {
        if i == 10 {
            assert!(
                matches!(outcome, Err(RepositoryError::Conflict(_))),
                "the duplicate id: {outcome:?}"
            );
        } else {
            assert!(outcome.is_ok(), "record {i}: {outcome:?}");
        }
    }
    assert_eq!(counts(&db.url, "t").await.rows, 32);
    let kept = store
        .get(first.message.id)
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(
        kept.content, first.message.content,
        "the first write stands"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_lose_nothing() {
    let db = TestDatabase::migrated().await.expect("database");
    let store = store(&db, PostgresConfig::default().insert_writers).await;
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let r = record(if i % 2 == 0 { "even" } else { "odd" }, i);
                store.insert(&r).await.map(|()| r.message.id)
            })
        })
        .collect();
    let ids: Vec<MessageId> = tokio::time::timeout(Duration::from_secs(60), join_all(tasks))
        .await
        .expect("every insert answered")
        .into_iter()
        .map(|t| t.expect("task").expect("insert"))
        .collect();
    assert_eq!(ids.len(), 400);
    assert_eq!(counts(&db.url, "even").await.rows, 200);
    assert_eq!(counts(&db.url, "odd").await.rows, 200);
}

#[tokio::test]
async fn an_unreachable_database_fails_the_group_at_once() {
    // A listener that never accepts: each connection attempt waits out connect_timeout.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let config = PostgresConfig {
        insert_writers: 1,
        connect_timeout: Duration::from_secs(2),
        acquire_timeout: Duration::from_secs(2),
        ..PostgresConfig::default()
    };
    let store =
        PostgresStore::connect_lazily(&format!("postgres://postgres@127.0.0.1:{port}/x"), config)
            .expect("lazy store");
    let records: Vec<MessageRecord> = (0..16).map(|i| record("t", i)).collect();
    let started = Instant::now();
    let outcomes = join_all(records.iter().map(|r| store.insert(r))).await;
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Err(RepositoryError::Unavailable { .. }))),
        "{outcomes:?}"
    );
    // Two attempts of 2 s at most (the first insert alone, then the rest as one group), not 16.
    drop(silent);
    assert!(
        started.elapsed() < Duration::from_secs(9),
        "took {:?}",
        started.elapsed()
    );
}
