//! Test support (feature `testkit`): a real Postgres and a fresh database per test.
//!
//! The server is `MEMORY_TEST_DATABASE_URL` when set (any Postgres with pgvector, reached as a
//! role that may create databases), else the project's own, started once per test binary
//! with `scripts/pg.sh up`. Every [`TestDatabase`] is a new database `test_<uuid>`, so tests
//! run in parallel; it is dropped (`WITH (FORCE)`) when the guard goes out of scope.

use std::process::Command;
use std::sync::OnceLock;

use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};

use crate::{PgStoreError, PostgresConfig, PostgresStore, run_migrations};

/// The environment variable naming the test server.
pub const TEST_DATABASE_URL_ENV: &str = "MEMORY_TEST_DATABASE_URL";

/// The test server's URL (its maintenance database): `MEMORY_TEST_DATABASE_URL`, or the
/// project's Postgres, started with `scripts/pg.sh up` the first time it is asked for.
/// Panics with the script's output when the server cannot be started.
pub fn server_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(url) = std::env::var(TEST_DATABASE_URL_ENV)
            && !url.trim().is_empty()
        {
            return url.trim().to_owned();
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg("up")
            .output()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        assert!(
            out.status.success(),
            "{script} up failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .rev()
            .find(|l| l.starts_with("postgres://") || l.starts_with("postgresql://"))
            .unwrap_or_else(|| panic!("{script} up printed no URL"))
            .to_owned()
    })
}

/// The database name in `url` (its last path segment, without query parameters).
pub fn database_name(url: &str) -> &str {
    let base = url.split_once('?').map_or(url, |(b, _)| b);
    base.rsplit('/').next().unwrap_or(base)
}

/// `url` with its database name replaced by `database` (query parameters kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, params) = match url.split_once('?') {
        Some((b, p)) => (b, Some(p)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match params {
        Some(p) => format!("{root}/{database}?{p}"),
        None => format!("{root}/{database}"),
    }
}

/// A database of its own for one test, dropped when this guard is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    /// Its name (`test_<uuid>`).
    pub name: String,
    admin_url: String,
}

impl TestDatabase {
    /// A new, empty database (the vector extension comes from template1 on the project's
    /// server; the migrations create it elsewhere).
    pub async fn create() -> Result<Self, PgStoreError> {
        let admin_url = server_url().to_owned();
        let name = format!("test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = AsyncPgConnection::establish(&admin_url).await?;
        diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await?;
        Ok(Self {
            url: with_database(&admin_url, &name),
            name,
            admin_url,
        })
    }

    /// A new database with the migrations applied.
    pub async fn migrated() -> Result<Self, PgStoreError> {
        let db = Self::create().await?;
        run_migrations(&db.url).await?;
        Ok(db)
    }

    /// A store on this database.
    pub async fn store(&self, config: PostgresConfig) -> Result<PostgresStore, PgStoreError> {
        PostgresStore::connect(&self.url, config).await
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // Drop may run inside a runtime: use a thread with a runtime of its own, and wait for
        // it so the database is gone before the test binary exits.
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let dropper = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = AsyncPgConnection::establish(&admin_url).await {
                    let _ = diesel::sql_query(sql).execute(&mut conn).await;
                }
            });
        });
        let _ = dropper.join();
    }
}

