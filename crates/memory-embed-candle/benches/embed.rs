//! Embedder throughput and latency on real chat turns.
//!
//! ```text
//! cargo bench -p memory-embed-candle --bench embed
//! BENCH_BACKEND=reference cargo bench -p memory-embed-candle --bench embed   # stock BertModel
//! BENCH_BACKEND=both cargo bench -p memory-embed-candle --bench embed        # side by side
//! BENCH_BACKEND=bf16 cargo bench -p memory-embed-candle --bench embed        # bf16 linears
//! BENCH_BACKEND=precisions cargo bench -p memory-embed-candle --bench embed  # f32 and bf16
//! ```
//! Corpus: the `content` field of `../shared/bench-data/locomo-dev/messages.jsonl` beside the
//! repository (override with `BENCH_MESSAGES`), read in place (the data is CC BY-NC: never
//! copy it into the repository). `BENCH_TEXTS` (default 1000) texts are embedded at batch
//! sizes 1, 8, 32 and 64 (`BENCH_BATCHES`), each batch sorted by length as the server does;
//! then single-text latency through the async `CandleEmbedder`; then peak RSS. Threads:
//! `RAYON_NUM_THREADS` (default: all cores).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use memory_core::ports::Embedder;
use memory_embed_candle::{
    Backend, CandleEmbedder, EmbedderConfig, Precision, SentenceEncoder, model_files,
};

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn corpus(limit: usize) -> Vec<String> {
    let path = std::env::var_os("BENCH_MESSAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/bench-data/locomo-dev/messages.jsonl")
        });
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            v.get("content")
                .and_then(|c| c.as_str())
                .map(str::to_string)
        })
        .take(limit)
        .collect()
}

fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else to parse.
    let backends = match std::env::var("BENCH_BACKEND").as_deref() {
        Ok("reference") => vec![Backend::CandleBertModel],
        Ok("both") => vec![Backend::CandleBertModel, Backend::Packed(Precision::F32)],
        Ok("bf16") => vec![Backend::Packed(Precision::Bf16)],
        Ok("precisions") => vec![
            Backend::Packed(Precision::F32),
            Backend::Packed(Precision::Bf16),
        ],
        _ => vec![Backend::Packed(Precision::F32)],
    };
    let n_texts: usize = env_or("BENCH_TEXTS", 1000);
    let batches: Vec<usize> = std::env::var("BENCH_BATCHES")
        .unwrap_or_else(|_| "1,8,32,64".into())
        .split(',')
        .filter_map(|b| b.trim().parse().ok())
        .collect();
    let latency_samples: usize = env_or("BENCH_LATENCY_SAMPLES", 300);

    let config = EmbedderConfig {
        model_path: std::env::var_os("MEMORY_EMBEDDING_MODEL_PATH")
            .filter(|p| !p.is_empty())
            .map(std::path::PathBuf::from),
        cache_dir: Some(model_files::hf_cache_dir(|k| std::env::var_os(k))),
        allow_download: false,
        ..EmbedderConfig::default()
    };
    let files = model_files::resolve(&config).unwrap_or_else(|e| panic!("{e}"));
    let encoders: Vec<SentenceEncoder> = backends
        .iter()
        .map(|&b| {
            SentenceEncoder::from_files_with(&config.model_name, &files, b).expect("model loads")
        })
        .collect();
    let encoder = encoders.last().expect("one backend at least");
    for (backend, e) in backends.iter().zip(&encoders) {
        if let Backend::Packed(asked) = backend {
            assert_eq!(
                e.precision(),
                *asked,
                "this CPU cannot run {asked}: the figures would be f32's"
            );
        }
    }

    let texts = corpus(n_texts);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let tokens: usize = encoder.tokenize(&refs).unwrap().iter().map(Vec::len).sum();
    println!(
        "backends {backends:?}, {} texts, {:.1} tokens/text on average, {} threads",
        texts.len(),
        tokens as f64 / texts.len() as f64,
        rayon::current_num_threads()
    );

    // Warm-up: page in the weights, size the allocator's pools.
    for e in &encoders {
        e.encode(&refs[..64.min(refs.len())], 32).unwrap();
    }

    println!("| backend | batch | sentences/s | ms per batch |");
    println!("|---|---:|---:|---:|");
    for &batch in &batches {
        // Batch 1 is slow and steady: a quarter of the corpus is enough.
        let subset = if batch == 1 {
            &refs[..refs.len().div_ceil(4)]
        } else {
            &refs[..]
        };
        for (backend, e) in backends.iter().zip(&encoders) {
            let start = Instant::now();
            for chunk in subset.chunks(batch) {
                std::hint::black_box(e.encode(chunk, batch).unwrap());
            }
            let secs = start.elapsed().as_secs_f64();
            let per_batch = secs * 1000.0 / subset.len().div_ceil(batch) as f64;
            println!(
                "| {backend:?} | {batch} | {:.1} | {per_batch:.2} |",
                subset.len() as f64 / secs
            );
        }
    }

    // Single-text latency through the async embedder (queue, worker, max_wait included).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let max_wait = config.max_wait;
    let encoder = encoders
        .into_iter()
        .next_back()
        .expect("one backend at least");
    let embedder = CandleEmbedder::from_encoder(encoder, config).unwrap();
    let mut latencies: Vec<Duration> = runtime.block_on(async {
        let mut out = Vec::with_capacity(latency_samples);
        for text in texts.iter().cycle().take(latency_samples) {
            let one = [text.clone()];
            let start = Instant::now();
            std::hint::black_box(embedder.embed(&one).await.unwrap());
            out.push(start.elapsed());
        }
        out
    });
    latencies.sort();
    println!(
        "single-text latency via CandleEmbedder (max_wait {max_wait:?}): p50 {:.2} ms, p99 {:.2} ms",
        percentile(&latencies, 0.50).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0
    );
    println!("peak RSS: {:.0} MiB", peak_rss_mib());
}
