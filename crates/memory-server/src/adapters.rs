//! Building the outbound adapters the settings name, and the one-shot subcommands.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use memory_core::access::TenantAccess;
use memory_core::domain::Embedding;
use memory_core::error::EmbedderError;
use memory_core::ports::{EmbedPurpose, Embedder, StorePorts};
use memory_core::retention::RetentionRequest;
use memory_core::{MemoryService, domain::TenantId};
use memory_embed_candle::{CandleEmbedder, EmbedderConfig, SentenceEncoder};
use memory_store_postgres::{PostgresConfig, PostgresStore, WithStandby, run_migrations};
use memory_store_sqlite::{SqliteStore, SqliteStoreOptions};

use crate::config::{DatabaseUrl, Settings};

/// The embedder configuration the `MEMORY_EMBEDDING_*` settings describe (docs/embedder.md),
/// with the Hugging Face cache the environment names (`HF_HUB_CACHE`, `HF_HOME`, `HOME`):
/// the one place the embedder's environment is read.
pub fn embedder_config(settings: &Settings) -> EmbedderConfig {
    EmbedderConfig {
        model_name: settings.embedding_model_name.clone(),
        model_path: settings.embedding_model_path.clone(),
        cache_dir: Some(memory_embed_candle::model_files::hf_cache_dir(|k| {
            std::env::var_os(k)
        })),
        max_batch_size: settings.embedding_max_batch_size as usize,
        queue_capacity: settings.embedding_queue_capacity as usize,
        max_queue_wait: Duration::from_millis(settings.embedding_max_queue_wait_ms),
        max_ingest_wait: Duration::from_millis(settings.embedding_max_ingest_wait_ms),
        max_pass_bytes: settings.embedding_max_pass_bytes as usize,
        max_wait: Duration::from_millis(settings.embedding_max_wait_ms),
        threads: settings.embedding_threads,
        allow_download: settings.embedding_allow_download,
        precision: settings.embedding_precision,
    }
}

/// An embedder that gives up after a time budget, as unavailable. The server gives every
/// embedding half the request timeout, so a slow model turns an ingest into a 202 with the
/// embedding `failed` (the catch-up worker embeds it later) instead of a 504 after the message
/// was committed, and a search into a 503 with Retry-After.
pub struct TimeBudget {
    inner: Arc<dyn Embedder>,
    budget: Duration,
}

impl TimeBudget {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn Embedder>, budget: Duration) -> Self {
        Self { inner, budget }
    }
}

#[async_trait]
impl Embedder for TimeBudget {
    fn model_id(&self) -> String {
        self.inner.model_id()
    }
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        self.embed_for(texts, &EmbedPurpose::Backlog).await
    }
    async fn embed_for(
        &self,
        texts: &[String],
        purpose: &EmbedPurpose,
    ) -> Result<Vec<Embedding>, EmbedderError> {
        tokio::time::timeout(self.budget, self.inner.embed_for(texts, purpose))
            .await
            .map_err(|_| {
                EmbedderError::unavailable(format!(
                    "no embedding within {} ms",
                    self.budget.as_millis()
                ))
            })?
    }
}

/// The embedder: the candle BERT model, found in MEMORY_EMBEDDING_MODEL_PATH, the Hugging
/// Face cache, or the hub. Loading reads ~90 MB, so it runs on the blocking pool.
pub async fn embedder(settings: &Settings) -> anyhow::Result<Arc<dyn Embedder>> {
    let config = embedder_config(settings);
    let embedder = tokio::task::spawn_blocking(move || CandleEmbedder::new(config))
        .await
        .context("the model loader panicked")?
        .context("cannot load the embedding model")?;
    Ok(Arc::new(embedder))
}

/// The store the database URL names. The embedded store always migrates itself (it is
/// created on first start); Postgres migrates when `MEMORY_AUTO_MIGRATE` is on. Either
/// refuses to start when its stored embedding dimension differs from the model's.
pub async fn store(
    settings: &Settings,
    dimension: usize,
    model_id: &str,
) -> anyhow::Result<StorePorts> {
    match settings.database().map_err(anyhow::Error::msg)? {
        DatabaseUrl::Sqlite(_) if settings.database_read_url.is_some() => {
            anyhow::bail!("MEMORY_DATABASE_READ_URL needs a Postgres MEMORY_DATABASE_URL")
        }
        DatabaseUrl::Sqlite(url) => {
            let options = sqlite_options(settings, dimension, model_id);
            let store = tokio::task::spawn_blocking(move || SqliteStore::open_with(&url, options))
                .await
                .context("the store opener panicked")?
                .context("cannot open the embedded store")?;
            Ok(StorePorts::full(Arc::new(store)))
        }
        DatabaseUrl::Postgres(url) => postgres_store(settings, &url, dimension).await,
    }
}

/// The embedded store's options: the model's dimension and id, and the memory budgets of its
/// in-memory indexes (`MEMORY_SQLITE_VECTOR_CACHE_MB`, `MEMORY_SQLITE_LEXICAL_CACHE_MB`).
pub(crate) fn sqlite_options(
    settings: &Settings,
    dimension: usize,
    model_id: &str,
) -> SqliteStoreOptions {
    const MIB: usize = 1 << 20;
    SqliteStoreOptions::new(dimension)
        .model_id(model_id)
        .vector_cache_bytes(settings.sqlite_vector_cache_mb as usize * MIB)
        .lexical_cache_bytes(settings.sqlite_lexical_cache_mb as usize * MIB)
}

