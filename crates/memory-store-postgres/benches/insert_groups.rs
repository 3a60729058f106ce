//! Single-message inserts from concurrent tasks, written one by one against written together
//! (`insert_writers`, `src/coalesce.rs`), sides alternating in one run (not run in CI).
//!
//!   cargo bench -p memory-store-postgres --bench insert_groups
//!   BENCH_TASKS=1,8,32 BENCH_INSERTS=3000 BENCH_ROUNDS=3 BENCH_GRAPH=1 cargo bench ...
//!
//! Each side, round and task count inserts BENCH_INSERTS messages (synthetic text, random
//! vectors) into a fresh tenant of one migrated database, as the service does (`insert`, one
//! message per call, each task sending its next when the last is answered). Reported per
//! side: rows/s, the latency of one insert (p50/p99), the transactions the rows took (rows
//! of one statement share their `xmin`), and the CPU the Postgres processes spent per 1,000
//! rows (from /proc; Postgres must run on this machine). BENCH_GRAPH=1 makes every tenant
//! large (`exact_scan_threshold` 0), so each row is also an HNSW insertion.
//! MEMORY_TEST_DATABASE_URL, else scripts/pg.sh up.

use std::time::{Duration, Instant};

use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use memory_core::domain::Embedding;
use memory_core::testkit::{Fixture, insert};
use memory_store_postgres::testkit::{Rng, TestDatabase, normalise};
use memory_store_postgres::{PostgresConfig, PostgresStore};

const DIM: usize = 384;

fn env_list(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect()
}

fn env_one(name: &str, default: usize) -> usize {
    env_list(name, "").into_iter().next().unwrap_or(default)
}

/// utime + stime of every process named `postgres`, in seconds.
fn postgres_cpu() -> f64 {
    let ticks = 100.0; // USER_HZ on Linux
    let mut total = 0u64;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        if !head.ends_with("(postgres") {
            continue;
        }
        let fields: Vec<&str> = tail.split_whitespace().collect();
        if let (Some(u), Some(s)) = (fields.get(11), fields.get(12)) {
            total += u.parse::<u64>().unwrap_or(0) + s.parse::<u64>().unwrap_or(0);
        }
    }
    total as f64 / ticks
}

#[derive(diesel::QueryableByName)]
struct Transactions {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

async fn transactions(url: &str, tenant: &str) -> i64 {
    let mut conn = AsyncPgConnection::establish(url).await.expect("connect");
    let row: Transactions = diesel::sql_query(
        "SELECT count(DISTINCT xmin::text) AS n FROM messages WHERE tenant_id = $1",
    )
    .bind::<diesel::sql_types::Text, _>(tenant)
    .get_result(&mut conn)
    .await
    .expect("count");
    row.n
}

struct Run {
    rate: f64,
    p50_ms: f64,
    p99_ms: f64,
    rows_per_transaction: f64,
    pg_cpu_ms_per_1000: f64,
}

async fn run(store: &PostgresStore, url: &str, tenant: &str, n: usize, tasks: usize) -> Run {
    let mut rng = Rng::new(tasks as u64);
    let messages: Vec<_> = (0..n)
        .map(|i| {
            let mut v: Vec<f32> = (0..DIM).map(|_| rng.gaussian() as f32).collect();
            normalise(&mut v);
            Fixture::new(tenant, &format!("c{}", i % 20), DIM)
                .content(&format!("message {i} about topic {} and more", i % 97))
                .embedded(Embedding::new(v, DIM).expect("embedding"))
                .build()
        })
        .collect();
    let cpu = postgres_cpu();
    let started = Instant::now();
    let handles: Vec<_> = messages
        .chunks(n.div_ceil(tasks))
        .map(<[_]>::to_vec)
        .map(|chunk| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(chunk.len());
                for m in chunk {
                    let t = Instant::now();
                    insert(&store, &m).await.expect("insert");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::with_capacity(n);
    for h in handles {
        latencies.extend(h.await.expect("task"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = postgres_cpu() - cpu;
    latencies.sort_unstable();
    let at =
        |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1e3;
    Run {
        rate: n as f64 / elapsed,
        p50_ms: at(0.5),
        p99_ms: at(0.99),
        rows_per_transaction: n as f64 / transactions(url, tenant).await.max(1) as f64,
        pg_cpu_ms_per_1000: cpu * 1e3 / n as f64 * 1e3,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo bench -- --list` and test harness probes
    }
    let n = env_one("BENCH_INSERTS", 3_000);
    let rounds = env_one("BENCH_ROUNDS", 3);
    let task_counts = env_list("BENCH_TASKS", "1,8,32");
    let graph = env_one("BENCH_GRAPH", 0) == 1;
    let db = TestDatabase::migrated().await.expect("database");
    let base = PostgresConfig {
        exact_scan_threshold: if graph { 0 } else { 10_000 },
        ..PostgresConfig::default()
    };
    let sides = [
        (
            "one by one",
            PostgresConfig {
                insert_writers: usize::MAX,
                ..base.clone()
            },
        ),
        ("grouped (default)", base.clone()),
    ];
    let mut stores = Vec::new();
    for (name, config) in &sides {
        stores.push((*name, db.store(config.clone()).await.expect("connect")));
    }
    println!(
        "{n} inserts per run, {rounds} rounds, sides alternating, {}",
        if graph {
            "every row into the HNSW graph"
        } else {
            "small tenants (no graph insertion)"
        }
    );
    println!(
        "| tasks | side | rows/s (median) | per round | insert p50 / p99 ms | rows per transaction | Postgres CPU ms per 1,000 rows |"
    );
    println!("|---:|---|---:|---|---|---:|---:|");
    for &tasks in &task_counts {
        let mut results: Vec<Vec<Run>> = stores.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            // Alternate which side goes first.
            let order: Vec<usize> = if round % 2 == 0 {
                vec![0, 1]
            } else {
                vec![1, 0]
            };
            for i in order {
                let (name, store) = &stores[i];
                let tenant = format!("t{tasks}-{round}-{i}");
                let r = run(store, &db.url, &tenant, n, tasks).await;
                eprintln!(
                    "tasks {tasks} round {round} {name}: {:.0} rows/s, p50 {:.2} ms, p99 {:.2} ms, {:.1} rows/transaction, Postgres {:.0} ms CPU per 1,000 rows",
                    r.rate, r.p50_ms, r.p99_ms, r.rows_per_transaction, r.pg_cpu_ms_per_1000
                );
                results[i].push(r);
            }
        }
        for (i, (name, _)) in stores.iter().enumerate() {
            let rs = &results[i];
            let per: Vec<String> = rs.iter().map(|r| format!("{:.0}", r.rate)).collect();
            println!(
                "| {tasks} | {name} | {:.0} | {} | {:.2} / {:.2} | {:.1} | {:.0} |",
                median(rs.iter().map(|r| r.rate).collect()),
                per.join(", "),
                median(rs.iter().map(|r| r.p50_ms).collect()),
                median(rs.iter().map(|r| r.p99_ms).collect()),
                median(rs.iter().map(|r| r.rows_per_transaction).collect()),
                median(rs.iter().map(|r| r.pg_cpu_ms_per_1000).collect()),
            );
        }
    }
}
