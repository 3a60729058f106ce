//! PostgresStore against a real server: migrations, startup checks, search paths and recall,
//! concurrency, and bounded failures (pool exhaustion, a database that is down or hangs).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use memory_core::domain::{Embedding, Importance, MessageId, TenantId};
use memory_core::error::RepositoryError;
use memory_core::ports::{MessageStore, RetentionStore, VectorSearch};
use memory_core::retention::ArchiveRule;
use memory_core::testkit::{Fixture, basis, conv, insert, query, t0, tenant};
use memory_store_postgres::testkit::{
    Clustered, Rng, SyntheticRow, TestDatabase, bulk_insert, exact_top_k, recall, with_database,
};
use memory_store_postgres::{
    PgStoreError, PostgresConfig, PostgresStore, SearchPath, pending_migrations,
    revert_all_migrations, run_migrations,
};
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const DIM: usize = 384;

fn embedding(v: Vec<f32>) -> Embedding {
    Embedding::new(v, DIM).expect("valid embedding")
}

async fn table_exists(url: &str, table: &str) -> bool {
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
    #[derive(diesel::QueryableByName)]
    struct Exists {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        e: bool,
    }
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    let row: Exists = diesel::sql_query(format!("SELECT to_regclass('{table}') IS NOT NULL AS e"))
        .get_result(&mut conn)
        .await
        .expect("query");
    row.e
}

/// The migrations in migrations/postgres: the schema, lexical search, the lifecycle tables,
/// the importance override, leases and claims, tenant keys, the large tenants' HNSW index,
/// its half-precision denser graph.
const MIGRATION_COUNT: usize = 8;

#[tokio::test]
async fn migrations_up_down_up() {
    let db = TestDatabase::create().await.expect("database");
    let all = MIGRATION_COUNT;
    assert_eq!(
        pending_migrations(&db.url).await.expect("pending").len(),
        all
    );
    let applied = run_migrations(&db.url).await.expect("up");
    assert_eq!(applied.len(), all, "every migration applied: {applied:?}");
    assert!(
        run_migrations(&db.url).await.expect("up again").is_empty(),
        "idempotent"
    );
    assert!(
        pending_migrations(&db.url)
            .await
            .expect("pending")
            .is_empty()
    );
    for t in [
        "messages",
        "archived_messages",
        "retention_policies",
        "message_history",
        "idempotency_keys",
        "large_tenants",
    ] {
        assert!(table_exists(&db.url, t).await, "{t} exists after up");
    }
    let store = db.store(PostgresConfig::default()).await.expect("connect");
    let m = Fixture::new("acme", "c1", DIM)
        .embedded(basis(DIM, 0))
        .build();
    insert(&store, &m).await.expect("insert");
    drop(store);

    let reverted = revert_all_migrations(&db.url).await.expect("down");
    assert_eq!(reverted.len(), all);
    for t in [
        "messages",
        "archived_messages",
        "retention_policies",
        "message_history",
        "idempotency_keys",
        "large_tenants",
    ] {
        assert!(!table_exists(&db.url, t).await, "{t} gone after down");
    }
    match PostgresStore::connect(&db.url, PostgresConfig::default()).await {
        Err(PgStoreError::Schema(_)) => {}
        other => panic!("connecting without the schema must be a Schema error, got {other:?}"),
    }

    assert_eq!(
        run_migrations(&db.url).await.expect("up after down").len(),
        all
    );
    let store = db.store(PostgresConfig::default()).await.expect("connect");
    assert!(
        store.get(m.id).await.expect("get").is_none(),
        "fresh tables"
    );
    insert(&store, &m).await.expect("insert again");
}

