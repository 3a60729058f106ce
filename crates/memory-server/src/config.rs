//! Configuration: `MEMORY_*` environment variables (and an optional `.env`), validated at
//! startup. Each setting is also a command-line flag; `memory-server --help` lists them.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

/// Where messages are kept, decided by `MEMORY_DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// The embedded store: a SQLite file (created on first start).
    Sqlite(String),
    /// The production store: Postgres with pgvector.
    Postgres(String),
}

impl DatabaseUrl {
    /// Parses `sqlite://path`, `sqlite:path`, `postgres://...` or `postgresql://...`. The
    /// Python design's `postgresql+asyncpg://...` is accepted too (the driver part is dropped).
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(url.to_owned()))
        } else if let Some(rest) = url
            .strip_prefix("postgresql+asyncpg://")
            .or_else(|| url.strip_prefix("postgresql+psycopg://"))
            .or_else(|| url.strip_prefix("postgresql://"))
            .or_else(|| url.strip_prefix("postgres://"))
        {
            Ok(Self::Postgres(format!("postgres://{rest}")))
        } else {
            Err(format!(
                "MEMORY_DATABASE_URL must start with sqlite:// or postgres://, got {:?}",
                redact(url)
            ))
        }
    }

    /// The URL with any password hidden, for logs.
    pub fn redacted(&self) -> String {
        match self {
            Self::Sqlite(u) | Self::Postgres(u) => redact(u),
        }
    }
}

/// Hides the password of `scheme://user:password@host`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Search mode setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SearchModeSetting {
    /// Dense nearest neighbours plus lexical matches, fused.
    Hybrid,
    /// Dense nearest neighbours only (the seed's method).
    Vector,
    /// Lexical matches only (no query embedding).
    Lexical,
}

