//! [`MemoryService`]: the use cases, generic over the ports.

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::domain::SearchMode;
use crate::domain::{
    Embedding, EmbeddingStatus, Message, MessageId, NewMessage, SearchQuery, SearchResults,
};
use crate::error::{CoreError, EmbedderError, FieldError, Result};
use crate::ports::{
    CandidateQuery, Clock, Embedder, EmbeddingUpdate, LexicalMatches, LexicalQuery, Store,
    SystemClock,
};
use crate::retention::{
    RetentionAction, RetentionPolicy, RetentionReport, RetentionRequest, TenantAccess,
};
use crate::scoring::{HybridConfig, fuse};
use crate::scoring::{ImportanceConfig, ImportanceScorer, Ranker, RankingConfig};
use crate::text::Analyzer;

/// The service's tunables. Defaults are the seed's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceConfig {
    /// Importance at ingest.
    pub importance: ImportanceConfig,
    /// Ranking at search.
    pub ranking: RankingConfig,
    /// Policy for tenants without one of their own.
    pub default_retention: RetentionPolicy,
    /// Hybrid search tunables.
    pub hybrid: HybridConfig,
    /// The mode of searches that name none (hybrid: it wins the retrieval benchmark).
    pub default_mode: SearchMode,
}

/// How far ahead of the server's clock a client's `created_at` may be (clock skew); it is
/// then taken as now. Further ahead is a validation error.
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 300;

/// The memory use cases: ingest, get, search, retention, and catching up on embeddings.
#[derive(Debug, Clone)]
pub struct MemoryService<S, E, C = SystemClock> {
    store: S,
    embedder: E,
    clock: C,
    scorer: ImportanceScorer,
    ranker: Ranker,
    default_retention: RetentionPolicy,
    hybrid: HybridConfig,
    default_mode: SearchMode,
}

/// Timestamps are kept at microsecond precision, what every store keeps.
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::microseconds(1)).unwrap_or(t)
}

