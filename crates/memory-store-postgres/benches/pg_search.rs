//! Postgres store benchmark (not run in CI): search latency p50/p99 and recall@10 against an
//! exact scan, and insert throughput, with N messages in one tenant.
//!
//!   cargo bench -p memory-store-postgres --bench pg_search
//!   BENCH_SIZES=10000,100000,1000000 BENCH_EF=100,200,400 cargo bench -p memory-store-postgres --bench pg_search
//!
//! Environment: BENCH_SIZES (default 10000,100000), BENCH_QUERIES (300), BENCH_EF (the
//! hnsw_ef_search values to try; default the store's). The HNSW index is rebuilt after the
//! load as the migrations define it (read from `pg_indexes`), unless BENCH_HNSW (index
//! options, e.g. "m = 16, ef_construction = 64") or BENCH_HNSW_KEY (`halfvec` or `vector`:
//! what the index stores) ask for another. BENCH_INSERTS
//! (single-row inserts per throughput run, default 2000), MEMORY_TEST_DATABASE_URL (else
//! scripts/pg.sh up). Results go to stdout as markdown rows.

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use memory_core::domain::Embedding;
use memory_core::testkit::{Fixture, insert, query};
use memory_store_postgres::testkit::{
    Clustered, Rng, SyntheticRow, TestDatabase, bulk_insert, recall,
};
use memory_store_postgres::{PostgresConfig, PostgresStore, SearchPath};

const DIM: usize = 384;

fn env_list(name: &str, default: &str) -> Vec<u64> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn env_one(name: &str, default: u64) -> u64 {
    env_list(name, "").into_iter().next().unwrap_or(default)
}