impl From<SearchModeSetting> for memory_core::domain::SearchMode {
    fn from(s: SearchModeSetting) -> Self {
        match s {
            SearchModeSetting::Hybrid => Self::Hybrid,
            SearchModeSetting::Vector => Self::Vector,
            SearchModeSetting::Lexical => Self::Lexical,
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Embedding provider. The seed's `sentence_transformer` is the only one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EmbeddingProvider {
    /// A sentence-transformers BERT model run in-process with candle.
    #[value(name = "sentence_transformer", alias = "sentence-transformers")]
    SentenceTransformer,
}

/// A setting that must never be printed: its `Debug` is `"***"` (`""` when empty), so
/// `Settings` can be logged or shown in a panic without leaking API keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one place that parses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "\"***\"" })
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

/// Every setting of the server.
#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Interface to listen on.
    #[arg(long, env = "MEMORY_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one).
    #[arg(long, env = "MEMORY_PORT", default_value_t = 8000)]
    pub port: u16,
    /// sqlite://path (embedded, default) or postgres://user:pass@host/db.
    #[arg(
        long,
        env = "MEMORY_DATABASE_URL",
        default_value = "sqlite://./data/memory.db"
    )]
    pub database_url: String,
    /// A hot standby of the Postgres primary (streaming replication): searches, listings and
    /// time lines read from it; writes and reads by id go to the primary; a failing standby
    /// falls back to the primary (docs/scale-out.md). Unset: everything on the primary.
    #[arg(long, env = "MEMORY_DATABASE_READ_URL", hide_env_values = true)]
    pub database_read_url: Option<String>,
    /// Apply database migrations at startup.
    #[arg(long, env = "MEMORY_AUTO_MIGRATE", default_value_t = true, action = clap::ArgAction::Set)]
    pub auto_migrate: bool,
    /// Postgres connection pool size.
    #[arg(long, env = "MEMORY_DB_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
    /// Postgres: most single-message inserts written at once; more wait and are written
    /// together, one statement for many messages (docs/storage-postgres.md).
    #[arg(long, env = "MEMORY_DB_INSERT_WRITERS", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_insert_writers: u32,
    /// Embedded store: memory for the in-memory vector index (every searched tenant's
    /// vectors, about 160 MB per 100k messages), in MiB; 0 scans the table on every search.
    #[arg(long, env = "MEMORY_SQLITE_VECTOR_CACHE_MB", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    pub sqlite_vector_cache_mb: u32,
    /// Embedded store: memory for the in-memory lexical index (every searched tenant's
    /// postings, about 25 MB per 100k messages), in MiB; 0 reads every match from FTS5.
    #[arg(long, env = "MEMORY_SQLITE_LEXICAL_CACHE_MB", default_value_t = 256, value_parser = clap::value_parser!(u32).range(0..=1_048_576))]
    pub sqlite_lexical_cache_mb: u32,
    /// API keys, comma separated; `key:tenant1|tenant2` binds a key to tenants. Empty: no auth.
    #[arg(
        long,
        env = "MEMORY_API_KEYS",
        default_value = "",
        hide_env_values = true
    )]
    pub api_keys: Secret,
    /// CORS origins allowed, comma separated (empty: no cross-origin access).
    #[arg(long, env = "MEMORY_ALLOWED_ORIGINS", default_value = "")]
    pub allowed_origins: String,
    /// Requests per client IP (and per API key), e.g. 200/minute, 10/second, 5000/hour.
    #[arg(long, env = "MEMORY_GLOBAL_RATE_LIMIT", default_value = "200/minute")]
    pub global_rate_limit: String,
    /// How many replicas enforce MEMORY_GLOBAL_RATE_LIMIT together: each allows its share
    /// (limit/N, burst too), so a client spread over the fleet gets the configured rate.
    #[arg(long, env = "MEMORY_RATE_LIMIT_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub rate_limit_replicas: u32,
    /// Reverse proxies and load balancers (IPs and CIDR ranges, comma separated, e.g.
    /// 10.0.0.0/8,127.0.0.1,::1) whose X-Forwarded-For names the client IP that is rate
    /// limited. Empty: trust no one; the client IP is the TCP peer.
    #[arg(long, env = "MEMORY_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// API requests served at once; beyond it, 503 `overloaded` with Retry-After at once
    /// (load shedding: bounded memory and latency under overload).
    #[arg(long, env = "MEMORY_MAX_IN_FLIGHT", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_in_flight: u32,
    /// Serve the browser console at /console (static files; it uses the key the user types).
    #[arg(long, env = "MEMORY_CONSOLE", default_value_t = true, action = clap::ArgAction::Set)]
    pub console: bool,
    /// Upper bound on every request's duration, in seconds.
    #[arg(long, env = "MEMORY_REQUEST_TIMEOUT_SECONDS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub request_timeout_seconds: u64,
    /// Embedding provider.
    #[arg(
        long,
        env = "MEMORY_EMBEDDING_PROVIDER",
        value_enum,
        default_value = "sentence_transformer"
    )]
    pub embedding_provider: EmbeddingProvider,
    /// Hugging Face model id of a BERT-family sentence-transformers model.
    #[arg(
        long,
        env = "MEMORY_EMBEDDING_MODEL_NAME",
        default_value = "sentence-transformers/all-MiniLM-L6-v2"
    )]
    pub embedding_model_name: String,
    /// A local directory with config.json, tokenizer.json and model.safetensors (skips the cache and the hub).
    #[arg(long, env = "MEMORY_EMBEDDING_MODEL_PATH")]
    pub embedding_model_path: Option<PathBuf>,
    /// Most texts in one forward pass of the model.
    #[arg(long, env = "MEMORY_EMBEDDING_MAX_BATCH_SIZE", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub embedding_max_batch_size: u32,
    /// Most bytes of text in one forward pass (a longer text is a pass of its own); half of it
    /// while searches arrive (a query in the last second), so searches share the CPU with
    /// shorter passes.
    #[arg(long, env = "MEMORY_EMBEDDING_MAX_PASS_BYTES", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    pub embedding_max_pass_bytes: u32,
    /// Most texts waiting for the model; beyond it embedding is refused at once (overloaded).
    #[arg(long, env = "MEMORY_EMBEDDING_QUEUE_CAPACITY", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub embedding_queue_capacity: u32,
    /// Most work, in ms (estimated from the model's recent speed), a search's query (or the
    /// catch-up backlog) may queue behind; beyond it the call is refused at once. 0: only the
    /// queue capacity bounds the queue.
    #[arg(
        long,
        env = "MEMORY_EMBEDDING_MAX_QUEUE_WAIT_MS",
        default_value_t = 2000
    )]
    pub embedding_max_queue_wait_ms: u64,
    /// The same bound for a write's texts: beyond it the write does not wait for the model
    /// and is stored pending (embedded later by the catch-up worker). 0: off.
    #[arg(
        long,
        env = "MEMORY_EMBEDDING_MAX_INGEST_WAIT_MS",
        default_value_t = 300
    )]
    pub embedding_max_ingest_wait_ms: u64,
    /// How long the model waits for more requests to fill a batch once it has one, in ms.
    #[arg(long, env = "MEMORY_EMBEDDING_MAX_WAIT_MS", default_value_t = 2)]
    pub embedding_max_wait_ms: u64,
    /// Threads for the forward pass; 0: one per core.
    #[arg(long, env = "MEMORY_EMBEDDING_THREADS", default_value_t = 0)]
    pub embedding_threads: usize,
    /// The arithmetic of the model's linear layers: `bf16` (AVX-512 BF16, about 1.6x faster,
    /// within cosine 1e-4 of f32, the same retrieval quality; a CPU without it runs f32 and
    /// says so at startup) or `f32` (exact: sentence-transformers' vectors).
    #[arg(long, env = "MEMORY_EMBEDDING_PRECISION", default_value = "bf16")]
    pub embedding_precision: memory_embed_candle::Precision,
    /// Download the model from the Hugging Face hub when it is in neither the model path nor
    /// the cache (`HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`).
    #[arg(long, env = "MEMORY_EMBEDDING_ALLOW_DOWNLOAD", default_value_t = true, action = clap::ArgAction::Set)]
    pub embedding_allow_download: bool,
    /// Archive messages older than this many days (default policy).
    #[arg(long, env = "MEMORY_RETENTION_MAX_AGE_DAYS", default_value_t = 30)]
    pub retention_max_age_days: u32,
    /// Archive messages with importance below this (default policy).
    #[arg(
        long,
        env = "MEMORY_RETENTION_IMPORTANCE_THRESHOLD",
        default_value_t = 0.35
    )]
    pub retention_importance_threshold: f64,
    /// Delete archived messages this many days after archiving (default policy).
    #[arg(long, env = "MEMORY_RETENTION_DELETE_AFTER_DAYS", default_value_t = 90)]
    pub retention_delete_after_days: u32,
    /// Run retention for every tenant this often, in seconds; 0 disables the scheduler.
    #[arg(
        long,
        env = "MEMORY_RETENTION_SCHEDULE_SECONDS",
        default_value_t = 3600
    )]
    pub retention_schedule_seconds: u64,
    /// Remember an Idempotency-Key for at least this many hours (records are purged by the
    /// retention scheduler once older).
    #[arg(long, env = "MEMORY_IDEMPOTENCY_TTL_HOURS", default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=8760))]
    pub idempotency_ttl_hours: u32,
    /// Ranking: weight of cosine similarity.
    #[arg(long, env = "MEMORY_RANKING_SIMILARITY_WEIGHT", default_value_t = 0.6)]
    pub ranking_similarity_weight: f64,
    /// Ranking: weight of importance.
    #[arg(long, env = "MEMORY_RANKING_IMPORTANCE_WEIGHT", default_value_t = 0.3)]
    pub ranking_importance_weight: f64,
    /// Ranking: weight of the recency decay.
    #[arg(long, env = "MEMORY_RANKING_DECAY_WEIGHT", default_value_t = 0.1)]
    pub ranking_decay_weight: f64,
    /// Ranking: time constant of exp(-age_days / decay_days).
    #[arg(long, env = "MEMORY_RANKING_DECAY_DAYS", default_value_t = 7.0)]
    pub ranking_decay_days: f64,
    /// Search mode when a request names none: hybrid (dense + lexical, fused), vector or
    /// lexical.
    #[arg(
        long,
        env = "MEMORY_SEARCH_DEFAULT_MODE",
        value_enum,
        default_value = "hybrid"
    )]
    pub search_default_mode: SearchModeSetting,
    /// The least relevance a search result must reach when the request names none, 0-1
    /// (0 keeps everything; docs/scoring.md).
    #[arg(long, env = "MEMORY_SEARCH_MIN_RELEVANCE", default_value_t = memory_core::domain::MinRelevance::DEFAULT.value())]
    pub search_min_relevance: f64,
    /// Hybrid search: weight of the lexical (BM25) score in the fused relevance, 0-1.
    #[arg(long, env = "MEMORY_HYBRID_LEXICAL_WEIGHT", default_value_t = memory_core::scoring::HybridConfig::default().lexical_weight())]
    pub hybrid_lexical_weight: f64,
    /// Hybrid search: BM25 length normalisation b, 0-1 (0: none; 0.3 suits a store of long
    /// assistant replies better, see docs/scoring.md).
    #[arg(long, env = "MEMORY_HYBRID_BM25_B", default_value_t = memory_core::scoring::HybridConfig::default().bm25().b())]
    pub hybrid_bm25_b: f64,
    /// Hybrid search: most lexical matches (the best by BM25) fused with the vector
    /// candidates, 1-100000. Each is read whole, so fewer make big-tenant searches faster and
    /// may rank differently (docs/scoring.md).
    #[arg(long, env = "MEMORY_HYBRID_LEXICAL_LIMIT", default_value_t = memory_core::scoring::HybridConfig::default().lexical_limit() as u32, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub hybrid_lexical_limit: u32,
    /// Name of this deployment, shown by the health check.
    #[arg(long, env = "MEMORY_ENVIRONMENT", default_value = "local")]
    pub environment: String,
    /// Log format.
    #[arg(long, env = "MEMORY_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax), e.g. info or memory_http=debug.
    #[arg(long, env = "MEMORY_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

