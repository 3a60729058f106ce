//! Ports: the traits adapters implement, one per capability. Their doc comments are the
//! contract; the [`crate::testkit`] suite (feature `testkit`) checks a store against it.
//!
//! | port | what | needed for |
//! | --- | --- | --- |
//! | [`MessageStore`] | insert (one, a batch, or a batch in parts), get, embeddings, pending, tenants, idempotency records, health | everything |
//! | [`Listing`] | a tenant's messages in time order, keyset-paged | list, export |
//! | [`Editing`] | update or delete one message, its history | update, delete, history |
//! | [`VectorSearch`] | nearest neighbours | vector and hybrid search |
//! | [`LexicalSearch`] | BM25 matches, the analysed-text index | hybrid and lexical search |
//! | [`RetentionStore`] | archive, purge, policies | retention |
//! | [`Erasure`] | delete a conversation or a tenant | privacy requests |
//! | [`Timeline`] | a conversation's ids in time order | exact neighbours in hybrid search |
//! | [`Leases`] | one holder at a time across processes | fleet-wide jobs (retention scheduler) |
//! | [`Embedder`] | texts to vectors | ingest and search |
//! | [`Clock`] | now | every timestamp |
//!
//! A store implements the capabilities it can; [`StorePorts`] bundles them for the service,
//! which answers [`crate::CoreError::Unsupported`] for a use case whose capability is missing
//! (hybrid search without lexical search runs on vectors alone). Every port is
//! `Send + Sync + 'static` and uses `async_trait`, so the service holds them as
//! `Arc<dyn Port>` and a binary chooses adapters at startup.

mod clock;
mod editing;
mod embedder;
mod erasure;
mod leases;
mod lexical;
mod listing;
mod messages;
mod retention;
mod timeline;
mod vector;

use std::sync::Arc;
use std::time::Duration;

pub use clock::{Clock, SystemClock};
pub use editing::{Editing, Revision};
pub use embedder::{EmbedPurpose, Embedder};
pub use erasure::Erasure;
pub use leases::Leases;
pub use lexical::{
    LexicalDocument, LexicalMatches, LexicalQuery, LexicalSearch, RankedMatches, rank_matches,
};
pub use listing::{ConversationQuery, ListQuery, Listing};
pub use messages::{EmbeddingUpdate, MessageRecord, MessageStore, RecordParts};
pub use retention::RetentionStore;
pub use timeline::Timeline;
pub use vector::{Candidate, CandidateQuery, VectorSearch};

#[cfg(feature = "mocks")]
pub use clock::MockClock;
#[cfg(feature = "mocks")]
pub use editing::MockEditing;
#[cfg(feature = "mocks")]
pub use embedder::MockEmbedder;
#[cfg(feature = "mocks")]
pub use erasure::MockErasure;
#[cfg(feature = "mocks")]
pub use leases::MockLeases;
#[cfg(feature = "mocks")]
pub use lexical::MockLexicalSearch;
#[cfg(feature = "mocks")]
pub use listing::MockListing;
#[cfg(feature = "mocks")]
pub use messages::MockMessageStore;
#[cfg(feature = "mocks")]
pub use retention::MockRetentionStore;
#[cfg(feature = "mocks")]
pub use timeline::MockTimeline;
#[cfg(feature = "mocks")]
pub use vector::MockVectorSearch;

/// A store with every capability: what [`StorePorts::full`] takes.
pub trait FullStore:
    MessageStore
    + VectorSearch
    + LexicalSearch
    + RetentionStore
    + Erasure
    + Timeline
    + Listing
    + Editing
    + Leases
{
}

impl<T> FullStore for T where
    T: MessageStore
        + VectorSearch
        + LexicalSearch
        + RetentionStore
        + Erasure
        + Timeline
        + Listing
        + Editing
        + Leases
{
}

/// The store capabilities the service runs on: messages and vector search always, the others
/// when the store has them. Cheap to clone.
#[derive(Clone)]
pub struct StorePorts {
    messages: Arc<dyn MessageStore>,
    vectors: Arc<dyn VectorSearch>,
    lexical: Option<Arc<dyn LexicalSearch>>,
    retention: Option<Arc<dyn RetentionStore>>,
    erasure: Option<Arc<dyn Erasure>>,
    timeline: Option<Arc<dyn Timeline>>,
    listing: Option<Arc<dyn Listing>>,
    editing: Option<Arc<dyn Editing>>,
    leases: Option<Arc<dyn Leases>>,
}

