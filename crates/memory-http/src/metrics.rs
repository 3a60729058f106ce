//! Prometheus metrics: one [`Metrics`] owns the registry; the HTTP middleware, the handlers,
//! the service (through [`PortObserver`], which times every store call) and the embedder
//! decorator ([`Metrics::instrument_embedder`]) record into it, and `GET /metrics` renders it.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `http_requests_total` | counter | `route` (matched pattern), `method`, `status` |
//! | `http_request_duration_seconds` | histogram | `route`, `method`, `status` |
//! | `embedding_batch_size` | histogram | |
//! | `embedding_duration_seconds` | histogram | `outcome` (`ok`, `overloaded`, `unavailable`, `failed`) |
//! | `store_operation_duration_seconds` | histogram | `operation`, `outcome` (`ok`, `error`) |
//! | `messages_ingested_total` | counter | |
//! | `retention_runs_total` | counter | `dry_run` |
//! | `retention_messages_archived_total` | counter | |
//! | `retention_messages_deleted_total` | counter | |
//! | `retention_run_duration_seconds` | histogram | |
//! | `embeddings_pending` | gauge | |

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use memory_core::domain::Embedding;
use memory_core::error::EmbedderError;
use memory_core::ports::{EmbedPurpose, Embedder, PortObserver};
use memory_core::retention::RetentionReport;
use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

struct Inner {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    embedding_batch_size: Histogram,
    embedding_duration: HistogramVec,
    store_duration: HistogramVec,
    messages_ingested: IntCounter,
    retention_runs: IntCounterVec,
    retention_scheduler_runs: IntCounter,
    retention_archived: IntCounter,
    retention_deleted: IntCounter,
    retention_duration: Histogram,
    embeddings_pending: IntGauge,
}

/// The service's Prometheus metrics. Cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: T) -> T {
    // Names are fixed and unique: registering cannot fail.
    if let Err(e) = registry.register(Box::new(c.clone())) {
        tracing::error!(error = %e, "metric registration failed");
    }
    c
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| {
        unreachable!("invalid metric {name}: {e}");
    });
    register(registry, c)
}

