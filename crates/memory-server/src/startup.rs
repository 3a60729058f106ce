//! Wiring: configuration in, a running application out. Tests use [`Application::build`]
//! with port 0 to start the real server.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use memory_core::domain::MinRelevance;
use memory_core::ports::{Embedder, StorePorts};
use memory_core::retention::RetentionPolicy;
use memory_core::scoring::{HybridConfig, RankingConfig};
use memory_core::text::Bm25;
use memory_core::{MemoryService, ServiceConfig};
use memory_http::{ApiKeys, HttpConfig, Metrics, RateLimit, TrustedProxies};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::adapters;
use crate::config::Settings;
use crate::workers;

/// How often the embedding worker looks for pending messages.
const EMBEDDING_WORKER_PERIOD: Duration = Duration::from_secs(5);

/// The service configuration the settings describe.
pub fn service_config(settings: &Settings) -> anyhow::Result<ServiceConfig> {
    let default_retention = RetentionPolicy::new(
        settings.retention_max_age_days,
        settings.retention_importance_threshold,
        settings.retention_delete_after_days,
    )
    .map_err(|e| anyhow::anyhow!("invalid MEMORY_RETENTION_* setting: {e}"))?;
    let defaults = HybridConfig::default();
    let hybrid_error = |e| anyhow::anyhow!("invalid MEMORY_HYBRID_* setting: {e}");
    let bm25 = Bm25::new(defaults.bm25().k1(), settings.hybrid_bm25_b).map_err(hybrid_error)?;
    let hybrid = defaults
        .with_lexical_weight(settings.hybrid_lexical_weight)
        .map_err(hybrid_error)?
        .with_lexical_limit(settings.hybrid_lexical_limit as usize)
        .map_err(hybrid_error)?
        .with_bm25(bm25);
    let ranking_error = |e| anyhow::anyhow!("invalid MEMORY_RANKING_* setting: {e}");
    let ranking = RankingConfig::default()
        .with_weights(
            settings.ranking_similarity_weight,
            settings.ranking_importance_weight,
            settings.ranking_decay_weight,
        )
        .map_err(ranking_error)?
        .with_decay_days(settings.ranking_decay_days)
        .map_err(ranking_error)?
        .with_min_relevance(
            MinRelevance::parse("MEMORY_SEARCH_MIN_RELEVANCE", settings.search_min_relevance)
                .map_err(|e| anyhow::anyhow!("invalid setting: {e}"))?,
        );
    Ok(ServiceConfig {
        ranking,
        default_retention,
        hybrid,
        default_mode: settings.search_default_mode.into(),
        idempotency_ttl: chrono::Duration::hours(i64::from(settings.idempotency_ttl_hours)),
        // As each embedder call has (TimeBudget): what is left is for the store and the answer.
        batch_embed_budget: Some(batch_embed_budget(settings.request_timeout_seconds)),
        ..ServiceConfig::default()
    })
}

/// How long a batch ingest may embed: half the request timeout.
fn batch_embed_budget(request_timeout_seconds: u64) -> chrono::Duration {
    chrono::Duration::milliseconds(
        i64::try_from(request_timeout_seconds.saturating_mul(500)).unwrap_or(i64::MAX),
    )
}

/// The HTTP layer's configuration the settings describe.
pub fn http_config(settings: &Settings) -> anyhow::Result<HttpConfig> {
    Ok(HttpConfig {
        api_keys: ApiKeys::parse(settings.api_keys.expose())
            .map_err(|e| anyhow::anyhow!("invalid MEMORY_API_KEYS: {e}"))?,
        allowed_origins: settings.origins(),
        rate_limit: RateLimit::parse(&settings.global_rate_limit)
            .map_err(|e| anyhow::anyhow!("invalid MEMORY_GLOBAL_RATE_LIMIT: {e}"))?
            .shared_by(
                std::num::NonZeroU32::new(settings.rate_limit_replicas)
                    .unwrap_or(std::num::NonZeroU32::MIN),
            ),
        trusted_proxies: TrustedProxies::parse(&settings.trusted_proxies)
            .map_err(|e| anyhow::anyhow!("invalid {e}"))?,
        request_timeout: Duration::from_secs(settings.request_timeout_seconds),
        max_in_flight: settings.max_in_flight as usize,
        environment: settings.environment.clone(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        console: settings.console,
    })
}

/// A built, listening application.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    service: Arc<MemoryService>,
    stop: watch::Sender<bool>,
    workers: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("port", &self.port)
            .finish_non_exhaustive()
    }
}

impl Application {
    /// Builds everything from settings: model, store (migrated if asked), service, HTTP
    /// server and background workers. Every configuration error is reported here.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        // Settings errors first, before the model loads and the store opens.
        http_config(&settings)?;
        let embedder = adapters::embedder(&settings).await?;
        let store = adapters::store(&settings, embedder.dimension(), &embedder.model_id()).await?;
        Self::build_with(settings, store, embedder).await
    }

    /// Builds with given adapters (tests share one model between many apps).
    pub async fn build_with(
        settings: Settings,
        stores: StorePorts,
        embedder: Arc<dyn Embedder>,
    ) -> anyhow::Result<Self> {
        let http = http_config(&settings)?;
        let metrics = Metrics::new();
        let embedder: Arc<dyn Embedder> = Arc::new(adapters::TimeBudget::new(
            embedder,
            Duration::from_secs(settings.request_timeout_seconds) / 2,
        ));
        let service = MemoryService::new(
            stores,
            metrics.instrument_embedder(embedder),
            service_config(&settings)?,
        )?
        .with_observer(Arc::new(metrics.clone()));
        let service = Arc::new(service);
        // Messages an older binary stored without analysed text become findable by their
        // words before the first request (a no-op on an up-to-date store).
        let analysed = service
            .analyze_all()
            .await
            .context("cannot analyse stored messages for lexical search")?;
        if analysed > 0 {
            tracing::info!(
                messages = analysed,
                "analysed stored messages for lexical search"
            );
        }
        let listener = TcpListener::bind((settings.host, settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let server = memory_http::serve(listener, service.clone(), http, metrics.clone())?;
        let (stop, stop_rx) = watch::channel(false);
        let mut workers = vec![tokio::spawn(workers::embedding_worker(
            service.clone(),
            metrics.clone(),
            EMBEDDING_WORKER_PERIOD,
            stop_rx.clone(),
        ))];
        if settings.retention_schedule_seconds > 0 {
            workers.push(tokio::spawn(workers::retention_scheduler(
                service.clone(),
                metrics,
                Duration::from_secs(settings.retention_schedule_seconds),
                stop_rx,
            )));
        }
        tracing::info!(port, database = %settings.database().map(|d| d.redacted()).unwrap_or_default(), "listening");
        Ok(Self {
            port,
            server,
            service,
            stop,
            workers,
        })
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The service behind the server.
    pub fn service(&self) -> Arc<MemoryService> {
        self.service.clone()
    }

    /// Serves until SIGINT/SIGTERM (or the server is stopped): in-flight requests finish,
    /// then the workers stop. Messages still pending are stored and embedded at next start.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        let _ = self.stop.send(true);
        for w in self.workers {
            let _ = w.await;
        }
        result
    }
}