#[tokio::test]
async fn dimension_mismatch_is_a_startup_error() {
    let db = TestDatabase::migrated().await.expect("database");
    let err = db
        .store(PostgresConfig {
            dimension: 768,
            ..PostgresConfig::default()
        })
        .await
        .expect_err("768 against vector(384)");
    match &err {
        PgStoreError::DimensionMismatch {
            configured: 768,
            stored: 384,
        } => {}
        other => panic!("expected DimensionMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("model changed"), "{err}");
    // And an embedding of the wrong size is refused, not silently stored.
    let store = db.store(PostgresConfig::default()).await.expect("connect");
    let small = Fixture::new("acme", "c", 8).embedded(basis(8, 0)).build();
    assert!(matches!(
        insert(&store, &small).await,
        Err(RepositoryError::DimensionMismatch {
            expected: 384,
            got: 8
        })
    ));
    assert!(store.get(small.id).await.expect("get").is_none());
}

/// `tenants` (name, rows) of clustered data; returns every row with its id.
async fn load_dataset(
    db: &TestDatabase,
    tenants: &[(&str, usize)],
    seed: u64,
) -> (Clustered, Vec<(uuid::Uuid, SyntheticRow)>) {
    let mut rng = Rng::new(seed);
    let data = Clustered::new(DIM, 200, 0.05, &mut rng);
    let mut rows = Vec::new();
    for (tenant, n) in tenants {
        for i in 0..*n {
            rows.push(SyntheticRow {
                tenant: (*tenant).to_owned(),
                conversation: format!("conv-{}", i % 20),
                importance: rng.next_f64(),
                embedding: data.sample(&mut rng),
            });
        }
    }
    // Interleave tenants as live traffic would.
    for i in (1..rows.len()).rev() {
        let j = rng.below(i + 1);
        rows.swap(i, j);
    }
    let ids = bulk_insert(&db.url, &rows, 2_000, true)
        .await
        .expect("bulk insert");
    (data, ids.into_iter().zip(rows).collect())
}

/// 20,000 rows; tenant "small" holds 1% of them. The store's default strategy must find its
/// top 10 with recall >= 0.98 against an exact scan. Also reports the index path's recall
/// for the same tenant (forced, threshold 0), which is what a filtered HNSW gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filtered_recall_for_a_one_percent_tenant() {
    let db = TestDatabase::migrated().await.expect("database");
    let mut tenants = vec![("small", 200), ("big", 9_800)];
    let others: Vec<String> = (0..50).map(|i| format!("other-{i}")).collect();
    for o in &others {
        tenants.push((o.as_str(), 200));
    }
    let started = Instant::now();
    let (data, rows) = load_dataset(&db, &tenants, 7).await;
    eprintln!("loaded {} rows in {:?}", rows.len(), started.elapsed());
    let small: Vec<(uuid::Uuid, &[f32])> = rows
        .iter()
        .filter(|(_, r)| r.tenant == "small")
        .map(|(id, r)| (*id, r.embedding.as_slice()))
        .collect();
    assert_eq!(small.len(), 200);

    let default_store = db.store(PostgresConfig::default()).await.expect("connect");
    let index_store = db
        .store(PostgresConfig {
            exact_scan_threshold: 0,
            ..PostgresConfig::default()
        })
        .await
        .expect("connect");
    let mut rng = Rng::new(99);
    let (mut sum_default, mut sum_index, n) = (0.0, 0.0, 50);
    for i in 0..n {
        // Half the queries near the tenant's own data, half anywhere.
        let q = if i % 2 == 0 {
            let mut v = small[rng.below(small.len())].1.to_vec();
            v.iter_mut()
                .for_each(|x| *x += 0.02 * rng.gaussian() as f32);
            v
        } else {
            data.sample(&mut rng)
        };
        let truth = exact_top_k(&q, &small, 10);
        let cq = query("small", embedding(q), 10);
        let (got, path) = default_store.search_with_path(&cq).await.expect("search");
        assert_eq!(
            path,
            SearchPath::Exact,
            "a 200-row tenant is searched exactly"
        );
        assert_eq!(got.len(), 10);
        assert!(got.iter().all(|c| c.message.tenant_id.as_str() == "small"));
        let got: Vec<uuid::Uuid> = got.iter().map(|c| c.message.id.as_uuid()).collect();
        sum_default += recall(&truth, &got);
        let (got, _) = index_store.search_with_path(&cq).await.expect("search");
        assert_eq!(
            got.len(),
            10,
            "the index path never returns fewer rows than exist"
        );
        let got: Vec<uuid::Uuid> = got.iter().map(|c| c.message.id.as_uuid()).collect();
        sum_index += recall(&truth, &got);
    }
    let (r_default, r_index) = (sum_default / f64::from(n), sum_index / f64::from(n));
    eprintln!("1% tenant recall@10: store default {r_default:.3}, forced index path {r_index:.3}");
    assert!(r_default >= 0.98, "recall@10 {r_default} < 0.98");
    assert!(
        r_index >= 0.5,
        "forced index path recall@10 {r_index} collapsed"
    );
}

/// A large tenant goes through the HNSW index (EXPLAIN shows it); a small one does not; the
/// index path's results are the exact ones for most queries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hnsw_index_is_used_for_a_large_scope() {
    let db = TestDatabase::migrated().await.expect("database");
    let (data, rows) = load_dataset(&db, &[("big", 12_000), ("tiny", 100)], 11).await;
    let store = db.store(PostgresConfig::default()).await.expect("connect");
    let mut rng = Rng::new(5);
    let q = data.sample(&mut rng);

    let (path, plan) = store
        .explain_search(&query("big", embedding(q.clone()), 10))
        .await
        .expect("explain");
    assert_eq!(
        path,
        SearchPath::Index,
        "12,000 rows is above the threshold"
    );
    assert!(
        plan.contains("messages_embedding_hnsw_idx"),
        "the large scope must use the HNSW index:\n{plan}"
    );
    let (path, plan) = store
        .explain_search(&query("tiny", embedding(q.clone()), 10))
        .await
        .expect("explain");
    assert_eq!(path, SearchPath::Exact);
    assert!(
        !plan.contains("hnsw"),
        "a small scope must not use the HNSW index:\n{plan}"
    );

    let big: Vec<(uuid::Uuid, &[f32])> = rows
        .iter()
        .filter(|(_, r)| r.tenant == "big")
        .map(|(id, r)| (*id, r.embedding.as_slice()))
        .collect();
    let mut total = 0.0;
    for _ in 0..20 {
        let q = data.sample(&mut rng);
        let truth = exact_top_k(&q, &big, 10);
        let (got, path) = store
            .search_with_path(&query("big", embedding(q), 10))
            .await
            .expect("search");
        assert_eq!(path, SearchPath::Index);
        let sims: Vec<f64> = got.iter().map(|c| c.similarity).collect();
        assert!(
            sims.windows(2).all(|w| w[0] >= w[1]),
            "sorted by exact similarity: {sims:?}"
        );
        let got: Vec<uuid::Uuid> = got.iter().map(|c| c.message.id.as_uuid()).collect();
        total += recall(&truth, &got);
    }
    let r = total / 20.0;
    eprintln!("large tenant (12k rows) index recall@10: {r:.3}");
    assert!(r >= 0.9, "index recall@10 {r}");
}

