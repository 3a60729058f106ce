//! # memory-core
//!
//! The domain of AI Memory Layer, free of I/O: other teams build on it with adapters of their
//! own.
//!
//! - [`domain`]: validating types (`TenantId`, `Content`, `Embedding`, `Message`, ...).
//! - [`scoring`]: importance at ingest and ranking at search (the seed's formulas).
//! - [`retention`]: archive and delete rules, per-tenant policies, tenant access.
//! - [`ports`]: the traits adapters implement (`Embedder`, `MessageRepository`,
//!   `RetentionPolicyStore`, `Clock`), with their contracts.
//! - [`text`]: the analyzer and BM25 behind lexical search.
//! - [`service`]: [`MemoryService`], the use cases, generic over the ports.
//! - [`error`]: one error enum for the core, plus the ports' error types.
//! - `testkit` (feature `testkit`): the contract suite every repository adapter runs.
//! - `mocks` (feature `mocks`): mockall mocks of every port (`MockEmbedder`, ...).
//!
//! ```
//! use memory_core::domain::{NewMessage, TenantId};
//! let msg = NewMessage::parse("acme", "conv-1", "user", "I love Python", None, None, None).unwrap();
//! assert_eq!(msg.tenant_id, TenantId::parse("acme").unwrap());
//! assert!(NewMessage::parse("", "c", "robot", "", None, Some(2.0), None).unwrap_err().0.len() == 4);
//! ```

pub mod domain;
pub mod error;
pub mod ports;
pub mod retention;
pub mod scoring;
pub mod service;
pub mod text;

#[cfg(feature = "testkit")]
pub mod testkit;

/// mockall mocks of every port: `MockEmbedder`, `MockMessageRepository`,
/// `MockRetentionPolicyStore`, `MockClock`.
#[cfg(feature = "mocks")]
pub mod mocks {
    pub use crate::ports::{
        MockClock, MockEmbedder, MockMessageRepository, MockRetentionPolicyStore,
    };
}

pub use error::{CoreError, Result};
pub use service::{MemoryService, ServiceConfig};
