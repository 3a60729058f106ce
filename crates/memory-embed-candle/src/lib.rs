//! Embedder adapter: sentence-transformers BERT models (by default
//! `sentence-transformers/all-MiniLM-L6-v2`, 384 dimensions) on candle, producing the same
//! vectors as sentence-transformers on PyTorch.
//!
//! Layout:
//! - [`config`]: [`EmbedderConfig`] and its defaults (the binary maps its settings onto it:
//!   this crate reads no environment variable).
//! - [`model_files`]: where the model comes from (explicit directory, HF cache, hub).
//! - [`embedder`]: [`CandleEmbedder`], the async `Embedder` with its worker and micro-batching.
//! - [`lanes`]: its queue, in priority order (queries, then ingest per tenant in turn, then
//!   the catch-up backlog), and the pass budget of the moment.
//! - [`encoder`]: [`SentenceEncoder`], the synchronous tokenizer → BERT → pooling pipeline.
//! - [`bert`]: our BERT forward pass on packed sequences, with [`kernels`] for the fused ops.
//! - [`bf16`]: the reduced-precision matmul of the `bf16` [`Precision`] (AVX-512 BF16).
//! - [`error`]: [`EmbedError`], this crate's errors.
//!
//! See `docs/embedder.md` for usage.

pub mod bert;
// The crate's only unsafe code: AVX-512 BF16 intrinsics, behind a run-time CPU check.
#[allow(unsafe_code)]
pub mod bf16;
pub mod config;
pub mod embedder;
pub mod encoder;
pub mod error;
pub mod kernels;
pub mod lanes;
pub mod model_files;

pub use config::{DEFAULT_MODEL_NAME, EmbedderConfig, Precision};
pub use embedder::{CandleEmbedder, EmbedderStats};
pub use encoder::{Backend, SentenceEncoder};
pub use error::{EmbedError, Result};