impl<S: Store, E: Embedder, C: Clock> MemoryService<S, E, C> {
    /// A service over the given adapters; fails if the configuration is invalid.
    pub fn new(store: S, embedder: E, clock: C, config: ServiceConfig) -> Result<Self> {
        config.importance.validate()?;
        config.ranking.validate()?;
        config.hybrid.validate()?;
        Ok(Self {
            store,
            embedder,
            clock,
            scorer: ImportanceScorer::new(config.importance),
            ranker: Ranker::new(config.ranking),
            default_retention: config.default_retention,
            hybrid: config.hybrid,
            default_mode: config.default_mode,
        })
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The embedder.
    pub fn embedder(&self) -> &E {
        &self.embedder
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    fn check_access(access: &TenantAccess, tenant: &crate::domain::TenantId) -> Result<()> {
        if access.allows(tenant) {
            Ok(())
        } else {
            Err(CoreError::Forbidden(format!(
                "this key may not access tenant {tenant:?}"
            )))
        }
    }

    /// Embeds a message, then stores it with its embedding in one write.
    ///
    /// `Ok` means the message is committed. Its embedding status says what the embedder did:
    /// `completed`; `pending` when the embedder was unavailable, overloaded or too slow; or
    /// `failed` when the model failed on this text. [`MemoryService::embed_pending`] retries
    /// pending and failed messages later. Nothing is acknowledged before the write, so
    /// embedding first costs nothing in durability, and one write per message (rather than an
    /// insert and then an update) halves what ingest asks of the store.
    pub async fn ingest(&self, new: NewMessage, access: &TenantAccess) -> Result<Message> {
        Self::check_access(access, &new.tenant_id)?;
        let now = truncate_to_micros(self.clock.now());
        let created_at = match new.created_at {
            None => now,
            Some(t) if t > now + Duration::seconds(MAX_CLOCK_SKEW_SECONDS) => {
                return Err(FieldError::new("created_at", "must not be in the future").into());
            }
            Some(t) => truncate_to_micros(t.min(now)),
        };
        let importance = self
            .scorer
            .score(created_at, now, new.role, new.importance_override);
        let (embedding, embedding_status) = match self.embed_one(new.content.as_str()).await {
            Ok(e) => (Some(e), EmbeddingStatus::Completed),
            Err(CoreError::Embedder(EmbedderError::Failed(_))) => (None, EmbeddingStatus::Failed),
            Err(_) => (None, EmbeddingStatus::Pending),
        };
        let message = Message {
            id: MessageId::new(),
            tenant_id: new.tenant_id,
            conversation_id: new.conversation_id,
            role: new.role,
            content: new.content,
            metadata: new.metadata,
            importance_score: importance,
            embedding,
            embedding_status,
            archived: false,
            created_at,
            updated_at: now,
        };
        self.store.insert(&message).await?;
        Ok(message)
    }

    async fn embed_one(&self, text: &str) -> Result<crate::domain::Embedding> {
        let mut out = self.embedder.embed(&[text.to_owned()]).await?;
        match (out.pop(), out.is_empty()) {
            (Some(e), true) if e.dimension() == self.embedder.dimension() => Ok(e),
            _ => Err(crate::error::EmbedderError::Failed(
                "embedder returned the wrong number or size of embeddings".into(),
            )
            .into()),
        }
    }

    /// Reads a message. A message of a tenant the caller may not access is reported as not
    /// found, so ids of other tenants leak nothing.
    pub async fn get(&self, id: MessageId, access: &TenantAccess) -> Result<Message> {
        match self.store.get(id).await? {
            Some(m) if access.allows(&m.tenant_id) => Ok(m),
            _ => Err(CoreError::NotFound(format!("message {id}"))),
        }
    }

    /// Finds the most relevant messages. Vector mode: the store's nearest neighbours over the
    /// whole scope, ranked by `w_sim*similarity + w_imp*importance + w_decay*decay`. Hybrid
    /// mode (the default): nearest neighbours plus lexical matches, fused into a relevance
    /// that takes similarity's place in the formula (see `docs/scoring.md`). Lexical mode:
    /// the lexical matches alone, without embedding the query.
    ///
    /// A hybrid search whose query cannot be embedded because the embedder is unavailable or
    /// overloaded runs in lexical mode instead, and says so in [`SearchResults::mode`]:
    /// memories stay findable by their words while the model is down.
    pub async fn search(&self, query: SearchQuery, access: &TenantAccess) -> Result<SearchResults> {
        Self::check_access(access, &query.tenant_id)?;
        let requested = query.mode.unwrap_or(self.default_mode);
        let embedding = match requested {
            SearchMode::Lexical => None,
            SearchMode::Vector => Some(self.embed_one(&query.query).await?),
            SearchMode::Hybrid => match self.embed_one(&query.query).await {
                Ok(e) => Some(e),
                Err(CoreError::Embedder(
                    EmbedderError::Unavailable(_) | EmbedderError::Overloaded(_),
                )) => None,
                Err(e) => return Err(e),
            },
        };
        let pending = self
            .store
            .count_pending(Some(query.tenant_id.clone()), query.conversation_id.clone());
        let dense_query = |embedding: &Embedding| CandidateQuery {
            tenant_id: query.tenant_id.clone(),
            conversation_id: query.conversation_id.clone(),
            importance_min: query.importance_min,
            embedding: embedding.clone(),
            limit: query.candidate_limit,
        };
        let (mode, items, pending) = match (requested, embedding) {
            (SearchMode::Vector, Some(embedding)) => {
                let dense_query = dense_query(&embedding);
                let (candidates, pending) =
                    futures::join!(self.store.search_candidates(&dense_query), pending);
                let now = self.clock.now();
                let items = self.ranker.rank(candidates?, now, query.top_k);
                (SearchMode::Vector, items, pending)
            }
            (_, embedding) => {
                let terms = Analyzer::english().query_terms(&query.query);
                let lexical_query = LexicalQuery {
                    tenant_id: query.tenant_id.clone(),
                    conversation_id: query.conversation_id.clone(),
                    importance_min: query.importance_min,
                    terms: terms.clone(),
                    limit: self.hybrid.lexical_limit,
                };
                let lexical = async {
                    if terms.is_empty() {
                        Ok(LexicalMatches::default())
                    } else {
                        self.store.lexical_candidates(&lexical_query).await
                    }
                };
                let dense = async {
                    match &embedding {
                        Some(e) => self.store.search_candidates(&dense_query(e)).await,
                        None => Ok(Vec::new()),
                    }
                };
                // Neighbours in a conversation-scoped search are true neighbours in time.
                let timeline = async {
                    match &query.conversation_id {
                        Some(c) => {
                            self.store
                                .conversation_timeline(
                                    &query.tenant_id,
                                    c,
                                    self.hybrid.timeline_limit,
                                )
                                .await
                        }
                        None => Ok(None),
                    }
                };
                let (dense, lexical, timeline, pending) =
                    futures::join!(dense, lexical, timeline, pending);
                let timeline = timeline?;
                let fused = fuse(
                    dense?,
                    lexical?,
                    &terms,
                    embedding.as_ref(),
                    timeline.as_deref(),
                    &self.hybrid,
                );
                let now = self.clock.now();
                let items = self.ranker.rank_fused(fused, now, query.top_k);
                let mode = if embedding.is_some() {
                    SearchMode::Hybrid
                } else {
                    SearchMode::Lexical
                };
                (mode, items, pending)
            }
        };
        Ok(SearchResults {
            items,
            mode,
            pending_embeddings: pending?,
        })
    }

    /// The policy in force for a tenant: its own, or the default.
    pub async fn retention_policy(
        &self,
        tenant: &crate::domain::TenantId,
    ) -> Result<RetentionPolicy> {
        Ok(self
            .store
            .get_policy(tenant)
            .await?
            .unwrap_or_else(|| self.default_retention.clone()))
    }

    /// Applies the tenant's retention policy: archive first, then delete. A dry run reports
    /// the same counts and changes nothing.
    pub async fn run_retention(
        &self,
        request: RetentionRequest,
        access: &TenantAccess,
    ) -> Result<RetentionReport> {
        Self::check_access(access, &request.tenant_id)?;
        let policy = self.retention_policy(&request.tenant_id).await?;
        let now = truncate_to_micros(self.clock.now());
        let mut report = RetentionReport {
            dry_run: request.dry_run,
            ..Default::default()
        };
        if request.actions.contains(&RetentionAction::Archive) {
            report.archived = self
                .store
                .archive(
                    &request.tenant_id,
                    &policy.archive_rule(now),
                    now,
                    request.dry_run,
                )
                .await?;
        }
        if request.actions.contains(&RetentionAction::Delete) {
            report.deleted = self
                .store
                .purge_archived(
                    &request.tenant_id,
                    policy.purge_cutoff(now),
                    request.dry_run,
                )
                .await?;
        }
        Ok(report)
    }

    /// Embeds up to `limit` messages left pending or failed (by a crash or an embedder
    /// failure), in one batch. Returns how many were completed.
    ///
    /// When the batch fails on its input ([`EmbedderError::Failed`]) the messages are embedded
    /// one at a time, so one text the model cannot take does not hold back the rest: it is
    /// marked failed (and retried on later rounds) while the others complete. An embedder
    /// that is unavailable or overloaded fails the round instead (retry later, with backoff).
    pub async fn embed_pending(&self, limit: usize) -> Result<usize> {
        let pending = self.store.pending_embeddings(limit).await?;
        if pending.is_empty() {
            return Ok(0);
        }
        let texts: Vec<String> = pending
            .iter()
            .map(|m| m.content.as_str().to_owned())
            .collect();
        let embeddings = match self.embedder.embed(&texts).await {
            Ok(e) if e.len() == pending.len() => e,
            Ok(_) => {
                return Err(EmbedderError::Failed(
                    "embedder returned the wrong number of embeddings".into(),
                )
                .into());
            }
            Err(EmbedderError::Failed(_)) if pending.len() > 1 => {
                return self.embed_one_by_one(&pending).await;
            }
            Err(e) => return Err(e.into()),
        };
        let at = truncate_to_micros(self.clock.now());
        let mut done = 0;
        for (m, e) in pending.iter().zip(embeddings) {
            if self
                .store
                .set_embedding(m.id, EmbeddingUpdate::Completed(e), at)
                .await?
            {
                done += 1;
            }
        }
        Ok(done)
    }

    /// [`Self::embed_pending`]'s fallback after a failed batch.
    async fn embed_one_by_one(&self, pending: &[Message]) -> Result<usize> {
        let mut done = 0;
        for m in pending {
            let update = match self.embed_one(m.content.as_str()).await {
                Ok(e) => EmbeddingUpdate::Completed(e),
                Err(CoreError::Embedder(EmbedderError::Failed(_))) => EmbeddingUpdate::Failed,
                Err(e) => return Err(e),
            };
            let completed = matches!(update, EmbeddingUpdate::Completed(_));
            let at = truncate_to_micros(self.clock.now());
            if self.store.set_embedding(m.id, update, at).await? && completed {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Erases one conversation of one tenant (messages and archived copies), for privacy
    /// requests. Admin callers only ([`TenantAccess::All`]). Idempotent: returns how many
    /// messages were deleted, 0 the second time.
    pub async fn erase_conversation(
        &self,
        tenant: &crate::domain::TenantId,
        conversation: &crate::domain::ConversationId,
        access: &TenantAccess,
    ) -> Result<u64> {
        Self::check_admin(access)?;
        Ok(self.store.delete_conversation(tenant, conversation).await?)
    }

    /// Erases everything of one tenant: messages, archived copies, retention policy. Admin
    /// callers only. Idempotent.
    pub async fn erase_tenant(
        &self,
        tenant: &crate::domain::TenantId,
        access: &TenantAccess,
    ) -> Result<u64> {
        Self::check_admin(access)?;
        Ok(self.store.delete_tenant(tenant).await?)
    }

    fn check_admin(access: &TenantAccess) -> Result<()> {
        match access {
            TenantAccess::All => Ok(()),
            TenantAccess::Only(_) => Err(CoreError::Forbidden(
                "erasure needs an admin key (one not bound to tenants)".into(),
            )),
        }
    }

    /// Checks the store.
    pub async fn health(&self) -> Result<()> {
        Ok(self.store.health().await?)
    }
}