/// When filters leave fewer rows than the limit in a large scope, the index path falls back to
/// the exact scan and returns every one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_scope_with_selective_filter_is_complete() {
    let db = TestDatabase::migrated().await.expect("database");
    let (data, rows) = load_dataset(&db, &[("big", 11_000)], 3).await;
    let store = db
        .store(PostgresConfig {
            exact_scan_threshold: 1_000,
            ..PostgresConfig::default()
        })
        .await
        .expect("connect");
    let expected: Vec<uuid::Uuid> = {
        let mut v: Vec<(f64, uuid::Uuid)> = rows
            .iter()
            .filter(|(_, r)| r.importance >= 0.9995)
            .map(|(id, r)| (r.importance, *id))
            .collect();
        v.sort_by(|a, b| a.0.total_cmp(&b.0));
        v.into_iter().map(|(_, id)| id).collect()
    };
    let mut rng = Rng::new(1);
    let mut q = query("big", embedding(data.sample(&mut rng)), 50);
    q.importance_min = Some(Importance::new(0.9995).expect("importance"));
    let got = store.search_candidates(&q).await.expect("search");
    let mut got: Vec<uuid::Uuid> = got.iter().map(|c| c.message.id.as_uuid()).collect();
    let mut want = expected.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want, "every eligible row, none lost to the index");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_inserts_lose_nothing() {
    let db = TestDatabase::migrated().await.expect("database");
    let store = db
        .store(PostgresConfig {
            pool_size: 8,
            ..PostgresConfig::default()
        })
        .await
        .expect("connect");
    let tasks: Vec<JoinHandle<Vec<MessageId>>> = (0..16)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..40 {
                    let mut v = vec![0.0f32; DIM];
                    v[(w * 40 + i) % DIM] = 1.0;
                    v[(w + 7) % DIM] += 0.5;
                    let m = Fixture::new(&format!("tenant-{}", w % 4), &format!("c{w}"), DIM)
                        .embedded(embedding(v))
                        .build();
                    insert(&store, &m).await.expect("insert");
                    ids.push(m.id);
                }
                ids
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    assert_eq!(all.len(), 640);
    for id in &all {
        assert!(store.get(*id).await.expect("get").is_some());
    }
    let mut tenants: Vec<String> = store
        .list_tenants()
        .await
        .expect("tenants")
        .into_iter()
        .map(TenantId::into_inner)
        .collect();
    tenants.sort();
    assert_eq!(tenants, ["tenant-0", "tenant-1", "tenant-2", "tenant-3"]);
    let mut q = query("tenant-1", basis(DIM, 0), 1_000);
    q.conversation_id = Some(conv("c5"));
    assert_eq!(store.search_candidates(&q).await.expect("search").len(), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_exhaustion_is_unavailable_not_a_hang() {
    let db = TestDatabase::migrated().await.expect("database");
    let store = db
        .store(PostgresConfig {
            pool_size: 1,
            acquire_timeout: Duration::from_millis(300),
            ..PostgresConfig::default()
        })
        .await
        .expect("connect");
    let held = store.pool().get().await.expect("the only connection");
    let started = Instant::now();
    let r = tokio::time::timeout(Duration::from_secs(10), store.get(MessageId::new()))
        .await
        .expect("must not hang");
    assert!(
        matches!(r, Err(RepositoryError::Unavailable { .. })),
        "exhausted pool: {r:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(held);
    assert!(
        store
            .get(MessageId::new())
            .await
            .expect("works again")
            .is_none()
    );
    store.health().await.expect("healthy");
}

/// A port nobody listens on.
async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    drop(l);
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_is_unavailable_quickly() {
    let url = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        closed_port().await
    );
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        PostgresStore::connect(&url, PostgresConfig::default()),
    )
    .await
    .expect("must not hang");
    assert!(matches!(r, Err(PgStoreError::Unavailable { .. })), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(
        RepositoryError::from(r.expect_err("error")),
        RepositoryError::Unavailable { .. }
    ));
    let r = run_migrations(&url).await;
    assert!(matches!(r, Err(PgStoreError::Unavailable { .. })), "{r:?}");
}

/// A server that accepts connections and never answers: connect gives up after
/// connect_timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresponsive_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let sink = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let started = Instant::now();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        PostgresStore::connect(
            &url,
            PostgresConfig {
                connect_timeout: Duration::from_millis(500),
                ..PostgresConfig::default()
            },
        ),
    )
    .await
    .expect("must not hang");
    assert!(matches!(r, Err(PgStoreError::Unavailable { .. })), "{r:?}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    sink.abort();
}