async fn postgres_store(
    settings: &Settings,
    url: &str,
    dimension: usize,
) -> anyhow::Result<StorePorts> {
    let redacted = settings
        .database()
        .map(|d| d.redacted())
        .unwrap_or_default();
    if settings.auto_migrate {
        let applied = run_migrations(url)
            .await
            .with_context(|| format!("cannot migrate {redacted}"))?;
        if !applied.is_empty() {
            tracing::info!(?applied, "migrations applied");
        }
    }
    let config = PostgresConfig {
        pool_size: settings.db_pool_size as usize,
        insert_writers: settings.db_insert_writers as usize,
        dimension,
        ..PostgresConfig::default()
    };
    let store = PostgresStore::connect(url, config.clone())
        .await
        .with_context(|| format!("cannot connect to {redacted}"))?;
    let Some(read_url) = settings.database_read_url.as_deref() else {
        return Ok(StorePorts::full(Arc::new(store)));
    };
    let Ok(DatabaseUrl::Postgres(read_url)) = DatabaseUrl::parse(read_url) else {
        anyhow::bail!("MEMORY_DATABASE_READ_URL must be a postgres:// URL");
    };
    // Lazily: a standby that is down at startup is tried again later, the primary answers.
    let standby = PostgresStore::connect_lazily(&read_url, config)
        .context("invalid MEMORY_DATABASE_READ_URL")?;
    tracing::info!("searches and listings read from the standby");
    let routed = Arc::new(WithStandby::new(store.clone(), standby));
    Ok(StorePorts::full(Arc::new(store))
        .with_vectors(routed.clone())
        .with_lexical(routed.clone())
        .with_listing(routed.clone())
        .with_timeline(routed))
}

/// `memory-server migrate`: applies the migrations of the configured store.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    match settings.database().map_err(anyhow::Error::msg)? {
        DatabaseUrl::Sqlite(_) => {
            // Opening the embedded store applies its migrations; it records the model's
            // dimension on first open, so open it with the configured model's.
            let embedder = embedder(settings).await?;
            store(settings, embedder.dimension(), &embedder.model_id()).await?;
        }
        DatabaseUrl::Postgres(url) => {
            let applied = run_migrations(&url).await?;
            eprintln!("{} migration(s) applied: {applied:?}", applied.len());
        }
    }
    eprintln!(
        "migrations applied to {}",
        settings
            .database()
            .map(|d| d.redacted())
            .unwrap_or_default()
    );
    Ok(())
}

/// `memory-server embed`: texts on stdin, JSON lines on stdout, batched as the server does.
pub async fn embed_stdin(settings: &Settings) -> anyhow::Result<()> {
    let config = embedder_config(settings);
    let n = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let encoder = SentenceEncoder::load(&config).context("cannot load the embedding model")?;
        let stdin = std::io::stdin().lock();
        let stdout = std::io::stdout().lock();
        crate::embed_lines::embed_lines(&encoder, stdin, stdout, config.max_batch_size)
    })
    .await??;
    tracing::info!(texts = n, "embedded");
    Ok(())
}

/// `memory-server retention`: one run (archive, then delete) for one tenant or all; prints
/// one JSON line per tenant.
pub async fn retention_once(
    settings: &Settings,
    tenant: Option<&str>,
    dry_run: bool,
) -> anyhow::Result<()> {
    let service = offline_service(settings).await?;
    let tenants = match tenant {
        Some(t) => vec![TenantId::parse(t).map_err(|e| anyhow::anyhow!("--tenant: {e}"))?],
        None => service.list_tenants().await?,
    };
    for tenant_id in tenants {
        let request = RetentionRequest::full(tenant_id.clone(), dry_run);
        let report = service.run_retention(request, &TenantAccess::All).await?;
        println!(
            "{}",
            serde_json::json!({"tenant_id": tenant_id.as_str(), "archived": report.archived, "deleted": report.deleted, "dry_run": report.dry_run})
        );
    }
    Ok(())
}

/// `memory-server export`: a tenant's messages to stdout.
pub async fn export(
    settings: &Settings,
    tenant: &str,
    conversation: Option<&str>,
    embeddings: bool,
) -> anyhow::Result<()> {
    let service = offline_service(settings).await?;
    let stdout = std::io::stdout().lock();
    let n = crate::transfer::export(
        &service,
        tenant,
        conversation,
        embeddings,
        std::io::BufWriter::new(stdout),
    )
    .await?;
    tracing::info!(messages = n, "export done");
    Ok(())
}

/// `memory-server import FILE`: the messages of an export, stored again.
pub async fn import(settings: &Settings, file: &std::path::Path) -> anyhow::Result<()> {
    let service = offline_service(settings).await?;
    let report = if file.as_os_str() == "-" {
        crate::transfer::import(&service, std::io::stdin().lock(), None).await?
    } else {
        let open =
            || std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()));
        let total = std::io::BufRead::lines(std::io::BufReader::new(open()?))
            .filter(|l| l.as_ref().is_ok_and(|l| !l.trim().is_empty()))
            .count() as u64;
        crate::transfer::import(&service, std::io::BufReader::new(open()?), Some(total)).await?
    };
    println!(
        "{}",
        serde_json::json!({"stored": report.stored, "skipped": report.skipped})
    );
    Ok(())
}

/// The service over the configured store and model, without the HTTP server or workers.
async fn offline_service(settings: &Settings) -> anyhow::Result<MemoryService> {
    let embedder = embedder(settings).await?;
    let store = store(settings, embedder.dimension(), &embedder.model_id()).await?;
    Ok(MemoryService::new(
        store,
        embedder,
        crate::startup::service_config(settings)?,
    )?)
}
