//! Helpers shared by the model tests: they run on the real model, provisioned by
//! `scripts/fetch-model.sh` (the project's test command runs it first).
#![allow(dead_code)]

use std::path::PathBuf;

use memory_embed_candle::{Backend, EmbedderConfig, Precision, SentenceEncoder, model_files};

/// The test configuration: the model in `MEMORY_EMBEDDING_MODEL_PATH` or the Hugging Face
/// cache the environment names, never a network download; exact f32, which the golden
/// vectors check to 1e-5 (bf16, the default, has its own test).
pub fn config() -> EmbedderConfig {
    EmbedderConfig {
        precision: Precision::F32,
        model_path: std::env::var_os("MEMORY_EMBEDDING_MODEL_PATH")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from),
        cache_dir: Some(model_files::hf_cache_dir(|k| std::env::var_os(k))),
        allow_download: false,
        ..EmbedderConfig::default()
    }
}

/// The model in f32, or a panic that says how to provision it.
pub fn encoder() -> SentenceEncoder {
    encoder_with(Precision::F32)
}

/// The model with its linear layers in `precision` (bf16 falls back to f32 on a CPU without
/// AVX-512 BF16: check [`SentenceEncoder::precision`]).
pub fn encoder_with(precision: Precision) -> SentenceEncoder {
    SentenceEncoder::load(&EmbedderConfig {
        precision,
        ..config()
    })
    .unwrap_or_else(|e| {
        panic!("the model tests need the model files; run `scripts/fetch-model.sh` first.\n{e}")
    })
}

/// The model on candle's stock `BertModel` (the straightforward, padded implementation).
pub fn reference_encoder() -> SentenceEncoder {
    let config = config();
    let files = model_files::resolve(&config).unwrap_or_else(|e| {
        panic!("the model tests need the model files; run `scripts/fetch-model.sh` first.\n{e}")
    });
    SentenceEncoder::from_files_with(&config.model_name, &files, Backend::CandleBertModel).unwrap()
}

/// One reference text with its sentence-transformers embedding.
#[derive(serde::Deserialize)]
pub struct Golden {
    pub text: String,
    pub embedding: Vec<f32>,
}

/// `../shared/golden/minilm-golden.jsonl` beside the repository, or `$MEMORY_GOLDEN_PATH`.
pub fn golden() -> Vec<Golden> {
    let path = std::env::var_os("MEMORY_GOLDEN_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/golden/minilm-golden.jsonl")
        });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read the golden file {} (set MEMORY_GOLDEN_PATH): {e}",
            path.display()
        )
    });
    let rows: Vec<Golden> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a golden line is {text, embedding}"))
        .collect();
    assert!(!rows.is_empty(), "no golden rows in {}", path.display());
    rows
}

/// Cosine similarity in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Largest absolute difference between components.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "dimension mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Asserts each vector matches its reference: cosine >= 0.99999, max abs diff <= 1e-5.
/// Returns the worst (cosine, max abs diff) seen.
pub fn assert_matches_golden(golden: &[Golden], got: &[Vec<f32>]) -> (f64, f32) {
    assert_eq!(golden.len(), got.len(), "one embedding per text");
    let (mut worst_cos, mut worst_diff) = (1.0f64, 0.0f32);
    for (g, v) in golden.iter().zip(got) {
        let cos = cosine(&g.embedding, v);
        let diff = max_abs_diff(&g.embedding, v);
        assert!(
            cos >= 0.99999 && diff <= 1e-5,
            "text {:?}: cosine {cos}, max abs diff {diff}",
            g.text.chars().take(60).collect::<String>()
        );
        worst_cos = worst_cos.min(cos);
        worst_diff = worst_diff.max(diff);
    }
    (worst_cos, worst_diff)
}
