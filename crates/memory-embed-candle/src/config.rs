//! Embedder configuration, with defaults. The crate reads no environment variable: the
//! binary (memory-server) maps its `MEMORY_EMBEDDING_*` settings onto this struct.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{EmbedError, Result};

/// The model used when none is configured.
pub const DEFAULT_MODEL_NAME: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The arithmetic of the model's linear layers (about 80% of its work).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Precision {
    /// f32 throughout: the same vectors as sentence-transformers on PyTorch (golden test).
    F32,
    /// The default. Linear layers on bfloat16 inputs with f32 sums (AVX-512 BF16; other CPUs
    /// fall back to f32): 1.6x f32's throughput on 2 cores, within a cosine of 1e-4 of the
    /// f32 vectors (golden test), the same retrieval quality (docs/benchmarks.md).
    #[default]
    Bf16,
}

impl Precision {
    /// The setting's spelling: `f32` or `bf16`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Precision {
    type Err = EmbedError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" => Ok(Self::F32),
            "bf16" => Ok(Self::Bf16),
            other => Err(EmbedError::Config(format!(
                "unknown precision {other:?}: expected f32 or bf16"
            ))),
        }
    }
}

/// How the embedder finds its model and schedules its work.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedderConfig {
    /// Hugging Face model id of a BERT sentence-transformers model
    /// (memory-server: `MEMORY_EMBEDDING_MODEL_NAME`).
    pub model_name: String,
    /// A local directory with `config.json`, `tokenizer.json` and `model.safetensors`;
    /// when set, it is the only place looked at (`MEMORY_EMBEDDING_MODEL_PATH`).
    pub model_path: Option<PathBuf>,
    /// The Hugging Face hub cache to look in (and download into), e.g. the one
    /// [`crate::model_files::hf_cache_dir`] finds from `HF_HUB_CACHE`/`HF_HOME`/`HOME`;
    /// `None`: no cache, only `model_path`.
    pub cache_dir: Option<PathBuf>,
    /// Most texts in one forward pass (`MEMORY_EMBEDDING_MAX_BATCH_SIZE`).
    pub max_batch_size: usize,
    /// Most bytes of text in one forward pass (a longer text is a pass of its own); half of it
    /// while searches arrive (a query in the last second: see
    /// [`crate::lanes::pass_budget_now`]) (`MEMORY_EMBEDDING_MAX_PASS_BYTES`).
    pub max_pass_bytes: usize,
    /// Most texts waiting for the worker; beyond it `embed` fails with `Overloaded` at once
    /// (`MEMORY_EMBEDDING_QUEUE_CAPACITY`).
    pub queue_capacity: usize,
    /// Most work queued ahead of a new call, estimated from the worker's recent speed; beyond
    /// it `embed` fails with `Overloaded` at once rather than wait longer than its caller will
    /// (`MEMORY_EMBEDDING_MAX_QUEUE_WAIT_MS`; 0: only `queue_capacity` bounds the queue).
    /// A call that finds the queue empty is always admitted.
    pub max_queue_wait: Duration,
    /// The same bound for ingest, lower: under saturation a write stops waiting for the
    /// model early and is stored `pending` (the catch-up worker embeds it later), so ingest
    /// latency stays bounded while queries keep the model (`MEMORY_EMBEDDING_MAX_INGEST_WAIT_MS`;
    /// 0: only `queue_capacity` bounds it).
    pub max_ingest_wait: Duration,
    /// How long the worker waits for more requests to fill a batch once it has one
    /// (`MEMORY_EMBEDDING_MAX_WAIT_MS`).
    pub max_wait: Duration,
    /// Threads for the forward pass; 0 means one per available core
    /// (`MEMORY_EMBEDDING_THREADS`).
    pub threads: usize,
    /// Whether to download from the hub as a last resort (needs the `hub-download` feature
    /// and network; `MEMORY_EMBEDDING_ALLOW_DOWNLOAD`, `true`/`false`).
    pub allow_download: bool,
    /// The arithmetic of the linear layers (`MEMORY_EMBEDDING_PRECISION`, `bf16` (the
    /// default) or `f32`).
    pub precision: Precision,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        Self {
            model_name: DEFAULT_MODEL_NAME.to_string(),
            model_path: None,
            cache_dir: None,
            max_batch_size: 32,
            max_pass_bytes: 4096,
            queue_capacity: 1024,
            max_queue_wait: Duration::from_millis(2000),
            max_ingest_wait: Duration::from_millis(300),
            max_wait: Duration::from_millis(2),
            threads: 0,
            allow_download: true,
            precision: Precision::Bf16,
        }
    }
}

impl EmbedderConfig {
    /// What one forward pass may take.
    pub fn pass_budget(&self) -> crate::lanes::Cost {
        crate::lanes::Cost {
            texts: self.max_batch_size,
            bytes: self.max_pass_bytes.max(1),
        }
    }

    /// Checks the values are usable.
    pub fn validate(&self) -> Result<()> {
        if self.model_name.trim().is_empty() {
            return Err(EmbedError::Config("model_name must not be empty".into()));
        }
        if self.max_batch_size == 0 {
            return Err(EmbedError::Config(
                "max_batch_size must be at least 1".into(),
            ));
        }
        if self.queue_capacity == 0 {
            return Err(EmbedError::Config(
                "queue_capacity must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The number of threads the forward pass uses.
    pub fn effective_threads(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_not() {
        assert!(EmbedderConfig::default().validate().is_ok());
        let zero = EmbedderConfig {
            max_batch_size: 0,
            ..EmbedderConfig::default()
        };
        assert!(matches!(zero.validate(), Err(EmbedError::Config(_))));
        let no_queue = EmbedderConfig {
            queue_capacity: 0,
            ..EmbedderConfig::default()
        };
        assert!(matches!(no_queue.validate(), Err(EmbedError::Config(_))));
    }

    #[test]
    fn precision_parses_its_spellings_and_rejects_others() {
        assert_eq!("f32".parse::<Precision>().unwrap(), Precision::F32);
        assert_eq!("FP32".parse::<Precision>().unwrap(), Precision::F32);
        assert_eq!(" bf16 ".parse::<Precision>().unwrap(), Precision::Bf16);
        for p in [Precision::F32, Precision::Bf16] {
            assert_eq!(p.to_string().parse::<Precision>().unwrap(), p);
        }
        let err = "int8".parse::<Precision>().unwrap_err();
        assert!(err.to_string().contains("int8"), "{err}");
    }
}
