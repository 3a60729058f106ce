//! Search latency and insert throughput of the SQLite store, on synthetic data.
//!
//! ```text
//! cargo bench -p memory-store-sqlite --bench search
//! BENCH_SIZES=10000 BENCH_QUERIES=500 cargo bench -p memory-store-sqlite --bench search
//! ```
//!
//! For each size: loads that many random unit 384-dim vectors into one tenant (batches of
//! 5,000 in one transaction each), then measures `search_candidates` with `limit = 200` (the
//! service's default candidate limit): the first search (which loads the tenant's vectors),
//! warm searches over the whole tenant, within one conversation, with `importance_min`, under
//! two concurrent searchers, and with the in-memory index disabled (a scan from disk).

use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, Utc};
use memory_core::domain::{
    Content, ConversationId, Embedding, EmbeddingStatus, Importance, Message, MessageId, Metadata,
    Role, TenantId,
};
use memory_core::ports::{CandidateQuery, MessageRecord, MessageStore, VectorSearch};
use memory_store_sqlite::{SqliteStore, SqliteStoreOptions};

const DIM: usize = 384;
const LIMIT: usize = 200;
const BATCH: usize = 5_000;
const CONVERSATIONS: usize = 100;

/// xorshift64*: reproducible, dependency-free.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A random unit vector (roughly Gaussian components).
    fn vector(&mut self) -> Embedding {
        let mut v: Vec<f32> = (0..DIM)
            .map(|_| (0..4).map(|_| self.unit()).sum::<f32>() - 2.0)
            .collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= norm);
        Embedding::new(v, DIM).expect("valid embedding")
    }
}