/// A small deterministic PRNG (splitmix64) for synthetic data: no dependency, same data on
/// every machine.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_f64() * n as f64) as usize % n.max(1)
    }

    /// Standard normal (Box-Muller).
    pub fn gaussian(&mut self) -> f64 {
        let u1 = self.next_f64().max(f64::MIN_POSITIVE);
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Scales `v` to unit length (leaves a zero vector alone).
pub fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

/// Unit vectors shaped like sentence embeddings: random unit centres ("topics"), each sample
/// a centre plus gaussian noise, normalised. Harder for HNSW than real text.
#[derive(Debug, Clone)]
pub struct Clustered {
    centres: Vec<Vec<f32>>,
    noise: f32,
}

impl Clustered {
    /// `clusters` centres in `dim` dimensions; `noise` is the per-component standard deviation
    /// (0.05 at 384 dimensions puts samples at cosine ~0.7 from their centre).
    pub fn new(dim: usize, clusters: usize, noise: f32, rng: &mut Rng) -> Self {
        let centres = (0..clusters.max(1))
            .map(|_| {
                let mut c: Vec<f32> = (0..dim).map(|_| rng.gaussian() as f32).collect();
                normalise(&mut c);
                c
            })
            .collect();
        Self { centres, noise }
    }

    /// Number of centres.
    pub fn clusters(&self) -> usize {
        self.centres.len()
    }

    /// A sample near centre `cluster`.
    pub fn sample_near(&self, cluster: usize, rng: &mut Rng) -> Vec<f32> {
        let c = &self.centres[cluster % self.centres.len()];
        let mut v: Vec<f32> = c
            .iter()
            .map(|x| x + self.noise * rng.gaussian() as f32)
            .collect();
        normalise(&mut v);
        v
    }

    /// A sample near a random centre.
    pub fn sample(&self, rng: &mut Rng) -> Vec<f32> {
        let cluster = rng.below(self.centres.len());
        self.sample_near(cluster, rng)
    }
}

/// One synthetic, embedded message for [`bulk_insert`].
#[derive(Debug, Clone)]
pub struct SyntheticRow {
    /// Tenant.
    pub tenant: String,
    /// Conversation.
    pub conversation: String,
    /// Importance in `[0, 1]`.
    pub importance: f64,
    /// The embedding (the store's dimension).
    pub embedding: Vec<f32>,
}

/// The content of every [`bulk_insert`] row.
pub const SYNTHETIC_CONTENT: &str = "synthetic message";

/// Inserts `rows` as completed messages (content [`SYNTHETIC_CONTENT`], analysed), `batch`
/// rows per multi-row INSERT (an `INSERT ... SELECT FROM unnest(arrays)`), then ANALYZEs;
/// returns their ids in order. With
/// `rebuild_hnsw` the HNSW index is dropped first and built again from its own definition
/// afterwards (much faster than inserting into it row by row). Tenants with at least the
/// default `exact_scan_threshold` rows in `rows` are listed as large first, so their rows go
/// into the HNSW index as the store would have put them. For tests and benchmarks: it
/// bypasses the store.
pub async fn bulk_insert(
    url: &str,
    rows: &[SyntheticRow],
    batch: usize,
    rebuild_hnsw: bool,
) -> Result<Vec<uuid::Uuid>, PgStoreError> {
    use diesel::sql_types::{Array, Double, Integer, Text, Timestamptz, Uuid as SqlUuid};
    #[derive(diesel::QueryableByName)]
    struct IndexDef {
        #[diesel(sql_type = Text)]
        indexdef: String,
    }
    let mut conn = AsyncPgConnection::establish(url).await?;
    let hnsw: Vec<IndexDef> = if rebuild_hnsw {
        diesel::sql_query(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'messages_embedding_hnsw_idx'",
        )
        .load(&mut conn)
        .await?
    } else {
        Vec::new()
    };
    if !hnsw.is_empty() {
        diesel::sql_query("DROP INDEX messages_embedding_hnsw_idx")
            .execute(&mut conn)
            .await?;
    }
    let mut sizes: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
    for r in rows {
        *sizes.entry(r.tenant.as_str()).or_default() += 1;
    }
    let threshold = crate::PostgresConfig::default().exact_scan_threshold;
    let large: Vec<&str> = sizes
        .into_iter()
        .filter(|&(_, n)| n >= threshold)
        .map(|(t, _)| t)
        .collect();
    diesel::sql_query(
        "INSERT INTO large_tenants (tenant_id) SELECT unnest($1) ON CONFLICT DO NOTHING",
    )
    .bind::<Array<Text>, _>(&large)
    .execute(&mut conn)
    .await?;
    // Analysed as the service would have, so the rows are like the ones it writes.
    let analysed = memory_core::text::Analyzer::english().analyze(SYNTHETIC_CONTENT);
    let analysed_length = i32::try_from(analysed.length()).unwrap_or(i32::MAX);
    let now = chrono::Utc::now();
    let mut ids = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch.max(1)) {
        let chunk_ids: Vec<uuid::Uuid> = chunk.iter().map(|_| uuid::Uuid::now_v7()).collect();
        let tenants: Vec<&str> = chunk.iter().map(|r| r.tenant.as_str()).collect();
        let conversations: Vec<&str> = chunk.iter().map(|r| r.conversation.as_str()).collect();
        let importance: Vec<f64> = chunk.iter().map(|r| r.importance).collect();
        let vectors: Vec<pgvector::Vector> = chunk
            .iter()
            .map(|r| pgvector::Vector::from(r.embedding.clone()))
            .collect();
        let created: Vec<chrono::DateTime<chrono::Utc>> = (0..chunk.len())
            .map(|i| now - chrono::Duration::milliseconds((rows.len() - ids.len() - i) as i64))
            .collect();
        diesel::sql_query(
            "INSERT INTO messages (id, tenant_id, conversation_id, role, content, metadata, \
             importance_score, embedding, embedding_status, created_at, updated_at, \
             lexical_terms, lexical_length) \
             SELECT id, t, c, 'user', $7, '{}'::jsonb, imp, e, 'completed', \
             ts, ts, $8, $9 FROM unnest($1, $2, $3, $4, $5, $6) AS u(id, t, c, imp, e, ts)",
        )
        .bind::<Array<SqlUuid>, _>(&chunk_ids)
        .bind::<Array<Text>, _>(&tenants)
        .bind::<Array<Text>, _>(&conversations)
        .bind::<Array<Double>, _>(&importance)
        .bind::<Array<pgvector::sql_types::Vector>, _>(&vectors)
        .bind::<Array<Timestamptz>, _>(&created)
        .bind::<Text, _>(SYNTHETIC_CONTENT)
        .bind::<Text, _>(analysed.terms())
        .bind::<Integer, _>(analysed_length)
        .execute(&mut conn)
        .await?;
        ids.extend(chunk_ids);
    }
    for def in &hnsw {
        diesel::sql_query(def.indexdef.as_str())
            .execute(&mut conn)
            .await?;
    }
    diesel::sql_query("ANALYZE messages")
        .execute(&mut conn)
        .await?;
    Ok(ids)
}

/// Top-`k` ids by exact cosine distance among `candidates`, the ground truth for recall.
pub fn exact_top_k(
    query: &[f32],
    candidates: &[(uuid::Uuid, &[f32])],
    k: usize,
) -> Vec<uuid::Uuid> {
    let mut scored: Vec<(f32, uuid::Uuid)> = candidates
        .iter()
        .map(|(id, v)| (memory_core::domain::cosine_similarity(query, v), *id))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(k).map(|(_, id)| id).collect()
}

/// Fraction of `truth` found in `got`.
pub fn recall(truth: &[uuid::Uuid], got: &[uuid::Uuid]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let hits = truth.iter().filter(|id| got.contains(id)).count();
    hits as f64 / truth.len() as f64
}
