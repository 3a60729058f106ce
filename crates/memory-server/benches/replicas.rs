//! Throughput with 1, 2 and 3 replicas on one Postgres, and a standby's replay lag under the
//! ingest load (docs/scale-out.md, docs/benchmarks.md).
//!
//! ```text
//! cargo bench -p memory-server --bench replicas -- [--replicas 1,2,3] [--secs 15]
//!     [--clients 8] [--standby]
//! ```
//!
//! For each replica count: a fresh database on `MEMORY_TEST_DATABASE_URL` (the project's
//! Postgres), that many processes of the real binary (bench build, the real model each), then
//! `--clients` closed-loop clients sending to the replicas round-robin: first single-message
//! ingests (about 25 words each) for `--secs`, then searches (hybrid, default parameters) for
//! `--secs`. Reported: ingests and searches per second, p50/p99 latency of each. With
//! `--standby`, every replica reads from the standby of `scripts/pg.sh standby-up`
//! (`MEMORY_DATABASE_READ_URL`) and the standby's replay lag is sampled every 250 ms during
//! the ingest phase (`scripts/pg.sh standby-lag`, bytes of WAL behind the primary).

#[path = "../tests/support/mod.rs"]
mod support;

use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memory_store_postgres::testkit::{TestDatabase, with_database};
use serde_json::json;

const WORDS: [&str; 24] = [
    "weekend", "hiking", "sister", "Lisbon", "piano", "lessons", "dinner", "recipe", "garden",
    "tomatoes", "marathon", "training", "office", "project", "deadline", "birthday", "party",
    "guitar", "camping", "lake", "novel", "chapter", "museum", "painting",
];

fn text(client: usize, n: usize) -> String {
    (0..25)
        .map(|i| WORDS[(client * 7 + n * 13 + i * 5) % WORDS.len()])
        .collect::<Vec<_>>()
        .join(" ")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs `clients` closed-loop clients for `secs` over `bases`; returns (per second, p50, p99).
async fn drive(bases: &[String], clients: usize, secs: u64, search: bool) -> (f64, f64, f64) {
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let stop = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (bases, latencies) = (bases.to_vec(), latencies.clone());
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut n = 0;
                while Instant::now() < stop {
                    let base = &bases[(c + n) % bases.len()];
                    let t = Instant::now();
                    let ok = if search {
                        client
                            .get(format!("{base}/v1/memory/search"))
                            .query(&[("tenant_id", format!("t{}", c % 4)), ("query", text(c, n))])
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success())
                    } else {
                        let body = json!({"tenant_id": format!("t{}", c % 4),
                            "conversation_id": format!("c{c}"), "role": "user",
                            "content": text(c, n)});
                        client
                            .post(format!("{base}/v1/messages"))
                            .json(&body)
                            .send()
                            .await
                            .is_ok_and(|r| r.status().as_u16() == 202)
                    };
                    if ok {
                        let ms = t.elapsed().as_secs_f64() * 1000.0;
                        latencies.lock().unwrap_or_else(|p| p.into_inner()).push(ms);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut l = latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
    l.sort_by(f64::total_cmp);
    (
        l.len() as f64 / elapsed,
        percentile(&l, 0.5),
        percentile(&l, 0.99),
    )
}

fn standby_lag() -> Option<u64> {
    let out = Command::new("../../scripts/pg.sh")
        .arg("standby-lag")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse::<f64>()
        .ok()
        .map(|v| v.max(0.0) as u64)
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // As the binary does, so that the server in this process is the one users run.
    memory_server::allocator::tune();
    let args: Vec<String> = std::env::args().collect();
    let counts: Vec<usize> = arg(&args, "--replicas")
        .unwrap_or_else(|| "1,2,3".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let secs: u64 = arg(&args, "--secs")
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let clients: usize = arg(&args, "--clients")
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let with_standby = args.iter().any(|a| a == "--standby");
    println!(
        "replicas | ingest/s | ingest p50 ms | ingest p99 ms | search/s | search p50 ms | search p99 ms | standby lag max / median (bytes)"
    );
    println!("---|---|---|---|---|---|---|---");
    for n in counts {
        let db = TestDatabase::create()
            .await
            .expect("database (MEMORY_TEST_DATABASE_URL)");
        let read_url = with_standby.then(|| {
            let standby = std::env::var("MEMORY_TEST_STANDBY_URL")
                .expect("--standby needs MEMORY_TEST_STANDBY_URL (scripts/pg.sh standby-up)");
            with_database(&standby, &db.name)
        });
        let mut env = vec![("MEMORY_LOG_LEVEL", "error".to_owned())];
        if let Some(url) = &read_url {
            env.push(("MEMORY_DATABASE_READ_URL", url.clone()));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut servers = Vec::new();
        for _ in 0..n {
            // One after the other: the first migrates.
            servers.push(support::start(&db.url, support::free_port(), &env).await);
        }
        let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
        let lags = Arc::new(Mutex::new(Vec::new()));
        let sampler = with_standby.then(|| {
            let lags = lags.clone();
            tokio::spawn(async move {
                loop {
                    if let Some(l) = tokio::task::spawn_blocking(standby_lag)
                        .await
                        .ok()
                        .flatten()
                    {
                        lags.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(l as f64);
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            })
        });
        let (ingest, ip50, ip99) = drive(&bases, clients, secs, false).await;
        if let Some(s) = sampler {
            s.abort();
        }
        let (search, sp50, sp99) = drive(&bases, clients, secs, true).await;
        let mut l = lags.lock().unwrap_or_else(|p| p.into_inner()).clone();
        l.sort_by(f64::total_cmp);
        let lag = if l.is_empty() {
            "—".to_owned()
        } else {
            format!("{:.0} / {:.0}", l[l.len() - 1], percentile(&l, 0.5))
        };
        println!(
            "{n} | {ingest:.0} | {ip50:.1} | {ip99:.1} | {search:.0} | {sp50:.1} | {sp99:.1} | {lag}"
        );
        drop(servers);
    }
}