impl Settings {
    /// Settings from the environment only (no command line), for tests and embedding.
    pub fn from_env() -> Result<Self, clap::Error> {
        #[derive(clap::Parser)]
        struct Only {
            #[command(flatten)]
            settings: Settings,
        }
        <Only as clap::Parser>::try_parse_from(["memory-server"]).map(|o| o.settings)
    }

    /// The database, parsed.
    pub fn database(&self) -> Result<DatabaseUrl, String> {
        DatabaseUrl::parse(&self.database_url)
    }

    /// Origins as a list.
    pub fn origins(&self) -> Vec<String> {
        self.allowed_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            DatabaseUrl::parse("postgresql+asyncpg://u:p@h/db"),
            Ok(DatabaseUrl::Postgres("postgres://u:p@h/db".into()))
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://./data/x.db"),
            Ok(DatabaseUrl::Sqlite("sqlite://./data/x.db".into()))
        );
        let err = DatabaseUrl::parse("mysql://u:secret@h/db").expect_err("unsupported");
        assert!(
            !err.contains("secret"),
            "passwords never reach messages: {err}"
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u:secret@h/db").map(|d| d.redacted()),
            Ok("postgres://u:***@h/db".into())
        );
    }

    #[test]
    fn api_keys_never_show_in_debug_output() {
        let mut settings = Settings::from_env().expect("defaults parse");
        settings.api_keys = "s3cret-key:acme,other-s3cret".into();
        let shown = format!("{settings:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("api_keys: \"***\""), "{shown}");
        assert_eq!(settings.api_keys.expose(), "s3cret-key:acme,other-s3cret");
        assert!(
            crate::startup::http_config(&settings).is_ok(),
            "still parsed"
        );
    }

    #[test]
    fn hybrid_settings_reach_the_service_and_are_validated() {
        let mut settings = Settings::from_env().expect("defaults parse");
        settings.hybrid_bm25_b = 0.3;
        settings.hybrid_lexical_weight = 0.6;
        settings.hybrid_lexical_limit = 1000;
        let config = crate::startup::service_config(&settings).expect("valid");
        assert_eq!(config.hybrid.lexical_limit(), 1000);
        assert_eq!(config.hybrid.bm25().b(), 0.3);
        assert_eq!(config.hybrid.bm25().k1(), 1.2, "k1 keeps its default");
        assert_eq!(config.hybrid.lexical_weight(), 0.6);
        settings.hybrid_bm25_b = 1.5;
        let err = crate::startup::service_config(&settings).expect_err("b above 1");
        assert!(err.to_string().contains("MEMORY_HYBRID_"), "{err}");
    }

    #[test]
    fn a_batch_may_embed_for_half_the_request_timeout() {
        let mut settings = Settings::from_env().expect("defaults parse");
        settings.request_timeout_seconds = 15;
        let config = crate::startup::service_config(&settings).expect("valid");
        assert_eq!(
            config.batch_embed_budget,
            Some(chrono::Duration::milliseconds(7_500))
        );
    }

    #[test]
    fn embedding_settings_reach_the_embedder() {
        let mut settings = Settings::from_env().expect("defaults parse");
        let defaults = crate::adapters::embedder_config(&settings);
        assert_eq!(
            (defaults.max_batch_size, defaults.queue_capacity),
            (32, 1024)
        );
        assert!(defaults.cache_dir.is_some(), "the Hugging Face cache");
        settings.embedding_max_batch_size = 64;
        settings.embedding_max_queue_wait_ms = 750;
        settings.embedding_max_ingest_wait_ms = 120;
        settings.embedding_allow_download = false;
        assert_eq!(defaults.precision, memory_embed_candle::Precision::Bf16);
        settings.embedding_precision = memory_embed_candle::Precision::F32;
        let c = crate::adapters::embedder_config(&settings);
        assert_eq!(c.precision, memory_embed_candle::Precision::F32);
        assert_eq!(c.max_batch_size, 64);
        assert_eq!(c.max_queue_wait, std::time::Duration::from_millis(750));
        assert_eq!(c.max_ingest_wait, std::time::Duration::from_millis(120));
        assert!(!c.allow_download);
    }

    #[test]
    fn sqlite_cache_budgets_reach_the_store() {
        let mut settings = Settings::from_env().expect("defaults parse");
        let defaults = crate::adapters::sqlite_options(&settings, 384, "m");
        assert_eq!(defaults.vector_cache_bytes, 1 << 30);
        assert_eq!(defaults.lexical_cache_bytes, 256 << 20);
        settings.sqlite_vector_cache_mb = 0;
        settings.sqlite_lexical_cache_mb = 64;
        let options = crate::adapters::sqlite_options(&settings, 384, "m");
        assert_eq!(options.vector_cache_bytes, 0, "0 turns the index off");
        assert_eq!(options.lexical_cache_bytes, 64 << 20);
        assert_eq!(options.model_id.as_deref(), Some("m"));
    }

    #[test]
    fn trusted_proxies_reach_the_http_layer_and_are_validated() {
        let mut settings = Settings::from_env().expect("defaults parse");
        settings.trusted_proxies = String::new();
        let http = crate::startup::http_config(&settings).expect("valid");
        assert!(http.trusted_proxies.is_empty(), "trust no one by default");
        settings.trusted_proxies = "10.0.0.0/8, 127.0.0.1,::1".into();
        let http = crate::startup::http_config(&settings).expect("valid");
        assert!(
            http.trusted_proxies
                .contains("10.2.3.4".parse().expect("ip"))
        );
        settings.trusted_proxies = "10.0.0.0/8,proxy.internal".into();
        let err = crate::startup::http_config(&settings)
            .expect_err("a host name")
            .to_string();
        assert!(
            err.contains("MEMORY_TRUSTED_PROXIES") && err.contains("\"proxy.internal\""),
            "{err}"
        );
    }
}
