//! `spawn_app`: the real server on a free port, on the testkit's in-memory store and toy
//! embedder, and test doubles that fail one port.

use std::net::{IpAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use memory_core::domain::{
    ConversationId, Embedding, IdempotencyRecord, Message, MessageId, TenantId,
};
use memory_core::error::{EmbedderError, RepositoryError};
use memory_core::ports::{Embedder, EmbeddingUpdate, MessageRecord, MessageStore, StorePorts};
use memory_core::testkit::{InMemoryStore, ToyEmbedder};
use memory_core::{MemoryService, ServiceConfig};
use memory_http::{ApiKeys, HttpConfig, Metrics, RateLimit, TrustedProxies, serve};
use serde_json::{Value, json};

/// How to configure one test server.
pub struct Options {
    pub api_keys: &'static str,
    pub rate_limit: &'static str,
    pub trusted_proxies: &'static str,
    pub origins: Vec<String>,
    pub timeout: Duration,
    pub max_in_flight: usize,
    /// The store's ports; by default a fresh [`InMemoryStore`] behind every port.
    pub store: Option<StorePorts>,
    pub embedder: Option<Arc<dyn Embedder>>,
    /// Serve the console (on by default, as in the server).
    pub console: bool,
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
            console: true,
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
    let store = opts.store.unwrap_or_else(in_memory);
    let embedder =
        metrics.instrument_embedder(opts.embedder.unwrap_or_else(|| Arc::new(ToyEmbedder)));
    let service = MemoryService::new(store, embedder, ServiceConfig::default())
        .expect("service")
        .with_observer(Arc::new(metrics.clone()));
    let config = HttpConfig {
        api_keys: ApiKeys::parse(opts.api_keys).expect("keys"),
        allowed_origins: opts.origins,
        rate_limit: RateLimit::parse(opts.rate_limit).expect("rate"),
        trusted_proxies: TrustedProxies::parse(opts.trusted_proxies).expect("proxies"),
        request_timeout: opts.timeout,
        max_in_flight: opts.max_in_flight,
        environment: "test".into(),
        version: "9.9.9".into(),
        console: opts.console,
    };
    let server = serve(listener, Arc::new(service), config, metrics).expect("serve");
    tokio::spawn(server);
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::new(),
    }
}

/// Every port on one fresh in-memory store.
pub fn in_memory() -> StorePorts {
    StorePorts::full(Arc::new(InMemoryStore::new(ToyEmbedder::DIM)))
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

    pub async fn delete(&self, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut req = self.client.delete(self.url(path));
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        req.send().await.expect("request")
    }

    /// The served OpenAPI document.
    pub async fn openapi(&self) -> Value {
        let res = self.get("/openapi.json", None).await;
        assert_eq!(res.status().as_u16(), 200);
        res.json().await.expect("json")
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
            return Err(EmbedderError::failed("cannot embed this"));
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
        Err(EmbedderError::overloaded(
            "queue full",
            Duration::from_millis(2500),
        ))
    }
}

/// The message port of an in-memory store, with a switch: `down` makes every call fail
/// `Unavailable`, `internal` makes them fail `Internal` (with a secret in the message). The
/// other ports stay healthy: a failing message port is enough to fail ingest, reads, search
/// (which counts pending embeddings) and health.
pub struct SwitchableMessages {
    inner: Arc<InMemoryStore>,
    pub down: AtomicBool,
    pub internal: AtomicBool,
}

impl SwitchableMessages {
    /// A switch on a fresh store's message port, and all the store's ports with it.
    pub fn ports() -> (Arc<Self>, StorePorts) {
        let inner = Arc::new(InMemoryStore::new(ToyEmbedder::DIM));
        let switch = Arc::new(Self {
            inner: inner.clone(),
            down: AtomicBool::new(false),
            internal: AtomicBool::new(false),
        });
        let ports = StorePorts::full(inner).with_messages(switch.clone());
        (switch, ports)
    }

    fn check(&self) -> Result<(), RepositoryError> {
        if self.internal.load(Ordering::SeqCst) {
            return Err(RepositoryError::internal(
                "SECRET connection string postgres://u:p@db",
            ));
        }
        if self.down.load(Ordering::SeqCst) {
            return Err(RepositoryError::unavailable("database is down"));
        }
        Ok(())
    }
}

#[async_trait]
impl MessageStore for SwitchableMessages {
    async fn insert(&self, record: &MessageRecord) -> Result<(), RepositoryError> {
        self.check()?;
        self.inner.insert(record).await
    }
    async fn insert_batch(
        &self,
        records: &[MessageRecord],
        key: Option<IdempotencyRecord>,
    ) -> Result<(), RepositoryError> {
        self.check()?;
        self.inner.insert_batch(records, key).await
    }
    async fn find_idempotency(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, RepositoryError> {
        self.check()?;
        self.inner.find_idempotency(tenant, key).await
    }
    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        self.check()?;
        self.inner.purge_idempotency(before).await
    }
    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError> {
        self.check()?;
        self.inner.get(id).await
    }
    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        read_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        self.check()?;
        self.inner.set_embedding(id, update, read_at, at).await
    }
    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError> {
        self.check()?;
        self.inner.pending_embeddings(limit).await
    }
    async fn count_pending(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, RepositoryError> {
        self.check()?;
        self.inner.count_pending(tenant, conversation).await
    }
    async fn list_tenants(&self) -> Result<Vec<TenantId>, RepositoryError> {
        self.check()?;
        self.inner.list_tenants().await
    }
    async fn health(&self) -> Result<(), RepositoryError> {
        self.check()?;
        self.inner.health().await
    }
}
