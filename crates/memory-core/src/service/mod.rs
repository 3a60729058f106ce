//! [`MemoryService`]: the use cases, over the ports.
//!
//! One file per use case: `ingest` (one message or a batch, idempotent with a key),
//! `import` (messages as exported), `listing`, `editing` (update, delete, history), `search`, `retention`, `catch_up`
//! (embeddings and analysed text the store is missing), `erasure`. This file builds the service and holds
//! what they share.

mod catch_up;
mod editing;
mod erasure;
mod import;
mod ingest;
mod listing;
mod retention;
mod search;

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, DurationRound, Utc};

use crate::access::TenantAccess;
use crate::domain::{Embedding, Message, MessageId, SearchMode, TenantId};
use crate::error::{CoreError, EmbedderError, RepositoryError, Result};
use crate::ports::{Clock, EmbedPurpose, Embedder, PortObserver, StorePorts, SystemClock};
use crate::retention::RetentionPolicy;
use crate::scoring::{HybridConfig, ImportanceConfig, ImportanceScorer, Ranker, RankingConfig};

pub use catch_up::CLAIM;
pub use import::ImportOutcome;
pub use ingest::{BatchOutcome, MAX_BATCH_MESSAGES, MAX_CLOCK_SKEW_SECONDS};
pub use listing::VisibleTenants;
pub use retention::RetentionPreview;

/// The service's tunables. Defaults are the seed's; each part is valid by construction.
#[derive(Debug, Clone, PartialEq)]
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
    /// How long an idempotency key is remembered (at least this long: records are purged
    /// by [`MemoryService::purge_idempotency`]). Default 24 hours.
    pub idempotency_ttl: Duration,
    /// How long a batch ingest may spend embedding: once the next chunk would end past it
    /// (judged by the slowest chunk so far), the rest of the batch is stored `pending` for
    /// the catch-up worker instead of embedded, so a big batch on a slow or busy model is
    /// answered rather than timed out. `None` (the default): no limit. The server gives it
    /// half the request timeout.
    pub batch_embed_budget: Option<Duration>,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            importance: ImportanceConfig::default(),
            ranking: RankingConfig::default(),
            default_retention: RetentionPolicy::default(),
            hybrid: HybridConfig::default(),
            default_mode: SearchMode::default(),
            idempotency_ttl: Duration::hours(24),
            batch_embed_budget: None,
        }
    }
}

/// The memory use cases: ingest, get, search, retention, erasure, and catching up on
/// embeddings. Holds its ports as `Arc<dyn Port>`: one type whatever the adapters, chosen at
/// startup (the cost of dynamic dispatch is nothing next to a database round trip).
#[derive(Clone)]
pub struct MemoryService {
    stores: StorePorts,
    embedder: Arc<dyn Embedder>,
    clock: Arc<dyn Clock>,
    observer: Option<Arc<dyn PortObserver>>,
    scorer: ImportanceScorer,
    ranker: Ranker,
    default_retention: RetentionPolicy,
    hybrid: HybridConfig,
    default_mode: SearchMode,
    idempotency_ttl: Duration,
    batch_embed_budget: Option<Duration>,
}

impl std::fmt::Debug for MemoryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryService")
            .field("stores", &self.stores)
            .field("model", &self.embedder.model_id())
            .field("default_mode", &self.default_mode)
            .finish_non_exhaustive()
    }
}

/// Timestamps are kept at microsecond precision, what every store keeps.
pub fn truncate_to_micros(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::microseconds(1)).unwrap_or(t)
}

impl MemoryService {
    /// A service over the given stores and embedder, on the system clock. Fails with
    /// [`CoreError::DimensionMismatch`] when the embedder's vectors do not fit the store.
    pub fn new(
        stores: StorePorts,
        embedder: Arc<dyn Embedder>,
        config: ServiceConfig,
    ) -> Result<Self> {
        let (store, model) = (stores.vectors().dimension(), embedder.dimension());
        if store != model {
            return Err(CoreError::DimensionMismatch {
                store,
                embedder: model,
            });
        }
        Ok(Self {
            stores,
            embedder,
            clock: Arc::new(SystemClock),
            observer: None,
            scorer: ImportanceScorer::new(config.importance),
            ranker: Ranker::new(config.ranking),
            default_retention: config.default_retention,
            hybrid: config.hybrid,
            default_mode: config.default_mode,
            batch_embed_budget: config.batch_embed_budget,
            idempotency_ttl: config.idempotency_ttl,
        })
    }

    /// The same service on another clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same service, telling `observer` about every store call (metrics).
    pub fn with_observer(mut self, observer: Arc<dyn PortObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The store capabilities.
    pub fn stores(&self) -> &StorePorts {
        &self.stores
    }

    /// The embedder.
    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// Reads a message. A message of a tenant the caller may not access is reported as not
    /// found, so ids of other tenants leak nothing.
    pub async fn get(&self, id: MessageId, access: &TenantAccess) -> Result<Message> {
        match self.call("get", self.stores.messages().get(id)).await? {
            Some(m) if access.allows(&m.tenant_id) => Ok(m),
            _ => Err(CoreError::NotFound(format!("message {id}"))),
        }
    }

    /// Every tenant with at least one message (for the scheduler and admin tools).
    pub async fn list_tenants(&self) -> Result<Vec<TenantId>> {
        Ok(self
            .call("list_tenants", self.stores.messages().list_tenants())
            .await?)
    }

    /// Messages of every tenant waiting for an embedding (for the metrics gauge).
    pub async fn pending_embeddings(&self) -> Result<u64> {
        Ok(self
            .call(
                "count_pending",
                self.stores.messages().count_pending(None, None),
            )
            .await?)
    }

    /// Checks the store.
    pub async fn health(&self) -> Result<()> {
        Ok(self.call("health", self.stores.messages().health()).await?)
    }

    fn check_access(access: &TenantAccess, tenant: &TenantId) -> Result<()> {
        if access.allows(tenant) {
            Ok(())
        } else {
            Err(CoreError::Forbidden(format!(
                "this key may not access tenant {tenant:?}"
            )))
        }
    }

    /// Runs one store call, telling the observer how long it took and whether it failed.
    async fn call<T>(
        &self,
        operation: &'static str,
        call: impl Future<Output = std::result::Result<T, RepositoryError>>,
    ) -> std::result::Result<T, RepositoryError> {
        let Some(observer) = &self.observer else {
            return call.await;
        };
        let started = Instant::now();
        let result = call.await;
        observer.store_call(operation, started.elapsed(), result.is_ok());
        result
    }

    /// Embeds one text for `purpose` and checks the answer's shape.
    async fn embed_one(&self, text: &str, purpose: &EmbedPurpose) -> Result<Embedding> {
        let mut out = self.embed_many(&[text.to_owned()], purpose).await?;
        out.pop()
            .ok_or_else(|| EmbedderError::failed("embedder returned no embedding").into())
    }

    /// Embeds texts for `purpose` and checks the answer's shape: one vector per text, of the
    /// model's size.
    async fn embed_many(&self, texts: &[String], purpose: &EmbedPurpose) -> Result<Vec<Embedding>> {
        let out = self.embedder.embed_for(texts, purpose).await?;
        let dim = self.embedder.dimension();
        if out.len() == texts.len() && out.iter().all(|e| e.dimension() == dim) {
            Ok(out)
        } else {
            Err(
                EmbedderError::failed("embedder returned the wrong number or size of embeddings")
                    .into(),
            )
        }
    }
}
