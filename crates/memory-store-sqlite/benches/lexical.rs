//! Lexical search latency of the SQLite store, on synthetic chat text.
//!
//! ```text
//! cargo bench -p memory-store-sqlite --bench lexical
//! BENCH_SIZE=100000 BENCH_QUERIES=300 BENCH_LIMIT=1000 cargo bench -p memory-store-sqlite --bench lexical
//! BENCH_DIR=/tmp/store300k BENCH_SIZE=300000 BENCH_QUERIES=20 cargo bench ...   # keeps the store
//! ```
//!
//! Loads `BENCH_SIZE` messages (default 100k) into one tenant, in conversations of 700, each
//! 8-30 words drawn from a Zipf-distributed vocabulary of 5,000 words (so some words are in
//! most messages, most in few). Then measures `lexical_candidates` with `limit = 200`
//! (`BENCH_LIMIT`) and 3-word queries: within one conversation, over the whole tenant, over
//! the tenant with `importance_min`, and over the newest 30% of the tenant (a time range).
//! Each query runs on the same file twice, alternating which goes first:
//! through the in-memory lexical index (the default) and through FTS5 alone
//! (`lexical_cache_bytes(0)`); the bench checks that both return the same ranking. Last,
//! whole-tenant hybrid searches through `MemoryService` (a constant embedder for the query, so
//! its embedding costs nothing) on each store in turn.

use std::time::{Duration, Instant};

use chrono::{Duration as ChronoDuration, Utc};
use std::sync::Arc;

use memory_core::access::TenantAccess;
use memory_core::domain::{
    Content, ConversationId, Embedding, EmbeddingStatus, Importance, Message, MessageId, Metadata,
    Role, SearchMode, SearchQuery, TenantId,
};
use memory_core::ports::StorePorts;
use memory_core::ports::{LexicalQuery, LexicalSearch, MessageRecord};
use memory_core::service::{MemoryService, ServiceConfig};
use memory_core::testkit::ConstantEmbedder;
use memory_core::text::{Analyzer, Bm25};
use memory_store_sqlite::{SqliteStore, SqliteStoreOptions};

const DIM: usize = 384;
const CONVERSATION: usize = 700;
const VOCABULARY: usize = 5_000;

struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A word rank with probability roughly proportional to 1 / rank.
    fn zipf(&mut self) -> usize {
        let r = (VOCABULARY as f64).powf(self.unit());
        (r as usize).clamp(1, VOCABULARY) - 1
    }
}

/// A pronounceable, stopword-free word for each rank.
fn word(rank: usize) -> String {
    const SYLLABLES: [&str; 16] = [
        "ka", "lo", "mi", "ter", "su", "van", "dro", "pel", "qui", "zor", "bex", "nal", "fio",
        "gru", "hes", "jup",
    ];
    let mut w = String::from("w");
    let mut r = rank + 1;
    while r > 0 {
        w.push_str(SYLLABLES[r % 16]);
        r /= 16;
    }
    w
}

/// A random direction: enough for timing the vector side (which scans every vector anyway).
fn random_unit(rng: &mut Rng) -> Embedding {
    let mut v: Vec<f32> = (0..DIM).map(|_| rng.unit() as f32 - 0.5).collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= norm);
    Embedding::new(v, DIM).expect("valid")
}