fn histogram_vec(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .unwrap_or_else(|e| unreachable!("invalid metric {name}: {e}"));
    register(registry, h)
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
        .unwrap_or_else(|e| unreachable!("invalid metric {name}: {e}"));
    register(registry, h)
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).unwrap_or_else(|e| unreachable!("invalid {name}: {e}"));
    register(registry, c)
}

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let r = Registry::new();
        let lat = LATENCY_BUCKETS.to_vec();
        let http_requests = counter_vec(
            &r,
            "http_requests_total",
            "HTTP requests by matched route, method and status.",
            &["route", "method", "status"],
        );
        let http_duration = histogram_vec(
            &r,
            "http_request_duration_seconds",
            "HTTP request latency in seconds.",
            &["route", "method", "status"],
            lat.clone(),
        );
        let embedding_batch_size = histogram(
            &r,
            "embedding_batch_size",
            "Texts per embedder call.",
            vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
        );
        let embedding_duration = histogram_vec(
            &r,
            "embedding_duration_seconds",
            "Embedder call latency in seconds, by outcome.",
            &["outcome"],
            lat.clone(),
        );
        let store_duration = histogram_vec(
            &r,
            "store_operation_duration_seconds",
            "Store operation latency in seconds, by operation and outcome.",
            &["operation", "outcome"],
            lat.clone(),
        );
        let messages_ingested = counter(
            &r,
            "messages_ingested_total",
            "Messages stored through the API.",
        );
        let retention_runs = counter_vec(
            &r,
            "retention_runs_total",
            "Retention runs, by whether they were dry runs.",
            &["dry_run"],
        );
        let retention_scheduler_runs = counter(
            &r,
            "retention_scheduler_runs_total",
            "Scheduled retention rounds this process ran (one replica of a fleet per interval).",
        );
        let retention_archived = counter(
            &r,
            "retention_messages_archived_total",
            "Messages archived by retention (dry runs excluded).",
        );
        let retention_deleted = counter(
            &r,
            "retention_messages_deleted_total",
            "Archived messages deleted by retention (dry runs excluded).",
        );
        let retention_duration = histogram(
            &r,
            "retention_run_duration_seconds",
            "Retention run duration in seconds.",
            vec![0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0],
        );
        let embeddings_pending = register(
            &r,
            IntGauge::new(
                "embeddings_pending",
                "Stored messages whose embedding is pending or failed.",
            )
            .unwrap_or_else(|e| unreachable!("invalid embeddings_pending: {e}")),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry: r,
                http_requests,
                http_duration,
                embedding_batch_size,
                embedding_duration,
                store_duration,
                messages_ingested,
                retention_runs,
                retention_scheduler_runs,
                retention_archived,
                retention_deleted,
                retention_duration,
                embeddings_pending,
            }),
        }
    }

    /// The registry, for the binary to add metrics of its own.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.inner.registry.gather())
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "metrics encoding failed");
                String::new()
            })
    }

    /// Wraps an embedder so every call's batch size and latency are recorded.
    pub fn instrument_embedder(&self, e: Arc<dyn Embedder>) -> Arc<dyn Embedder> {
        Arc::new(InstrumentedEmbedder {
            inner: e,
            metrics: self.clone(),
        })
    }

    /// Records a retention run (from the API or the scheduler). Dry runs count as runs only.
    pub fn record_retention(&self, report: &RetentionReport, seconds: f64) {
        let i = &self.inner;
        i.retention_runs
            .with_label_values(&[if report.dry_run { "true" } else { "false" }])
            .inc();
        if !report.dry_run {
            i.retention_archived.inc_by(report.archived);
            i.retention_deleted.inc_by(report.deleted);
        }
        i.retention_duration.observe(seconds);
    }

    /// Records a scheduled retention round run by this process (it held the fleet's lease).
    pub fn record_scheduler_run(&self) {
        self.inner.retention_scheduler_runs.inc();
    }

    /// Sets the number of messages waiting for an embedding.
    pub fn set_pending_embeddings(&self, n: i64) {
        self.inner.embeddings_pending.set(n);
    }

    pub(crate) fn record_ingested(&self) {
        self.inner.messages_ingested.inc();
    }

    pub(crate) fn record_ingested_many(&self, n: usize) {
        self.inner.messages_ingested.inc_by(n as u64);
    }

    pub(crate) fn record_http(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [route, method, status.as_str()];
        self.inner.http_requests.with_label_values(&labels).inc();
        self.inner
            .http_duration
            .with_label_values(&labels)
            .observe(seconds);
    }
}

/// The service tells the metrics about every store call: `store_operation_duration_seconds`
/// by operation (the port method's name) and outcome (`ok` or `error`).
impl PortObserver for Metrics {
    fn store_call(&self, operation: &'static str, elapsed: Duration, ok: bool) {
        self.inner
            .store_duration
            .with_label_values(&[operation, if ok { "ok" } else { "error" }])
            .observe(elapsed.as_secs_f64());
    }
}

/// An embedder that records batch sizes and latencies.
struct InstrumentedEmbedder {
    inner: Arc<dyn Embedder>,
    metrics: Metrics,
}

#[async_trait]
impl Embedder for InstrumentedEmbedder {
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
        let m = &self.metrics.inner;
        m.embedding_batch_size.observe(texts.len() as f64);
        let start = Instant::now();
        let result = self.inner.embed_for(texts, purpose).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(EmbedderError::Overloaded { .. }) => "overloaded",
            Err(EmbedderError::Unavailable { .. }) => "unavailable",
            Err(EmbedderError::Failed { .. }) => "failed",
        };
        m.embedding_duration
            .with_label_values(&[outcome])
            .observe(start.elapsed().as_secs_f64());
        result
    }
}