/// A TCP proxy to the test server that can be cut, as if the database went away.
struct Proxy {
    port: u16,
    accept: JoinHandle<()>,
    conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let tracked = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let h = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        let _ = server.shutdown().await;
                    }
                });
                tracked.lock().expect("conns").push(h);
            }
        });
        Self {
            port,
            accept,
            conns,
        }
    }

    fn cut(&self) {
        self.accept.abort();
        for h in self.conns.lock().expect("conns").drain(..) {
            h.abort();
        }
    }
}

/// The database goes away while the store is running: calls fail with Unavailable in
/// bounded time instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_gone_mid_flight_is_unavailable() {
    let db = TestDatabase::migrated().await.expect("database");
    let hostport = db
        .url
        .split('@')
        .nth(1)
        .and_then(|s| s.split('/').next())
        .expect("host:port in the URL")
        .to_owned();
    let proxy = Proxy::start(hostport).await;
    let url = with_database(
        &format!("postgres://postgres@127.0.0.1:{}/x", proxy.port),
        &db.name,
    );
    let store = PostgresStore::connect(
        &url,
        PostgresConfig {
            pool_size: 2,
            connect_timeout: Duration::from_millis(500),
            acquire_timeout: Duration::from_millis(500),
            ..PostgresConfig::default()
        },
    )
    .await
    .expect("connect through the proxy");
    let m = Fixture::new("acme", "c1", DIM)
        .embedded(basis(DIM, 0))
        .build();
    insert(&store, &m).await.expect("insert");
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..3 {
        let started = Instant::now();
        let r = tokio::time::timeout(Duration::from_secs(10), store.get(m.id))
            .await
            .expect("must not hang");
        assert!(
            matches!(r, Err(RepositoryError::Unavailable { .. })),
            "database gone: {r:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }
    let r = store.health().await;
    assert!(
        matches!(r, Err(RepositoryError::Unavailable { .. })),
        "{r:?}"
    );
}

/// Archive copies rows into archived_messages; purge deletes message and copy; a threshold
/// equal to the importance does not archive (double precision, not real).
#[tokio::test]
async fn archive_copies_and_purge_deletes_both() {
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let db = TestDatabase::migrated().await.expect("database");
    let store = db.store(PostgresConfig::default()).await.expect("connect");
    let now = t0();
    let old = Fixture::new("acme", "c1", DIM)
        .created(now - chrono::Duration::days(40))
        .importance(0.9)
        .embedded(basis(DIM, 0))
        .build();
    let edge = Fixture::new("acme", "c1", DIM).importance(0.35).build();
    for m in [&old, &edge] {
        insert(&store, m).await.expect("insert");
    }
    let rule = ArchiveRule {
        created_before: now - chrono::Duration::days(30),
        importance_below: Importance::new(0.35).expect("importance"),
    };
    assert_eq!(
        store
            .archive(&tenant("acme"), &rule, now, false)
            .await
            .expect("archive"),
        1,
        "0.35 is not below 0.35"
    );
    let mut conn = AsyncPgConnection::establish(&db.url).await.expect("conn");
    let count = |sql: &'static str| diesel::sql_query(sql);
    let n: N = count(
        "SELECT count(*) AS n FROM archived_messages a JOIN messages m USING (id) \
         WHERE m.archived AND a.archived_at = m.archived_at AND a.content = m.content \
         AND a.embedding = m.embedding",
    )
    .get_result(&mut conn)
    .await
    .expect("count");
    assert_eq!(n.n, 1, "a full copy in the archive");
    let purged = store
        .purge_archived(
            &tenant("acme"),
            Utc::now() + chrono::Duration::days(1),
            false,
        )
        .await
        .expect("purge");
    assert_eq!(purged, 1);
    let n: N = count("SELECT count(*) AS n FROM archived_messages")
        .get_result(&mut conn)
        .await
        .expect("count");
    assert_eq!(n.n, 0, "the copy went with the message");
    assert!(store.get(old.id).await.expect("get").is_none());
    assert!(store.get(edge.id).await.expect("get").is_some());
}

/// Retention works in batches: more rows than one batch are all archived, counted once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_in_batches_counts_every_row() {
    let db = TestDatabase::migrated().await.expect("database");
    let (_, rows) = load_dataset(&db, &[("acme", 12_000)], 21).await;
    let store = db.store(PostgresConfig::default()).await.expect("connect");
    let tenant = tenant("acme");
    let rule = ArchiveRule {
        created_before: Utc::now() + chrono::Duration::days(1),
        importance_below: Importance::new(0.0).expect("importance"),
    };
    let now = Utc::now();
    assert_eq!(
        store.archive(&tenant, &rule, now, true).await.expect("dry"),
        12_000
    );
    assert_eq!(
        store
            .archive(&tenant, &rule, now, false)
            .await
            .expect("run"),
        12_000
    );
    assert_eq!(
        store
            .archive(&tenant, &rule, now, false)
            .await
            .expect("again"),
        0
    );
    let later = now + chrono::Duration::seconds(1);
    assert_eq!(
        store
            .purge_archived(&tenant, later, true)
            .await
            .expect("dry"),
        12_000
    );
    assert_eq!(
        store
            .purge_archived(&tenant, later, false)
            .await
            .expect("purge"),
        12_000
    );
    assert!(
        store
            .get(MessageId::from_uuid(rows[0].0))
            .await
            .expect("get")
            .is_none()
    );
}

