//! Embedder configuration, with defaults and an environment reader.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{EmbedError, Result};

/// The model used when none is configured.
pub const DEFAULT_MODEL_NAME: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// How the embedder finds its model and schedules its work.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedderConfig {
    /// Hugging Face model id of a BERT sentence-transformers model
    /// (env `MEMORY_EMBEDDING_MODEL_NAME`).
    pub model_name: String,
    /// A local directory with `config.json`, `tokenizer.json` and `model.safetensors`;
    /// when set, it is the only place looked at (env `MEMORY_EMBEDDING_MODEL_PATH`).
    pub model_path: Option<PathBuf>,
    /// Most texts in one forward pass (env `MEMORY_EMBEDDING_MAX_BATCH_SIZE`).
    pub max_batch_size: usize,
    /// Most texts waiting for the worker; beyond it `embed` fails with `Overloaded` at once
    /// (env `MEMORY_EMBEDDING_QUEUE_CAPACITY`).
    pub queue_capacity: usize,
    /// Most work queued ahead of a new call, estimated from the worker's recent speed; beyond
    /// it `embed` fails with `Overloaded` at once rather than wait longer than its caller will
    /// (env `MEMORY_EMBEDDING_MAX_QUEUE_WAIT_MS`; 0: only `queue_capacity` bounds the queue).
    /// A call that finds the queue empty is always admitted.
    pub max_queue_wait: Duration,
    /// How long the worker waits for more requests to fill a batch once it has one
    /// (env `MEMORY_EMBEDDING_MAX_WAIT_MS`).
    pub max_wait: Duration,
    /// Threads for the forward pass; 0 means one per available core
    /// (env `MEMORY_EMBEDDING_THREADS`).
    pub threads: usize,
    /// Whether to download from the hub as a last resort (needs the `hub-download` feature
    /// and network; env `MEMORY_EMBEDDING_ALLOW_DOWNLOAD`, `true`/`false`).
    pub allow_download: bool,
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        Self {
            model_name: DEFAULT_MODEL_NAME.to_string(),
            model_path: None,
            max_batch_size: 32,
            queue_capacity: 1024,
            max_queue_wait: Duration::from_millis(2000),
            max_wait: Duration::from_millis(2),
            threads: 0,
            allow_download: true,
        }
    }
}

impl EmbedderConfig {
    /// The defaults, overridden by whichever `MEMORY_EMBEDDING_*` variables are set.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    /// Like [`EmbedderConfig::from_env`], reading variables through `get` (for tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut c = Self::default();
        let get = |key: &str| {
            get(key)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        if let Some(v) = get("MEMORY_EMBEDDING_MODEL_NAME") {
            c.model_name = v;
        }
        if let Some(v) = get("MEMORY_EMBEDDING_MODEL_PATH") {
            c.model_path = Some(PathBuf::from(v));
        }
        if let Some(v) = get("MEMORY_EMBEDDING_MAX_BATCH_SIZE") {
            c.max_batch_size = parse("MEMORY_EMBEDDING_MAX_BATCH_SIZE", &v)?;
        }
        if let Some(v) = get("MEMORY_EMBEDDING_QUEUE_CAPACITY") {
            c.queue_capacity = parse("MEMORY_EMBEDDING_QUEUE_CAPACITY", &v)?;
        }
        if let Some(v) = get("MEMORY_EMBEDDING_MAX_QUEUE_WAIT_MS") {
            c.max_queue_wait =
                Duration::from_millis(parse("MEMORY_EMBEDDING_MAX_QUEUE_WAIT_MS", &v)?);
        }
        if let Some(v) = get("MEMORY_EMBEDDING_MAX_WAIT_MS") {
            c.max_wait = Duration::from_millis(parse("MEMORY_EMBEDDING_MAX_WAIT_MS", &v)?);
        }
        if let Some(v) = get("MEMORY_EMBEDDING_THREADS") {
            c.threads = parse("MEMORY_EMBEDDING_THREADS", &v)?;
        }
        if let Some(v) = get("MEMORY_EMBEDDING_ALLOW_DOWNLOAD") {
            c.allow_download = parse("MEMORY_EMBEDDING_ALLOW_DOWNLOAD", &v)?;
        }
        c.validate()?;
        Ok(c)
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

fn parse<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .parse()
        .map_err(|_| EmbedError::Config(format!("{key}: cannot parse `{value}`")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_defaults() {
        let c = EmbedderConfig::from_lookup(|k| match k {
            "MEMORY_EMBEDDING_MAX_BATCH_SIZE" => Some("64".into()),
            "MEMORY_EMBEDDING_MAX_WAIT_MS" => Some("5".into()),
            "MEMORY_EMBEDDING_MAX_QUEUE_WAIT_MS" => Some("750".into()),
            "MEMORY_EMBEDDING_MODEL_PATH" => Some("/models/minilm".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.max_batch_size, 64);
        assert_eq!(c.max_wait, Duration::from_millis(5));
        assert_eq!(c.max_queue_wait, Duration::from_millis(750));
        assert_eq!(c.model_path, Some(PathBuf::from("/models/minilm")));
        assert_eq!(c.model_name, DEFAULT_MODEL_NAME);
    }

    #[test]
    fn rejects_bad_values() {
        let err = EmbedderConfig::from_lookup(|k| {
            (k == "MEMORY_EMBEDDING_MAX_BATCH_SIZE").then(|| "0".into())
        });
        assert!(matches!(err, Err(EmbedError::Config(_))));
        let err = EmbedderConfig::from_lookup(|k| {
            (k == "MEMORY_EMBEDDING_THREADS").then(|| "many".into())
        });
        assert!(matches!(err, Err(EmbedError::Config(_))));
    }
}
