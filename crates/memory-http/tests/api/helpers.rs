//! `spawn_app`: the real server on a free port, and test doubles for the ports.

use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use memory_core::domain::{ConversationId, Embedding, Message, MessageId, TenantId};
use memory_core::error::{EmbedderError, RepositoryError};
use memory_core::ports::{
    CandidateQuery, Embedder, EmbeddingUpdate, LexicalMatches, LexicalQuery, MessageRepository,
    RetentionPolicyStore, Store, SystemClock,
};
use memory_core::retention::{ArchiveRule, RetentionPolicy};
use memory_core::scoring::Candidate;
use memory_core::{MemoryService, ServiceConfig};
use memory_http::{ApiKeys, HttpConfig, Metrics, RateLimit, TrustedProxies, serve};
use serde_json::{Value, json};

use crate::in_memory::{InMemoryStore, ToyEmbedder};

/// How to configure one test server.
pub struct Options {
    pub api_keys: &'static str,
    pub rate_limit: &'static str,
    pub trusted_proxies: &'static str,
    pub origins: Vec<String>,
    pub timeout: Duration,
    pub max_in_flight: usize,
    pub store: Option<Arc<dyn Store>>,
    pub embedder: Option<Arc<dyn Embedder>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            api_keys: "",
            rate_limit: "100000/second",
            trusted_proxies: "",
            origins: Vec::new(),
            timeout: Duration::from_secs(10),
            max_in_flight: 512,
            store: None,
            embedder: None,
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
}

pub async fn spawn_app() -> TestApp {
    spawn_with(Options::default()).await
}

pub async fn spawn_with(opts: Options) -> TestApp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    let port = listener.local_addr().expect("local addr").port();
    let metrics = Metrics::new();
    let store = metrics.instrument_store(
        opts.store
            .unwrap_or_else(|| Arc::new(InMemoryStore::default())),
    );
    let embedder =
        metrics.instrument_embedder(opts.embedder.unwrap_or_else(|| Arc::new(ToyEmbedder)));
    let service = MemoryService::new(store, embedder, SystemClock, ServiceConfig::default())
        .expect("service");
    let config = HttpConfig {
        api_keys: ApiKeys::parse(opts.api_keys).expect("keys"),
        allowed_origins: opts.origins,
        rate_limit: RateLimit::parse(opts.rate_limit).expect("rate"),
        trusted_proxies: TrustedProxies::parse(opts.trusted_proxies).expect("proxies"),
        request_timeout: opts.timeout,
        max_in_flight: opts.max_in_flight,
        environment: "test".into(),
        version: "9.9.9".into(),
    };
    let server = serve(listener, Arc::new(service), config, metrics).expect("serve");
    tokio::spawn(server);
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::new(),
    }
}

/// A client whose connections come from another loopback address (127.0.0.x).
pub fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::from(ip))
        .build()
        .expect("client")
}

pub fn message(tenant: &str, content: &str) -> Value {
    json!({"tenant_id": tenant, "conversation_id": "conv-1", "role": "user", "content": content})
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn post_message(&self, body: &Value, key: Option<&str>) -> reqwest::Response {
        let mut req = self.client.post(self.url("/v1/messages")).json(body);
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url(path));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        req.send().await.expect("request")
    }

    pub async fn search(&self, params: &[(&str, &str)], key: Option<&str>) -> reqwest::Response {
        let mut req = self.client.get(self.url("/v1/memory/search")).query(params);
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        req.send().await.expect("request")
    }

    pub async fn retention(&self, body: &Value, key: Option<&str>) -> reqwest::Response {
        let mut req = self
            .client
            .post(self.url("/v1/admin/retention/run"))
            .json(body);
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        req.send().await.expect("request")
    }

    pub async fn metrics(&self) -> String {
        self.get("/metrics", None).await.text().await.expect("text")
    }
}

/// Asserts the status and the error JSON shape; returns the body.
pub async fn assert_error(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json"),
        "error bodies are JSON"
    );
    let body: Value = res.json().await.expect("JSON body");
    assert_eq!(body["code"], code, "{body}");
    assert!(body["message"].is_string(), "{body}");
    assert!(body["details"].is_array(), "{body}");
    body
}

/// The fields named in an error's details.
pub fn fields(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| {
            assert!(d["rule"].is_string(), "{d}");
            d["field"].as_str().expect("field").to_owned()
        })
        .collect()
}

/// An embedder that takes its time, to trip the request timeout.
pub struct SlowEmbedder(pub Duration);