fn message(rng: &mut Rng, i: usize) -> Message {
    let now = Utc::now();
    let at = now - ChronoDuration::seconds(i as i64);
    let mut metadata = serde_json::Map::new();
    metadata.insert("source".into(), "bench".into());
    Message {
        id: MessageId::new(),
        tenant_id: TenantId::parse("bench").expect("valid"),
        conversation_id: ConversationId::parse(format!("conv-{}", i % CONVERSATIONS))
            .expect("valid"),
        role: if i.is_multiple_of(2) {
            Role::User
        } else {
            Role::Assistant
        },
        content: Content::parse(format!(
            "synthetic message {i}: a sentence or two of chat text, about as long as a real \
             one, so rows are realistically sized"
        ))
        .expect("valid"),
        metadata: Metadata::from_map(metadata).expect("valid"),
        importance_score: Importance::saturating(f64::from(rng.unit())),
        importance_override: None,
        embedding: Some(rng.vector()),
        embedding_status: EmbeddingStatus::Completed,
        archived: false,
        created_at: at,
        updated_at: at,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

struct Stats {
    label: String,
    n: usize,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

async fn measure(
    store: &SqliteStore,
    label: &str,
    queries: &[CandidateQuery],
    rounds: usize,
) -> Stats {
    let mut times = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let q = &queries[i % queries.len()];
        let t = Instant::now();
        let got = store.search_candidates(q).await.expect("search");
        times.push(t.elapsed());
        assert!(!got.is_empty());
    }
    times.sort();
    Stats {
        label: label.to_owned(),
        n: rounds,
        p50: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        max: *times.last().expect("some"),
    }
}

fn env_usize(name: &str, default: &str) -> Vec<usize> {
    std::env::var(name)
        .unwrap_or_else(|_| default.to_owned())
        .split(',')
        .map(|s| s.trim().parse().expect("a number"))
        .collect()
}

async fn bench_size(size: usize, rounds: usize) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = SqliteStore::open(&url, DIM).expect("open");
    let mut rng = Rng(0x5EED ^ size as u64);

    // Batched load.
    let t = Instant::now();
    let mut i = 0;
    while i < size {
        let batch: Vec<MessageRecord> = (i..(i + BATCH).min(size))
            .map(|j| MessageRecord::new(message(&mut rng, j)))
            .collect();
        store.insert_many(&batch).await.expect("insert batch");
        i += batch.len();
    }
    let load = t.elapsed();

    // Single inserts (one transaction each), serial, into another tenant.
    let singles = 1_000;
    let extra: Vec<MessageRecord> = (0..singles)
        .map(|j| {
            let mut m = message(&mut rng, j);
            m.tenant_id = TenantId::parse("bench-singles").expect("valid");
            MessageRecord::new(m)
        })
        .collect();
    let t = Instant::now();
    for m in &extra {
        store.insert(m).await.expect("insert");
    }
    let single = t.elapsed();

    let file_mb = std::fs::metadata(dir.path().join("bench.db"))
        .map(|m| m.len())
        .unwrap_or(0) as f64
        / 1e6;
    println!(
        "\n### {size} messages, one tenant, {DIM} dimensions (database file {file_mb:.0} MB)\n"
    );
    println!(
        "- batched insert ({BATCH} per transaction): {:.0} messages/s ({:.2} s)",
        size as f64 / load.as_secs_f64(),
        load.as_secs_f64()
    );
    println!(
        "- single inserts (one transaction each, serial): {:.0} messages/s",
        singles as f64 / single.as_secs_f64()
    );

    let tenant = TenantId::parse("bench").expect("valid");
    let queries: Vec<CandidateQuery> = (0..64)
        .map(|_| CandidateQuery {
            tenant_id: tenant.clone(),
            conversation_id: None,
            importance_min: None,
            embedding: rng.vector(),
            limit: LIMIT,
            filters: Default::default(),
        })
        .collect();

    let t = Instant::now();
    store.search_candidates(&queries[0]).await.expect("first");
    let cold = t.elapsed();
    println!(
        "- first search (loads the tenant's vectors into memory): {} ms; index holds {:.0} MB",
        ms(cold),
        store.vector_cache_bytes() as f64 / 1e6
    );

    let mut rows = Vec::new();
    rows.push(measure(&store, "whole tenant, limit 200", &queries, rounds).await);
    let conv: Vec<CandidateQuery> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| CandidateQuery {
            conversation_id: Some(
                ConversationId::parse(format!("conv-{}", i % CONVERSATIONS)).expect("valid"),
            ),
            limit: 20,
            ..q.clone()
        })
        .collect();
    rows.push(measure(&store, "one conversation, limit 20", &conv, rounds).await);
    let imp: Vec<CandidateQuery> = queries
        .iter()
        .map(|q| CandidateQuery {
            importance_min: Some(Importance::saturating(0.5)),
            ..q.clone()
        })
        .collect();
    rows.push(measure(&store, "importance_min 0.5, limit 200", &imp, rounds).await);

    // One thread per search (the default splits a large tenant across the cores).
    let single_thread =
        SqliteStore::open_with(&url, SqliteStoreOptions::new(DIM).search_threads(1))
            .expect("open single-threaded");
    single_thread
        .search_candidates(&queries[0])
        .await
        .expect("load");
    rows.push(
        measure(
            &single_thread,
            "whole tenant, limit 200, 1 thread per search",
            &queries,
            rounds,
        )
        .await,
    );
    drop(single_thread);

    // Two concurrent searchers (2 cores here).
    let t = Instant::now();
    let (a, b) = tokio::join!(
        measure(&store, "2 concurrent searchers", &queries, rounds / 2),
        measure(&store, "2 concurrent searchers", &queries[32..], rounds / 2)
    );
    let both = t.elapsed();
    let mut merged = Stats {
        label: format!(
            "2 concurrent searchers ({:.0} searches/s)",
            (2 * (rounds / 2)) as f64 / both.as_secs_f64()
        ),
        ..a
    };
    merged.p50 = merged.p50.max(b.p50);
    merged.p99 = merged.p99.max(b.p99);
    merged.max = merged.max.max(b.max);
    merged.n *= 2;
    rows.push(merged);

    // The same file, no in-memory index: every search scans the table.
    let scan_store =
        SqliteStore::open_with(&url, SqliteStoreOptions::new(DIM).vector_cache_bytes(0))
            .expect("open without index");
    for q in queries.iter().take(3) {
        let a: Vec<MessageId> = store
            .search_candidates(q)
            .await
            .expect("indexed")
            .into_iter()
            .map(|c| c.message.id)
            .collect();
        let b: Vec<MessageId> = scan_store
            .search_candidates(q)
            .await
            .expect("scan")
            .into_iter()
            .map(|c| c.message.id)
            .collect();
        assert_eq!(a, b, "the index and the disk scan agree");
    }
    let scan_rounds = (rounds / 10).clamp(10, 50);
    rows.push(
        measure(
            &scan_store,
            "no in-memory index (scan from disk), limit 200",
            &queries,
            scan_rounds,
        )
        .await,
    );

    println!("\n| search | runs | p50 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} |",
            r.label,
            r.n,
            ms(r.p50),
            ms(r.p99),
            ms(r.max)
        );
    }
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let sizes = env_usize("BENCH_SIZES", "10000,100000");
    let rounds = env_usize("BENCH_QUERIES", "300")[0];
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for size in sizes {
            bench_size(size, rounds).await;
        }
    });
}