/// The server terminates a connection (57P01, as on a restart or an operator's
/// pg_terminate_backend). Mid-query, the error is Unavailable (the driver gives no SQLSTATE
/// for it, so this checks the message fallback against a real server); idle in the pool,
/// the broken connection is replaced and the next call just works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connection_is_unavailable_then_replaced() {
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let db = TestDatabase::migrated().await.expect("database");
    let store = db
        .store(PostgresConfig {
            pool_size: 1,
            ..PostgresConfig::default()
        })
        .await
        .expect("connect");
    let m = Fixture::new("acme", "c1", DIM).build();
    insert(&store, &m).await.expect("insert");
    let mut admin = AsyncPgConnection::establish(&db.url).await.expect("admin");
    let mut terminate = async |pid: i32| {
        diesel::sql_query(format!("SELECT pg_terminate_backend({pid})"))
            .execute(&mut admin)
            .await
            .expect("terminate");
    };

    // Mid-query.
    let mut conn = store.pool().get().await.expect("the pool's connection");
    let pid: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(&mut *conn)
        .await
        .expect("pid");
    let sleeping = tokio::spawn(async move {
        let r = diesel::sql_query("SELECT pg_sleep(10)")
            .execute(&mut *conn)
            .await;
        (r, conn)
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    terminate(pid.pid).await;
    let (r, conn) = tokio::time::timeout(Duration::from_secs(5), sleeping)
        .await
        .expect("the query ends when its backend does")
        .expect("task");
    let err = PgStoreError::from(r.expect_err("terminated mid-query"));
    assert!(err.is_unavailable(), "{err:?}");
    assert!(matches!(
        RepositoryError::from(err),
        RepositoryError::Unavailable { .. }
    ));
    // Back in the pool, the dead connection may be handed out once more before the driver
    // has noticed the socket closed; that call is Unavailable and discards it.
    drop(conn);
    if let Err(e) = store.get(m.id).await {
        assert!(matches!(e, RepositoryError::Unavailable { .. }), "{e:?}");
    }
    let got = store.get(m.id).await.expect("a new connection");
    assert_eq!(got.map(|g| g.id), Some(m.id));

    // Idle in the pool.
    let pid: Pid = {
        let mut conn = store.pool().get().await.expect("the pool's connection");
        diesel::sql_query("SELECT pg_backend_pid() AS pid")
            .get_result(&mut *conn)
            .await
            .expect("pid")
    };
    terminate(pid.pid).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(10), store.get(m.id))
        .await
        .expect("must not hang")
        .expect("the broken connection is replaced");
    assert_eq!(got.map(|g| g.id), Some(m.id));
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A batch in parts waits on the model between its statements: the operation timeout bounds
/// each statement, not the batch; and a batch abandoned part-way (the request dropped while
/// its transaction is open) writes nothing and leaves the pool's one connection usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_in_parts_outlives_the_operation_timeout_and_abandoning_it_writes_nothing() {
    use futures::{SinkExt as _, StreamExt as _};
    use memory_core::ports::MessageRecord;
    let db = TestDatabase::migrated().await.expect("database");
    let store = db
        .store(PostgresConfig {
            pool_size: 1,
            acquire_timeout: Duration::from_secs(2),
            operation_timeout: Duration::from_millis(500),
            ..PostgresConfig::default()
        })
        .await
        .expect("connect");
    let record = |i: usize| {
        MessageRecord::new(
            Fixture::new("acme", "c1", DIM)
                .embedded(basis(DIM, i))
                .build(),
        )
    };

    // Three parts, 400 ms apart: 1.2 s in all, more than twice the operation timeout.
    let slow: Vec<MessageRecord> = (0..3).map(record).collect();
    let parts = futures::stream::iter(slow.clone())
        .then(|r| async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            vec![r]
        })
        .boxed();
    store
        .insert_parts(parts, None)
        .await
        .expect("each statement is within the timeout");
    for r in &slow {
        assert!(store.get(r.message.id).await.expect("get").is_some());
    }

    // Abandoned after its first part was written inside the transaction.
    let first = record(10);
    let (mut tx, rx) = futures::channel::mpsc::channel(0);
    let batch = {
        let store = store.clone();
        tokio::spawn(async move { store.insert_parts(rx.boxed(), None).await })
    };
    tx.send(vec![first.clone()]).await.expect("part 1 read");
    tx.send(vec![record(11)])
        .await
        .expect("part 1 taken by the store");
    batch.abort();
    assert!(batch.await.expect_err("aborted").is_cancelled());
    drop(tx);
    let got = tokio::time::timeout(Duration::from_secs(10), store.get(first.message.id))
        .await
        .expect("the pool's only connection came back, or was replaced, without a hang")
        .expect("get");
    assert!(got.is_none(), "nothing of an abandoned batch is stored");
    store.health().await.expect("healthy");
}