#[async_trait]
impl Embedder for SlowEmbedder {
    fn model_id(&self) -> String {
        "slow".into()
    }
    fn dimension(&self) -> usize {
        ToyEmbedder.dimension()
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        tokio::time::sleep(self.0).await;
        ToyEmbedder.embed(texts).await
    }
}

/// An embedder that fails on texts containing "poison", like a model choking on an input.
pub struct PickyEmbedder;

#[async_trait]
impl Embedder for PickyEmbedder {
    fn model_id(&self) -> String {
        "picky".into()
    }
    fn dimension(&self) -> usize {
        ToyEmbedder.dimension()
    }
    async fn embed(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        if texts.iter().any(|t| t.contains("poison")) {
            return Err(EmbedderError::Failed("cannot embed this".into()));
        }
        ToyEmbedder.embed(texts).await
    }
}

/// An embedder whose queue is always full.
pub struct OverloadedEmbedder;

#[async_trait]
impl Embedder for OverloadedEmbedder {
    fn model_id(&self) -> String {
        "overloaded".into()
    }
    fn dimension(&self) -> usize {
        ToyEmbedder.dimension()
    }
    async fn embed(&self, _: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        Err(EmbedderError::Overloaded("queue full".into()))
    }
}

/// An in-memory store that can be switched off: every operation then fails `Unavailable`,
/// and `internal` makes them fail `Internal` instead (with a secret in the message).
#[derive(Default)]
pub struct SwitchableStore {
    inner: InMemoryStore,
    pub down: AtomicBool,
    pub internal: AtomicBool,
}

impl SwitchableStore {
    fn check(&self) -> Result<(), RepositoryError> {
        if self.internal.load(Ordering::SeqCst) {
            return Err(RepositoryError::Internal(
                "SECRET connection string postgres://u:p@db".into(),
            ));
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(RepositoryError::Unavailable("database is down".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl MessageRepository for SwitchableStore {
    async fn insert(&self, message: &Message) -> Result<(), RepositoryError> {
        self.check()?;
        self.inner.insert(message).await
    }
    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError> {
        self.check()?;
        self.inner.get(id).await
    }
    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        self.check()?;
        self.inner.set_embedding(id, update, at).await
    }
    async fn search_candidates(
        &self,
        query: &CandidateQuery,
    ) -> Result<Vec<Candidate>, RepositoryError> {
        self.check()?;
        self.inner.search_candidates(query).await
    }
    async fn archive(
        &self,
        tenant: &TenantId,
        rule: &ArchiveRule,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        self.check()?;
        self.inner.archive(tenant, rule, now, dry_run).await
    }
    async fn purge_archived(
        &self,
        tenant: &TenantId,
        archived_before: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        self.check()?;
        self.inner
            .purge_archived(tenant, archived_before, dry_run)
            .await
    }
    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError> {
        self.check()?;
        self.inner.pending_embeddings(limit).await
    }
    async fn list_tenants(&self) -> Result<Vec<TenantId>, RepositoryError> {
        self.check()?;
        self.inner.list_tenants().await
    }
    async fn health(&self) -> Result<(), RepositoryError> {
        self.check()
    }
    async fn lexical_candidates(
        &self,
        query: &LexicalQuery,
    ) -> Result<LexicalMatches, RepositoryError> {
        self.check()?;
        self.inner.lexical_candidates(query).await
    }
    async fn count_pending(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, RepositoryError> {
        self.check()?;
        self.inner.count_pending(tenant, conversation).await
    }
    async fn delete_conversation(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
    ) -> Result<u64, RepositoryError> {
        self.check()?;
        self.inner.delete_conversation(tenant, conversation).await
    }
    async fn delete_tenant(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        self.check()?;
        self.inner.delete_tenant(tenant).await
    }
    async fn conversation_timeline(
        &self,
        tenant: &TenantId,
        conversation: &ConversationId,
        limit: usize,
    ) -> Result<Option<Vec<MessageId>>, RepositoryError> {
        self.check()?;
        self.inner
            .conversation_timeline(tenant, conversation, limit)
            .await
    }
}

#[async_trait]
impl RetentionPolicyStore for SwitchableStore {
    async fn get_policy(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<RetentionPolicy>, RepositoryError> {
        self.check()?;
        self.inner.get_policy(tenant).await
    }
    async fn put_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
    ) -> Result<(), RepositoryError> {
        self.check()?;
        self.inner.put_policy(tenant, policy).await
    }
}
