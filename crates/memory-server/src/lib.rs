//! # memory-server
//!
//! The binary's library half: reads configuration and wires memory-core to its adapters.
//!
//! - [`config`] — `MEMORY_*` settings, validated at startup.
//! - [`allocator`] — glibc malloc tuning for the model's buffers (called first in `main`).
//! - [`adapters`] — builds the embedder and the store the settings name.
//! - [`embed_lines`] — `memory-server embed`: texts in, JSON lines of embeddings out.
//! - [`startup`] — [`startup::Application`], the running server plus its workers.
//! - [`transfer`] — `memory-server export` and `import`: a tenant's messages as JSON lines.
//! - [`workers`] — the retention scheduler and the embedding catch-up worker.
//! - [`telemetry`] — logging.

pub mod adapters;
pub mod allocator;
pub mod config;
pub mod embed_lines;
pub mod startup;
pub mod telemetry;
pub mod transfer;
pub mod workers;