fn message(rng: &mut Rng, i: usize) -> Message {
    let at = Utc::now() - ChronoDuration::seconds(i as i64);
    let words = 8 + (rng.next_u64() % 23) as usize;
    let text: Vec<String> = (0..words).map(|_| word(rng.zipf())).collect();
    Message {
        id: MessageId::new(),
        tenant_id: TenantId::parse("bench").expect("valid"),
        conversation_id: ConversationId::parse(format!("conv-{}", i / CONVERSATION))
            .expect("valid"),
        role: Role::User,
        content: Content::parse(text.join(" ")).expect("valid"),
        metadata: Metadata::default(),
        importance_score: Importance::saturating(rng.unit()),
        importance_override: None,
        embedding: Some(random_unit(rng)),
        embedding_status: EmbeddingStatus::Completed,
        archived: false,
        created_at: at,
        updated_at: at,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn summary(label: &str, mut times: Vec<Duration>, docs: usize) {
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    println!(
        "{label:<52} p50 {:>7} ms  p99 {:>7} ms  max {:>7} ms  ({:.0} docs/query)",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(at(1.0)),
        docs as f64 / times.len() as f64
    );
}

/// Runs every query on both stores, alternating which goes first, checks that they agree,
/// and prints each one's latencies.
async fn measure(stores: &[(&str, &SqliteStore); 2], label: &str, queries: &[LexicalQuery]) {
    let mut times = [Vec::new(), Vec::new()];
    let mut docs = 0;
    for (i, q) in queries.iter().enumerate() {
        let mut ids = [Vec::new(), Vec::new()];
        for k in [i % 2, 1 - i % 2] {
            let t = Instant::now();
            let got = stores[k].1.lexical_candidates(q).await.expect("lexical");
            times[k].push(t.elapsed());
            ids[k] = got
                .documents
                .iter()
                .map(|d| d.message.id)
                .collect::<Vec<_>>();
        }
        assert_eq!(ids[0], ids[1], "both paths rank alike");
        docs += ids[0].len();
    }
    for (k, t) in times.into_iter().enumerate() {
        summary(&format!("{label}: {}", stores[k].0), t, docs);
    }
}

fn main() {
    let size: usize = std::env::var("BENCH_SIZE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let limit: usize = std::env::var("BENCH_LIMIT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let rounds: usize = std::env::var("BENCH_QUERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // BENCH_DIR keeps the store (as `memory.db`, the server's file name) for the memory
        // measurement in docs/benchmarks.md; otherwise it lives in a temporary directory.
        let kept = std::env::var("BENCH_DIR").ok().filter(|d| !d.is_empty());
        let dir = tempfile::tempdir().expect("temp dir");
        let path = match &kept {
            Some(d) => {
                std::fs::create_dir_all(d).expect("BENCH_DIR");
                let path = std::path::Path::new(d).join("memory.db");
                assert!(!path.exists(), "BENCH_DIR must not hold a memory.db yet");
                path
            }
            None => dir.path().join("lexical.db"),
        };
        let store = SqliteStore::open(path.to_str().expect("utf-8"), DIM).expect("open");
        // The same file without the in-memory lexical index: FTS5 lists every match.
        let fts = SqliteStore::open_with(
            path.to_str().expect("utf-8"),
            SqliteStoreOptions::new(DIM).lexical_cache_bytes(0),
        )
        .expect("open");
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let started = Instant::now();
        let mut batch = Vec::with_capacity(5_000);
        for i in 0..size {
            batch.push(MessageRecord::new(message(&mut rng, i)));
            if batch.len() == 5_000 || i + 1 == size {
                store.insert_many(&batch).await.expect("insert");
                batch.clear();
            }
        }
        let load = started.elapsed();
        println!(
            "{size} messages loaded in {:.1} s ({:.0}/s)",
            load.as_secs_f64(),
            size as f64 / load.as_secs_f64()
        );
        let analyzer = Analyzer::english();
        let conversations = size.div_ceil(CONVERSATION);
        let queries: Vec<LexicalQuery> = (0..rounds)
            .map(|i| {
                let text: Vec<String> = (0..3).map(|_| word(rng.zipf())).collect();
                LexicalQuery {
                    tenant_id: TenantId::parse("bench").expect("valid"),
                    conversation_id: Some(
                        ConversationId::parse(format!("conv-{}", i % conversations))
                            .expect("valid"),
                    ),
                    importance_min: None,
                    terms: analyzer.query_terms(&text.join(" ")),
                    bm25: Bm25::default(),
                    limit,
                    filters: Default::default(),
                }
            })
            .collect();
        let first = Instant::now();
        store
            .lexical_candidates(&queries[0])
            .await
            .expect("lexical");
        println!(
            "first search, loading the tenant's lexical index: {} ms ({:.1} MB held)",
            ms(first.elapsed()),
            store.lexical_cache_bytes() as f64 / 1e6
        );
        let stores = [("index", &store), ("fts5", &fts)];
        measure(&stores, "conversation (700 messages)", &queries).await;
        let tenant: Vec<LexicalQuery> = queries
            .iter()
            .map(|q| LexicalQuery {
                conversation_id: None,
                ..q.clone()
            })
            .collect();
        measure(&stores, &format!("tenant ({size} messages)"), &tenant).await;
        let rare: Vec<LexicalQuery> = tenant
            .iter()
            .map(|q| LexicalQuery {
                terms: vec![analyzer.index_text(&word(VOCABULARY - 1 - q.terms.len()))],
                ..q.clone()
            })
            .collect();
        measure(&stores, "tenant, one rare term", &rare).await;
        let important: Vec<LexicalQuery> = tenant
            .iter()
            .map(|q| LexicalQuery {
                importance_min: Some(Importance::saturating(0.5)),
                ..q.clone()
            })
            .collect();
        measure(&stores, "tenant, importance_min 0.5", &important).await;
        let conv_important: Vec<LexicalQuery> = queries
            .iter()
            .map(|q| LexicalQuery {
                importance_min: Some(Importance::saturating(0.5)),
                ..q.clone()
            })
            .collect();
        measure(&stores, "conversation, importance_min 0.5", &conv_important).await;
        // The newest 30% of the tenant (a search's time range: `created_after`).
        let recent = Utc::now() - ChronoDuration::seconds((size as i64) * 3 / 10);
        let newest: Vec<LexicalQuery> = tenant
            .iter()
            .map(|q| {
                let mut q = q.clone();
                q.filters.created_after = Some(recent);
                q
            })
            .collect();
        measure(&stores, "tenant, created_after (newest 30%)", &newest).await;

        // Whole-tenant hybrid search through the service (vector candidates, lexical
        // matches, fusion, ranking), with a constant embedder so the query's embedding costs
        // nothing: what issue 17 asks of the store at 100k messages.
        let runs = [
            ("index", &store, SearchMode::Vector),
            ("index", &store, SearchMode::Lexical),
            ("index", &store, SearchMode::Hybrid),
            ("fts5", &fts, SearchMode::Hybrid),
        ];
        for (label, s, mode) in runs {
            s.preload_vectors().await.expect("preload");
            let service = MemoryService::new(
                StorePorts::full(Arc::new(s.clone())),
                Arc::new(ConstantEmbedder::new(DIM)),
                ServiceConfig::default(),
            )
            .expect("service");
            let mut times = Vec::with_capacity(tenant.len());
            let mut items = 0;
            for q in &tenant {
                let text = q.terms.join(" ");
                let query = SearchQuery::parse("bench", &text, None, Some(10), None, None)
                    .expect("valid")
                    .with_mode(mode);
                let t = Instant::now();
                let found = service
                    .search(query, &TenantAccess::All)
                    .await
                    .expect("search");
                times.push(t.elapsed());
                items += found.items.len();
            }
            summary(
                &format!("{} search, whole tenant, top 10: {label}", mode.as_str()),
                times,
                items,
            );
        }
    });
}