/// How many of `tenant`'s searchable rows are in the HNSW index, and how many are not.
async fn indexed_rows(url: &str, tenant: &str) -> (i64, i64) {
    use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
    #[derive(diesel::QueryableByName)]
    struct Counts {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        indexed: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        unindexed: i64,
    }
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    let c: Counts = diesel::sql_query(
        "SELECT count(*) FILTER (WHERE in_hnsw) AS indexed, \
         count(*) FILTER (WHERE NOT in_hnsw) AS unindexed FROM messages \
         WHERE tenant_id = $1 AND NOT archived AND embedding_status = 'completed'",
    )
    .bind::<diesel::sql_types::Text, _>(tenant)
    .get_result(&mut conn)
    .await
    .expect("query");
    (c.indexed, c.unindexed)
}

/// `n` embedded messages of `tenant`, clustered like the other search tests' data.
fn records(
    tenant: &str,
    n: usize,
    data: &Clustered,
    rng: &mut Rng,
) -> Vec<memory_core::ports::MessageRecord> {
    (0..n)
        .map(|i| {
            memory_core::ports::MessageRecord::new(
                Fixture::new(tenant, &format!("conv-{}", i % 7), DIM)
                    .embedded(embedding(data.sample(rng)))
                    .build(),
            )
        })
        .collect()
}