/// `CREATE INDEX ...` of the HNSW index as the migrations built it.
async fn index_definition(url: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct IndexDef {
        #[diesel(sql_type = diesel::sql_types::Text)]
        indexdef: String,
    }
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    let def: IndexDef = diesel::sql_query(
        "SELECT indexdef FROM pg_indexes WHERE indexname = 'messages_embedding_hnsw_idx'",
    )
    .get_result(&mut conn)
    .await
    .expect("the migrations' HNSW index");
    def.indexdef
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// Exact top-10 ids of every query over `vectors`, on all cores.
fn ground_truth(queries: &[Vec<f32>], vectors: &[(uuid::Uuid, Vec<f32>)]) -> Vec<Vec<uuid::Uuid>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = queries.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = queries
            .chunks(chunk.max(1))
            .map(|qs| {
                s.spawn(move || {
                    qs.iter()
                        .map(|q| {
                            let mut best: Vec<(f32, uuid::Uuid)> = Vec::with_capacity(11);
                            for (id, v) in vectors {
                                let sim = memory_core::domain::cosine_similarity(q, v);
                                if best.len() < 10 || sim > best[best.len() - 1].0 {
                                    best.push((sim, *id));
                                    best.sort_by(|a, b| b.0.total_cmp(&a.0));
                                    best.truncate(10);
                                }
                            }
                            best.into_iter().map(|(_, id)| id).collect()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("ground truth thread"))
            .collect()
    })
}

/// Runs `;`-separated statements one by one on one connection.
async fn exec(url: &str, sql: &str) {
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    for stmt in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        diesel::sql_query(stmt)
            .execute(&mut conn)
            .await
            .expect(stmt);
    }
}

struct Measured {
    p50: f64,
    p99: f64,
    recall: f64,
    index_share: f64,
}

async fn measure(
    store: &PostgresStore,
    tenant: &str,
    queries: &[Vec<f32>],
    truth: &[Vec<uuid::Uuid>],
    limit: usize,
) -> Measured {
    let mk = |q: &Vec<f32>| {
        query(
            tenant,
            Embedding::new(q.clone(), DIM).expect("embedding"),
            limit,
        )
    };
    // Warm the caches with other queries from the same distribution.
    let mut rng = Rng::new(queries.len() as u64 + 17);
    let mut warm = queries[0].clone();
    for _ in 0..queries.len() {
        let base = &queries[rng.below(queries.len())];
        warm.iter_mut()
            .zip(base)
            .for_each(|(w, b)| *w = b + 0.05 * rng.gaussian() as f32);
        memory_store_postgres::testkit::normalise(&mut warm);
        store.search_with_path(&mk(&warm)).await.expect("warm up");
    }
    let mut lat = Vec::with_capacity(queries.len());
    let (mut rsum, mut index) = (0.0, 0usize);
    for (q, t) in queries.iter().zip(truth) {
        let cq = mk(q);
        let started = Instant::now();
        let (got, path) = store.search_with_path(&cq).await.expect("search");
        lat.push(started.elapsed());
        if path == SearchPath::Index {
            index += 1;
        }
        let ids: Vec<uuid::Uuid> = got
            .iter()
            .take(10)
            .map(|c| c.message.id.as_uuid())
            .collect();
        rsum += recall(t, &ids);
    }
    lat.sort();
    Measured {
        p50: percentile(&lat, 0.5),
        p99: percentile(&lat, 0.99),
        recall: rsum / queries.len() as f64,
        index_share: index as f64 / queries.len() as f64,
    }
}

/// Single-row inserts into `tenant`: "bench" is large (its rows go into the HNSW graph),
/// "bench-inserts" a new small tenant (no graph insertion).
async fn insert_throughput(store: &PostgresStore, tenant: &str, n: usize, workers: usize) -> f64 {
    let mut rng = Rng::new(4242 + workers as u64);
    let data = Clustered::new(DIM, 50, 0.05, &mut rng);
    let messages: Vec<_> = (0..n)
        .map(|i| {
            Fixture::new(tenant, &format!("c{}", i % 50), DIM)
                .embedded(Embedding::new(data.sample(&mut rng), DIM).expect("embedding"))
                .build()
        })
        .collect();
    let started = Instant::now();
    let chunks: Vec<Vec<_>> = messages
        .chunks(n.div_ceil(workers))
        .map(<[_]>::to_vec)
        .collect();
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let store = store.clone();
            tokio::spawn(async move {
                // As the service inserts: with the content analysed for lexical search.
                for m in chunk {
                    insert(&store, &m).await.expect("insert");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("insert task");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and test harness probes
    }
    let sizes = env_list("BENCH_SIZES", "10000,100000");
    let n_queries = env_one("BENCH_QUERIES", 300) as usize;
    let efs = env_list("BENCH_EF", "");
    let inserts = env_one("BENCH_INSERTS", 2_000) as usize;
    // Another index than the migrations' only when asked for.
    let hnsw_options = std::env::var("BENCH_HNSW").ok();
    let hnsw_key = match std::env::var("BENCH_HNSW_KEY").as_deref() {
        Ok("vector") => Some("embedding vector_cosine_ops"),
        Ok("halfvec") => Some("(embedding::halfvec(384)) halfvec_cosine_ops"),
        _ => None,
    };
    println!(
        "| rows in tenant | load (insert) | HNSW build | path | limit | ef_search | p50 ms | p99 ms | recall@10 |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let mut insert_rows = Vec::new();
    for &n in &sizes {
        let n = n as usize;
        let db = TestDatabase::migrated().await.expect("database");
        let mut rng = Rng::new(n as u64);
        let data = Clustered::new(DIM, (n / 500).clamp(20, 2_000), 0.05, &mut rng);
        // The big tenant, plus a 1%-sized small tenant (at most 5,000) for the exact path.
        let small_n = (n / 100).clamp(100, 5_000);
        let mut rows: Vec<SyntheticRow> = (0..n + small_n)
            .map(|i| SyntheticRow {
                tenant: if i < n { "bench" } else { "small" }.to_owned(),
                conversation: format!("conv-{}", i % 1_000),
                importance: rng.next_f64(),
                embedding: data.sample(&mut rng),
            })
            .collect();
        for i in (1..rows.len()).rev() {
            let j = rng.below(i + 1);
            rows.swap(i, j);
        }
        // The migrations' index definition, read before it is dropped for the load.
        let migrated = index_definition(&db.url).await;
        exec(&db.url, "DROP INDEX messages_embedding_hnsw_idx").await;
        let started = Instant::now();
        let ids = bulk_insert(&db.url, &rows, 5_000, false)
            .await
            .expect("bulk insert");
        let load = started.elapsed();
        let create = if hnsw_options.is_none() && hnsw_key.is_none() {
            migrated.clone()
        } else {
            format!(
                "CREATE INDEX messages_embedding_hnsw_idx ON messages USING hnsw ({}) \
                 WITH ({}) WHERE NOT archived AND in_hnsw",
                hnsw_key.unwrap_or("(embedding::halfvec(384)) halfvec_cosine_ops"),
                hnsw_options
                    .as_deref()
                    .unwrap_or("m = 24, ef_construction = 128"),
            )
        };
        let started = Instant::now();
        exec(
            &db.url,
            &format!(
                "SET maintenance_work_mem = '6GB'; SET max_parallel_maintenance_workers = 2; \
                 {create}; VACUUM ANALYZE messages"
            ),
        )
        .await;
        let build = started.elapsed();
        eprintln!("n={n}: loaded in {load:?}, {create} in {build:?}");

        let queries: Vec<Vec<f32>> = (0..n_queries).map(|_| data.sample(&mut rng)).collect();
        let big: Vec<(uuid::Uuid, Vec<f32>)> = ids
            .iter()
            .zip(&rows)
            .filter(|(_, r)| r.tenant == "bench")
            .map(|(id, r)| (*id, r.embedding.clone()))
            .collect();
        let small: Vec<(uuid::Uuid, Vec<f32>)> = ids
            .iter()
            .zip(&rows)
            .filter(|(_, r)| r.tenant == "small")
            .map(|(id, r)| (*id, r.embedding.clone()))
            .collect();
        drop(rows);
        let started = Instant::now();
        let truth_big = ground_truth(&queries, &big);
        let truth_small = ground_truth(&queries, &small);
        eprintln!("ground truth in {:?}", started.elapsed());
        drop(big);

        let ef_values: Vec<u32> = if efs.is_empty() {
            vec![PostgresConfig::default().hnsw_ef_search]
        } else {
            efs.iter().map(|&e| e as u32).collect()
        };
        let fmt_load = format!("{:.1} s", load.as_secs_f64());
        let fmt_build = format!("{:.1} s", build.as_secs_f64());
        for &ef in &ef_values {
            let store = db
                .store(PostgresConfig {
                    hnsw_ef_search: ef,
                    ..PostgresConfig::default()
                })
                .await
                .expect("connect");
            for limit in [10, 200] {
                let m = measure(&store, "bench", &queries, &truth_big, limit).await;
                let path = if m.index_share > 0.99 {
                    "index".to_owned()
                } else {
                    format!("index {:.0}%", m.index_share * 100.0)
                };
                println!(
                    "| {n} | {fmt_load} | {fmt_build} | {path} | {limit} | {ef} | {:.2} | {:.2} | {:.3} |",
                    m.p50, m.p99, m.recall
                );
            }
        }
        let store = db.store(PostgresConfig::default()).await.expect("connect");
        for limit in [10, 200] {
            let m = measure(&store, "small", &queries, &truth_small, limit).await;
            println!(
                "| {small_n} (small tenant beside {n}) | | | exact | {limit} | - | {:.2} | {:.2} | {:.3} |",
                m.p50, m.p99, m.recall
            );
        }
        let one = insert_throughput(&store, "bench-inserts", inserts, 1).await;
        let eight = insert_throughput(&store, "bench-inserts", inserts, 8).await;
        let big_one = insert_throughput(&store, "bench", inserts, 1).await;
        let big_eight = insert_throughput(&store, "bench", inserts, 8).await;
        insert_rows.push(format!(
            "| {n} | {:.1} s ({:.0} rows/s) | {one:.0}/s | {eight:.0}/s | {big_one:.0}/s | {big_eight:.0}/s |",
            load.as_secs_f64(),
            (n + small_n) as f64 / load.as_secs_f64()
        ));
        drop(store);
        if std::env::var_os("BENCH_KEEP").is_some() {
            eprintln!("kept database {} (BENCH_KEEP)", db.url);
            std::mem::forget(db);
        } else {
            drop(db);
        }
    }
    println!();
    println!(
        "| rows | bulk load, multi-row INSERT of 5,000 (no HNSW) | single-row inserts into a small tenant, 1 task | 8 tasks | into the large one (HNSW), 1 task | 8 tasks |"
    );
    println!("|---|---|---|---|---|---|");
    for r in insert_rows {
        println!("{r}");
    }
}