impl std::fmt::Debug for StorePorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorePorts")
            .field("dimension", &self.vectors.dimension())
            .field("lexical", &self.lexical.is_some())
            .field("retention", &self.retention.is_some())
            .field("erasure", &self.erasure.is_some())
            .field("timeline", &self.timeline.is_some())
            .field("listing", &self.listing.is_some())
            .field("editing", &self.editing.is_some())
            .field("leases", &self.leases.is_some())
            .finish()
    }
}

impl StorePorts {
    /// The two capabilities every store has; add others with the `with_*` methods.
    pub fn new(messages: Arc<dyn MessageStore>, vectors: Arc<dyn VectorSearch>) -> Self {
        Self {
            messages,
            vectors,
            lexical: None,
            retention: None,
            erasure: None,
            timeline: None,
            listing: None,
            editing: None,
            leases: None,
        }
    }

    /// Every capability from one store.
    pub fn full<S: FullStore>(store: Arc<S>) -> Self {
        Self {
            messages: store.clone(),
            vectors: store.clone(),
            lexical: Some(store.clone()),
            retention: Some(store.clone()),
            erasure: Some(store.clone()),
            timeline: Some(store.clone()),
            listing: Some(store.clone()),
            editing: Some(store.clone()),
            leases: Some(store),
        }
    }

    /// Replaces the message store (tests swap one capability for a failing one).
    pub fn with_messages(mut self, messages: Arc<dyn MessageStore>) -> Self {
        self.messages = messages;
        self
    }

    /// Replaces vector search.
    pub fn with_vectors(mut self, vectors: Arc<dyn VectorSearch>) -> Self {
        self.vectors = vectors;
        self
    }

    /// Adds (or replaces) lexical search.
    pub fn with_lexical(mut self, lexical: Arc<dyn LexicalSearch>) -> Self {
        self.lexical = Some(lexical);
        self
    }

    /// Adds (or replaces) retention.
    pub fn with_retention(mut self, retention: Arc<dyn RetentionStore>) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Adds (or replaces) erasure.
    pub fn with_erasure(mut self, erasure: Arc<dyn Erasure>) -> Self {
        self.erasure = Some(erasure);
        self
    }

    /// Adds (or replaces) time lines.
    pub fn with_timeline(mut self, timeline: Arc<dyn Timeline>) -> Self {
        self.timeline = Some(timeline);
        self
    }

    /// Adds (or replaces) listing.
    pub fn with_listing(mut self, listing: Arc<dyn Listing>) -> Self {
        self.listing = Some(listing);
        self
    }

    /// Adds (or replaces) editing.
    pub fn with_editing(mut self, editing: Arc<dyn Editing>) -> Self {
        self.editing = Some(editing);
        self
    }

    /// Adds (or replaces) leases.
    pub fn with_leases(mut self, leases: Arc<dyn Leases>) -> Self {
        self.leases = Some(leases);
        self
    }

    /// Leases, if the store has them (without, fleet-wide jobs run in every process).
    pub fn leases(&self) -> Option<&Arc<dyn Leases>> {
        self.leases.as_ref()
    }

    /// Listing, if the store has it.
    pub fn listing(&self) -> Option<&Arc<dyn Listing>> {
        self.listing.as_ref()
    }

    /// Editing, if the store has it.
    pub fn editing(&self) -> Option<&Arc<dyn Editing>> {
        self.editing.as_ref()
    }

    /// Messages.
    pub fn messages(&self) -> &Arc<dyn MessageStore> {
        &self.messages
    }

    /// Vector search.
    pub fn vectors(&self) -> &Arc<dyn VectorSearch> {
        &self.vectors
    }

    /// Lexical search, if the store has it.
    pub fn lexical(&self) -> Option<&Arc<dyn LexicalSearch>> {
        self.lexical.as_ref()
    }

    /// Retention, if the store has it.
    pub fn retention(&self) -> Option<&Arc<dyn RetentionStore>> {
        self.retention.as_ref()
    }

    /// Erasure, if the store has it.
    pub fn erasure(&self) -> Option<&Arc<dyn Erasure>> {
        self.erasure.as_ref()
    }

    /// Time lines, if the store has them.
    pub fn timeline(&self) -> Option<&Arc<dyn Timeline>> {
        self.timeline.as_ref()
    }
}

/// Told about every store call the service makes: how to time the ports without wrapping
/// each of their methods. The HTTP layer's metrics implement it.
pub trait PortObserver: Send + Sync + 'static {
    /// One store call finished: `operation` is the port method's name (`insert`,
    /// `search_candidates`, ...), `ok` false when it returned an error.
    fn store_call(&self, operation: &'static str, elapsed: Duration, ok: bool);
}
