//! [`WithStandby`]: searches and listings on a hot standby, everything else on the primary.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use memory_core::domain::{
    Content, ConversationId, ConversationSummary, Message, MessageId, TenantId,
};
use memory_core::error::RepositoryError;
use memory_core::ports::{
    Candidate, CandidateQuery, ConversationQuery, LexicalMatches, LexicalQuery, LexicalSearch,
    ListQuery, Listing, Timeline, VectorSearch,
};
use memory_core::text::AnalyzedText;

use crate::open::PostgresStore;

/// How long the standby is left alone after it failed a read.
const RETRY_STANDBY_AFTER: Duration = Duration::from_secs(5);

/// A primary and a hot standby (streaming replication; `MEMORY_DATABASE_READ_URL`): the
/// heavy reads — vector and lexical search, time lines, listings — go to the standby; writes,
/// background work and reads by id go to the primary (so a client reads its own writes by id;
/// a search sees a write once the standby has replayed it, milliseconds later).
///
/// A read the standby fails (down, unreachable, a replay conflict) is answered by the
/// primary instead, and the standby is left alone for 5 s before it is tried again: a dead
/// standby costs no error and at most one failed attempt per 5 s.
pub struct WithStandby {
    primary: PostgresStore,
    standby: PostgresStore,
    resting_until: Mutex<Option<Instant>>,
}

impl WithStandby {
    /// Routes reads to `standby` (see [`PostgresStore::connect_lazily`]) and the rest to
    /// `primary`.
    pub fn new(primary: PostgresStore, standby: PostgresStore) -> Self {
        Self {
            primary,
            standby,
            resting_until: Mutex::new(None),
        }
    }

    fn standby_ready(&self) -> bool {
        let resting = self.resting_until.lock().unwrap_or_else(|p| p.into_inner());
        resting.is_none_or(|until| Instant::now() >= until)
    }

    fn standby_failed(&self, operation: &str, error: &RepositoryError) {
        tracing::warn!(operation, error = %error, "standby read failed; reading from the primary");
        *self.resting_until.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(Instant::now() + RETRY_STANDBY_AFTER);
    }
}

/// Tries the standby, then the primary: `read!(self, "op", |store| store.method(args))`.
macro_rules! read {
    ($self:ident, $op:literal, |$store:ident| $call:expr) => {{
        if $self.standby_ready() {
            let $store = &$self.standby;
            match $call.await {
                Ok(v) => return Ok(v),
                Err(e) => $self.standby_failed($op, &e),
            }
        }
        let $store = &$self.primary;
        $call.await
    }};
}

#[async_trait]
impl VectorSearch for WithStandby {
    fn dimension(&self) -> usize {
        self.primary.dimension()
    }

    async fn search_candidates(
        &self,
        query: &CandidateQuery,
    ) -> Result<Vec<Candidate>, RepositoryError> {
        read!(self, "search_candidates", |s| s.search_candidates(query))
    }
}

#[async_trait]
impl LexicalSearch for WithStandby {
    async fn lexical_candidates(
        &self,
        query: &LexicalQuery,
    ) -> Result<LexicalMatches, RepositoryError> {
        read!(self, "lexical_candidates", |s| s.lexical_candidates(query))
    }

    async fn unanalyzed(&self, limit: usize) -> Result<Vec<(MessageId, Content)>, RepositoryError> {
        self.primary.unanalyzed(limit).await
    }

    async fn store_analysis(
        &self,
        analysed: &[(MessageId, AnalyzedText)],
    ) -> Result<u64, RepositoryError> {
        self.primary.store_analysis(analysed).await
    }
}

#[async_trait]
impl Listing for WithStandby {
    async fn list(&self, query: &ListQuery) -> Result<Vec<Message>, RepositoryError> {
        read!(self, "list", |s| s.list(query))
    }

    async fn conversations(
        &self,
        query: &ConversationQuery,
    ) -> Result<Vec<ConversationSummary>, RepositoryError> {
        read!(self, "conversations", |s| s.conversations(query))
    }
}

#[async_trait]
impl Timeline for WithStandby {
    async fn conversation_timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, RepositoryError> {
        read!(self, "conversation_timeline", |s| s.conversation_timeline(
            tenant,
            conversation,
            limit
        ))
    }
}
