//! Background work: the retention scheduler and the embedding catch-up worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use memory_core::MemoryService;
use memory_core::access::TenantAccess;
use memory_core::error::{CoreError, EmbedderError};
use memory_core::retention::RetentionRequest;
use memory_http::Metrics;
use tokio::sync::watch;

/// The fleet-wide lease the retention scheduler holds while it runs.
pub const RETENTION_LEASE: &str = "retention-scheduler";

/// Runs retention (archive, then delete) for every tenant every `every`, then purges expired
/// idempotency keys, one run at a time: runs are sequential in this one task, and a run that
/// overruns the period delays the next.
///
/// With several replicas on one store, a round runs in one of them per interval: each round
/// starts by taking the store's lease [`RETENTION_LEASE`] for `every` (refused while another
/// replica holds it) and renews it before each tenant, so two replicas never run at once
/// unless one tenant's retention outlasts the interval. The lease is not given back at the
/// end of a round: the interval is the round's. A replica that dies stops renewing, and
/// another takes over when the lease expires.
pub async fn retention_scheduler(
    service: Arc<MemoryService>,
    metrics: Metrics,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let holder = format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple());
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick fires at once: let the server start first
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        match service.try_lease(RETENTION_LEASE, &holder, every).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!("retention: another replica holds this interval");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention: cannot take the lease");
                continue;
            }
        }
        metrics.record_scheduler_run();
        let tenants = match service.list_tenants().await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(error = %e, "retention: cannot list tenants");
                continue;
            }
        };
        for tenant in tenants {
            if !matches!(
                service.try_lease(RETENTION_LEASE, &holder, every).await,
                Ok(true)
            ) {
                tracing::warn!("retention: lost the lease mid-round; another replica goes on");
                break;
            }
            let started = Instant::now();
            let request = RetentionRequest::full(tenant.clone(), false);
            match service.run_retention(request, &TenantAccess::All).await {
                Ok(report) => {
                    metrics.record_retention(&report, started.elapsed().as_secs_f64());
                    if report.archived > 0 || report.deleted > 0 {
                        tracing::info!(tenant = %tenant, archived = report.archived, deleted = report.deleted, "retention run");
                    }
                }
                Err(e) => tracing::warn!(tenant = %tenant, error = %e, "retention run failed"),
            }
        }
        match service.purge_idempotency().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "expired idempotency keys purged"),
            Err(e) => tracing::warn!(error = %e, "cannot purge idempotency keys"),
        }
    }
}

/// Embeds messages left `pending` or `failed` (a crash between commit and embedding, an
/// embedder failure), and analyses messages stored without analysed text (by another, older
/// process on the same store): at startup, then every `every`, with exponential backoff on
/// errors.
pub async fn embedding_worker(
    service: Arc<MemoryService>,
    metrics: Metrics,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    const BATCH: usize = 32;
    const MAX_BACKOFF: Duration = Duration::from_secs(300);
    let mut backoff = every;
    loop {
        match service.analyze_unanalyzed(1000).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(analysed = n, "analysed messages for lexical search"),
            Err(e) => tracing::warn!(error = %e, "cannot analyse stored messages"),
        }
        let wait = match service.embed_pending(BATCH).await {
            // A full batch: there may be more, go on at once.
            Ok(n) if n == BATCH => Duration::ZERO,
            Ok(n) => {
                if n > 0 {
                    tracing::info!(embedded = n, "embedding worker caught up");
                }
                backoff = every;
                every
            }
            // The model is busy with queries and writes (the backlog is served last): not a
            // failure, so no backoff; try again when it expects to have room.
            Err(CoreError::Embedder(EmbedderError::Overloaded { retry_after, .. })) => {
                tracing::debug!(?retry_after, "embedding worker: the model is busy");
                retry_after.clamp(
                    Duration::from_millis(100),
                    every.max(Duration::from_millis(100)),
                )
            }
            // Likewise when the backlog's turn did not come within the embedding budget
            // (queries and writes kept the model): try again after the usual pause.
            Err(CoreError::Embedder(EmbedderError::Unavailable { .. })) => {
                tracing::debug!("embedding worker: no room on the model in time");
                every
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_s = backoff.as_secs(), "embedding worker failed");
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        if let Ok(pending) = service.pending_embeddings().await {
            metrics.set_pending_embeddings(i64::try_from(pending).unwrap_or(i64::MAX));
        }
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}