/// Only large tenants' rows are in the HNSW index. A tenant that grows past the threshold
/// is searched completely before, while and after its rows are promoted; once listed, its
/// new rows are indexed at insert; a small tenant's never are. The write path promotes a
/// tenant that has grown, in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_grows_large_is_promoted_into_the_index() {
    let db = TestDatabase::migrated().await.expect("database");
    let config = PostgresConfig {
        exact_scan_threshold: 1_000,
        // Writes do not trigger a check again within the test: promotion is driven by hand.
        scope_size_cache_ttl: Duration::from_secs(3_600),
        ..PostgresConfig::default()
    };
    let store = db.store(config.clone()).await.expect("connect");
    let mut rng = Rng::new(21);
    let data = Clustered::new(DIM, 30, 0.05, &mut rng);
    let grow = TenantId::parse("grow").expect("valid");
    // Below the threshold: checked after the write (in the background), never promoted.
    let first = records("grow", 600, &data, &mut rng);
    store.insert_batch(&first, None).await.expect("insert");
    store
        .insert_batch(&records("tiny", 50, &data, &mut rng), None)
        .await
        .expect("insert");
    assert_eq!(store.promote_if_large(&grow).await.expect("check"), 0);
    assert_eq!(indexed_rows(&db.url, "grow").await, (0, 600));

    // Past the threshold, nothing promoted yet: the large path is exact on the rest.
    let mut all = first;
    all.extend(records("grow", 600, &data, &mut rng));
    store.insert_batch(&all[600..], None).await.expect("insert");
    let vectors: Vec<(uuid::Uuid, Vec<f32>)> = all
        .iter()
        .map(|r| {
            let v = r.message.embedding.as_ref().expect("embedded").as_slice();
            (r.message.id.as_uuid(), v.to_vec())
        })
        .collect();
    let check = async |store: &PostgresStore, min_recall: f64| {
        let mut rng = Rng::new(3);
        let mut total = 0.0;
        for _ in 0..10 {
            let q = data.sample(&mut rng);
            let pool: Vec<(uuid::Uuid, &[f32])> =
                vectors.iter().map(|(id, v)| (*id, v.as_slice())).collect();
            let truth = exact_top_k(&q, &pool, 10);
            let (got, path) = store
                .search_with_path(&query("grow", embedding(q), 10))
                .await
                .expect("search");
            assert_eq!(path, SearchPath::Index, "1,200 rows is a large scope");
            assert_eq!(got.len(), 10);
            assert!(got.iter().all(|c| c.message.tenant_id == grow));
            let got: Vec<uuid::Uuid> = got.iter().map(|c| c.message.id.as_uuid()).collect();
            total += recall(&truth, &got);
        }
        let r = total / 10.0;
        assert!(r >= min_recall, "recall@10 {r} < {min_recall}");
    };
    check(&store, 1.0).await;

    // Half promoted (as a promotion under way leaves it): both halves answer together.
    {
        use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
        let mut conn = AsyncPgConnection::establish(&db.url)
            .await
            .expect("connect");
        diesel::sql_query(
            "UPDATE messages SET in_hnsw = true WHERE tenant_id = 'grow' AND id IN \
             (SELECT id FROM messages WHERE tenant_id = 'grow' ORDER BY id LIMIT 600)",
        )
        .execute(&mut conn)
        .await
        .expect("half");
    }
    assert_eq!(indexed_rows(&db.url, "grow").await, (600, 600));
    check(&store, 0.9).await;

    // Promoted: every row moves into the index, and searches stay complete.
    assert_eq!(store.promote_tenant(&grow).await.expect("promote"), 600);
    assert_eq!(indexed_rows(&db.url, "grow").await, (1_200, 0));
    check(&store, 0.9).await;
    assert_eq!(store.promote_tenant(&grow).await.expect("again"), 0);

    // A listed tenant's new rows are indexed at insert; a small tenant's are not.
    let later = records("grow", 10, &data, &mut rng);
    store.insert_batch(&later, None).await.expect("insert");
    insert(&store, &records("grow", 1, &data, &mut rng)[0].message)
        .await
        .expect("insert one");
    assert_eq!(indexed_rows(&db.url, "grow").await, (1_211, 0));
    assert_eq!(indexed_rows(&db.url, "tiny").await, (0, 50));

    // The write path finds a tenant that has grown and promotes it in the background.
    let fresh = db.store(config).await.expect("connect");
    fresh
        .insert_batch(&records("auto", 1_100, &data, &mut rng), None)
        .await
        .expect("insert");
    let started = Instant::now();
    while indexed_rows(&db.url, "auto").await != (1_100, 0) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not promoted: {:?}",
            indexed_rows(&db.url, "auto").await
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
