//! The crate's error type.

use std::path::PathBuf;

use memory_core::error::EmbedderError;

/// What building or running the embedder can fail with.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model files were found nowhere; the message lists every place looked at.
    #[error(
        "model `{model}` not found; looked in: {}. Provision it with `scripts/fetch-model.sh` \
         (or `just fetch-model`), or set MEMORY_EMBEDDING_MODEL_PATH to a directory holding \
         config.json, tokenizer.json and model.safetensors",
        looked.join("; ")
    )]
    ModelNotFound {
        /// The model name asked for.
        model: String,
        /// Every place looked at, with why it did not do.
        looked: Vec<String>,
    },
    /// A model file exists but could not be read or parsed.
    #[error("cannot load {}: {reason}", path.display())]
    ModelFile {
        /// The offending file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The model is not one this crate runs (not BERT, not mean pooling, ...).
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// A configuration value is invalid.
    #[error("invalid embedder configuration: {0}")]
    Config(String),
    /// Tokenisation failed.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// The forward pass failed.
    #[error("inference: {0}")]
    Inference(#[from] candle_core::Error),
    /// The worker thread could not be started or has stopped.
    #[error("embedder worker: {0}")]
    Worker(String),
}

impl From<EmbedError> for EmbedderError {
    fn from(e: EmbedError) -> Self {
        match e {
            EmbedError::Worker(_) => EmbedderError::unavailable_from("embedder worker", e),
            other => EmbedderError::failed_from("embedding", other),
        }
    }
}

/// The crate's result type.
pub type Result<T, E = EmbedError> = std::result::Result<T, E>;
