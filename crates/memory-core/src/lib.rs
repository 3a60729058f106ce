//! # memory-core
//!
//! The domain of AI Memory Layer, free of I/O: other teams build on it with adapters of their
//! own.
//!
//! - [`domain`]: validating types (`TenantId`, `Content`, `Embedding`, `Message`, the
//!   request shapes `NewMessage` and `SearchQuery`, ...).
//! - [`access`]: [`access::TenantAccess`], which tenants a caller may act on.
//! - [`scoring`]: importance at ingest, ranking at search, the hybrid fusion.
//! - [`retention`]: archive and delete rules, per-tenant policies.
//! - [`text`]: the analyzer and BM25 behind lexical search.
//! - [`ports`]: the traits adapters implement, one per capability (`MessageStore`,
//!   `VectorSearch`, `LexicalSearch`, `RetentionStore`, `Erasure`, `Timeline`, `Listing`,
//!   `Editing`, `Embedder`, `Clock`), with their contracts, and [`ports::StorePorts`] that bundles a store's.
//! - [`service`]: [`MemoryService`], the use cases, one file each.
//! - [`error`]: one error enum for the core, plus the ports' error types.
//! - `testkit` (feature `testkit`): the contract suite every store runs (one `#[test]` per
//!   check via `contract_tests!`), test fixtures and an `InMemoryStore`.
//! - `mocks` (feature `mocks`): mockall mocks of every port (`MockEmbedder`, ...).
//!
//! Dependencies point one way: `domain` ← `text`, `retention`, `access` ← `ports` ←
//! `scoring` ← `service`.
//!
//! ```
//! use memory_core::domain::{NewMessage, TenantId};
//! let msg = NewMessage::parse("acme", "conv-1", "user", "I love Python", None, None, None).unwrap();
//! assert_eq!(msg.tenant_id(), &TenantId::parse("acme").unwrap());
//! assert!(NewMessage::parse("", "c", "robot", "", None, Some(2.0), None).unwrap_err().0.len() == 4);
//! ```

pub mod access;
pub mod domain;
pub mod error;
pub mod ports;
pub mod retention;
pub mod scoring;
pub mod service;
pub mod text;

#[cfg(feature = "testkit")]
pub mod testkit;

/// mockall mocks of every port: `MockMessageStore`, `MockVectorSearch`, `MockLexicalSearch`,
/// `MockRetentionStore`, `MockErasure`, `MockTimeline`, `MockListing`, `MockEditing`,
/// `MockEmbedder`, `MockClock`.
#[cfg(feature = "mocks")]
pub mod mocks {
    pub use crate::ports::{
        MockClock, MockEditing, MockEmbedder, MockErasure, MockLexicalSearch, MockListing,
        MockMessageStore, MockRetentionStore, MockTimeline, MockVectorSearch,
    };
}

pub use error::{CoreError, Result};
pub use service::{MemoryService, ServiceConfig};
