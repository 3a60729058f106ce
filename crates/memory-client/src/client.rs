//! [`MemoryClient`]: one method per API operation, over one pooled HTTP client.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use memory_api_types::requests::{
    CreateBatch, CreateMessage, ListMessages, RetentionRun, Search, UpdateMessage,
};
use memory_api_types::{
    API_KEY_HEADER, BatchResponse, ErasureResponse, HealthResponse, HistoryResponse,
    IDEMPOTENCY_KEY_HEADER, ListConversationsResponse, ListMessagesResponse, MessageResponse,
    REQUEST_ID_HEADER, RetentionPreviewResponse, RetentionRunResponse, SearchResponse,
    TenantsResponse,
};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::error::{ApiError, Error, Result};
use crate::retry::{RetryPolicy, parse_retry_after};

/// Builds a [`MemoryClient`].
#[derive(Debug, Clone)]
pub struct ClientBuilder {
    base_url: String,
    api_key: Option<String>,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
}

impl ClientBuilder {
    /// The API key sent as `x-api-key` on every request.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// The longest one attempt may take, answer included (default 30 s; the server's own
    /// request timeout is 30 s by default).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest a connection may take to open (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How to retry (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The client. Fails on a base URL that is not `http(s)://host[:port][/prefix]`.
    pub fn build(self) -> Result<MemoryClient> {
        let mut base = Url::parse(&self.base_url)
            .map_err(|e| Error::Config(format!("base URL {:?}: {e}", self.base_url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(Error::Config(format!(
                "base URL {:?} must be http:// or https://",
                self.base_url
            )));
        }
        base.set_query(None);
        base.set_fragment(None);
        let http = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("memory-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(MemoryClient {
            http,
            base,
            api_key: self.api_key,
            retry: self.retry,
            retries: Arc::new(AtomicU64::new(0)),
        })
    }
}

/// An async client of the AI Memory Layer's REST API. Cheap to clone (clones share one
/// connection pool); create one per process and reuse it.
///
/// ```no_run
/// use memory_client::{MemoryClient, types::RoleDto, types::requests::{CreateMessage, Search}};
///
/// # async fn demo() -> memory_client::Result<()> {
/// let client = MemoryClient::builder("http://127.0.0.1:8000").api_key("key1").build()?;
/// let stored = client
///     .add(&CreateMessage::new("acme", "conv-1", RoleDto::User, "I moved to Lisbon in 2024"))
///     .await?;
/// let found = client.search(&Search::new("acme", "where does the user live?")).await?;
/// assert_eq!(found.items[0].message_id, stored.id);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MemoryClient {
    http: reqwest::Client,
    base: Url,
    api_key: Option<String>,
    retry: RetryPolicy,
    retries: Arc<AtomicU64>,
}

impl MemoryClient {
    /// A builder for a server at `base_url` (e.g. `http://127.0.0.1:8000`).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            base_url: base_url.into(),
            api_key: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            retry: RetryPolicy::default(),
        }
    }

    /// A client with the defaults (no API key, 30 s timeout, 3 retries).
    pub fn new(base_url: impl Into<String>) -> Result<Self> {
        Self::builder(base_url).build()
    }

    /// Retries this client (and its clones) has made so far: a figure to log or export.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// Stores a message (`POST /v1/messages`). Safe to retry: the call's retries share one
    /// `Idempotency-Key`.
    pub async fn add(&self, message: &CreateMessage) -> Result<MessageResponse> {
        self.add_keyed(message, &new_key()).await
    }

    /// [`MemoryClient::add`] under the caller's own idempotency key (1-255 visible ASCII
    /// characters, kept by the server for 24 h): a later call with the same key and message
    /// returns the first call's message instead of storing it twice.
    pub async fn add_keyed(&self, message: &CreateMessage, key: &str) -> Result<MessageResponse> {
        let url = self.url(&["v1", "messages"]);
        self.send(Method::POST, url, &(), Some(json(message)?), Some(key))
            .await
    }

    /// Stores up to 1,000 messages of one tenant at once (`POST /v1/messages/batch`). A bad
    /// item does not keep the others out: read each item's outcome in `results`.
    pub async fn add_batch(&self, batch: &CreateBatch) -> Result<BatchResponse> {
        self.add_batch_keyed(batch, &new_key()).await
    }

    /// [`MemoryClient::add_batch`] under the caller's own idempotency key.
    pub async fn add_batch_keyed(&self, batch: &CreateBatch, key: &str) -> Result<BatchResponse> {
        let url = self.url(&["v1", "messages", "batch"]);
        self.send(Method::POST, url, &(), Some(json(batch)?), Some(key))
            .await
    }

    /// One message (`GET /v1/messages/{id}`); a 404 [`ApiError`] when it does not exist or
    /// the key may not see it.
    pub async fn get(&self, id: Uuid) -> Result<MessageResponse> {
        let url = self.url(&["v1", "messages", &id.to_string()]);
        self.send(Method::GET, url, &(), None, None).await
    }

    /// Ranked memories for a query (`POST /v1/memory/search`).
    pub async fn search(&self, search: &Search) -> Result<SearchResponse> {
        let url = self.url(&["v1", "memory", "search"]);
        self.send(Method::POST, url, &(), Some(json(search)?), None)
            .await
    }

    /// One page of a tenant's messages (`GET /v1/messages`); pass its `next_cursor` as the
    /// next request's `cursor`.
    pub async fn list(&self, params: &ListMessages) -> Result<ListMessagesResponse> {
        let url = self.url(&["v1", "messages"]);
        self.send(Method::GET, url, params, None, None).await
    }

    /// Every message matching `params`, following the cursor from page to page.
    pub async fn get_all(&self, params: &ListMessages) -> Result<Vec<MessageResponse>> {
        let mut params = params.clone();
        let mut out = Vec::new();
        loop {
            let page = self.list(&params).await?;
            out.extend(page.messages);
            match page.next_cursor {
                Some(c) => params.cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// The tenants this key may see, and whether it is an admin key (`GET /v1/tenants`).
    pub async fn tenants(&self) -> Result<TenantsResponse> {
        let url = self.url(&["v1", "tenants"]);
        self.send(Method::GET, url, &(), None, None).await
    }

    /// One page of a tenant's conversations, most recently active first
    /// (`GET /v1/conversations`); pass its `next_cursor` as the next call's `cursor`.
    pub async fn conversations(
        &self,
        tenant_id: &str,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<ListConversationsResponse> {
        let url = self.url(&["v1", "conversations"]);
        let mut query = vec![("tenant_id", tenant_id.to_owned())];
        query.extend(limit.map(|l| ("limit", l.to_string())));
        query.extend(cursor.map(|c| ("cursor", c.to_owned())));
        self.send(Method::GET, url, &query, None, None).await
    }

    /// The tenant's retention policy and what a run now would archive and delete, changing
    /// nothing (`GET /v1/admin/retention/preview`); `sample` messages (0-200, default 20).
    pub async fn retention_preview(
        &self,
        tenant_id: &str,
        sample: Option<u32>,
    ) -> Result<RetentionPreviewResponse> {
        let url = self.url(&["v1", "admin", "retention", "preview"]);
        let mut query = vec![("tenant_id", tenant_id.to_owned())];
        query.extend(sample.map(|l| ("limit", l.to_string())));
        self.send(Method::GET, url, &query, None, None).await
    }

    /// Changes a message's content (re-embedded), metadata or importance
    /// (`PATCH /v1/messages/{id}`) and returns it as stored.
    pub async fn update(&self, id: Uuid, patch: &UpdateMessage) -> Result<MessageResponse> {
        self.update_keyed(id, patch, &new_key()).await
    }

    /// [`MemoryClient::update`] under the caller's own idempotency key.
    pub async fn update_keyed(
        &self,
        id: Uuid,
        patch: &UpdateMessage,
        key: &str,
    ) -> Result<MessageResponse> {
        let url = self.url(&["v1", "messages", &id.to_string()]);
        self.send(Method::PATCH, url, &(), Some(json(patch)?), Some(key))
            .await
    }

    /// A message's changes, oldest first (`GET /v1/messages/{id}/history`).
    pub async fn history(&self, id: Uuid) -> Result<HistoryResponse> {
        let url = self.url(&["v1", "messages", &id.to_string(), "history"]);
        self.send(Method::GET, url, &(), None, None).await
    }

    /// Deletes one message and its history (`DELETE /v1/messages/{id}`); a 404
    /// [`ApiError`] when there was none (unless an earlier attempt of this call, whose
    /// answer was lost, deleted it).
    pub async fn delete(&self, id: Uuid) -> Result<()> {
        let url = self.url(&["v1", "messages", &id.to_string()]);
        self.exchange(Method::DELETE, url, &(), None, None, true)
            .await
            .map(drop)
    }

    /// Erases one conversation of a tenant (`DELETE /v1/conversations/{id}`).
    pub async fn delete_conversation(
        &self,
        tenant_id: &str,
        conversation_id: &str,
    ) -> Result<ErasureResponse> {
        let url = self.url(&["v1", "conversations", conversation_id]);
        self.send(Method::DELETE, url, &[("tenant_id", tenant_id)], None, None)
            .await
    }

    /// Erases every message of a tenant (`DELETE /v1/tenants/{id}/messages`; an admin key).
    pub async fn delete_all(&self, tenant_id: &str) -> Result<ErasureResponse> {
        let url = self.url(&["v1", "tenants", tenant_id, "messages"]);
        self.send(Method::DELETE, url, &(), None, None).await
    }

    /// Applies a tenant's retention policy now (`POST /v1/admin/retention/run`).
    pub async fn run_retention(&self, run: &RetentionRun) -> Result<RetentionRunResponse> {
        let url = self.url(&["v1", "admin", "retention", "run"]);
        self.send(Method::POST, url, &(), Some(json(run)?), None)
            .await
    }

    /// The server's health (`GET /v1/admin/health`); a degraded server is a 503 [`ApiError`]
    /// once the retries are spent.
    pub async fn health(&self) -> Result<HealthResponse> {
        let url = self.url(&["v1", "admin", "health"]);
        self.send(Method::GET, url, &(), None, None).await
    }

    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .expect("checked in build: a base URL")
            .pop_if_empty()
            .extend(segments);
        url
    }

    async fn send<T: DeserializeOwned>(
        &self,
        method: Method,
        url: Url,
        query: &(impl serde::Serialize + ?Sized),
        body: Option<Vec<u8>>,
        key: Option<&str>,
    ) -> Result<T> {
        let (status, bytes) = self.exchange(method, url, query, body, key, false).await?;
        serde_json::from_slice(&bytes).map_err(|source| Error::Decode { status, source })
    }

    /// Sends a request until it succeeds, fails for good, or the retries are spent; returns
    /// the status and body of the success. Every request is safe to repeat (writes carry
    /// their `Idempotency-Key`); `delete_one`: a 404 after an attempt whose answer was lost
    /// means that attempt deleted the message.
    async fn exchange(
        &self,
        method: Method,
        url: Url,
        query: &(impl serde::Serialize + ?Sized),
        body: Option<Vec<u8>>,
        key: Option<&str>,
        delete_one: bool,
    ) -> Result<(u16, Vec<u8>)> {
        let mut builder = self.http.request(method, url).query(query);
        if let Some(api_key) = &self.api_key {
            builder = builder.header(API_KEY_HEADER, api_key);
        }
        if let Some(key) = key {
            builder = builder.header(IDEMPOTENCY_KEY_HEADER, key);
        }
        if let Some(body) = body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let request = builder.build().map_err(|e| Error::Config(e.to_string()))?;
        // An earlier attempt may have done the work without its answer reaching us.
        let mut ambiguous = false;
        let mut retry = 0;
        loop {
            let attempt = request.try_clone().expect("bodies are in memory");
            let (error, retry_after) = match self.http.execute(attempt).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let header = |name| {
                        response
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let retry_after = parse_retry_after(header("retry-after").as_deref());
                    let request_id = header(REQUEST_ID_HEADER);
                    match response.bytes().await {
                        Ok(bytes) if (200..300).contains(&status) => {
                            return Ok((status, bytes.to_vec()));
                        }
                        Ok(_) if status == 404 && ambiguous && delete_one => {
                            return Ok((status, Vec::new()));
                        }
                        Ok(bytes) => {
                            let e = ApiError::from_answer(status, &bytes, retry_after, request_id);
                            if !RetryPolicy::retries_status(status) {
                                return Err(e.into());
                            }
                            ambiguous |= matches!(status, 502 | 504);
                            (Error::Api(e), retry_after)
                        }
                        Err(e) => {
                            ambiguous = true;
                            (Error::Transport(e), None)
                        }
                    }
                }
                Err(e) if e.is_builder() => return Err(Error::Config(e.to_string())),
                Err(e) => {
                    ambiguous = true;
                    (Error::Transport(e), None)
                }
            };
            match self.retry.wait(retry, retry_after, fastrand::f64()) {
                Some(wait) => {
                    tokio::time::sleep(wait).await;
                    retry += 1;
                    self.retries.fetch_add(1, Ordering::Relaxed);
                }
                None => return Err(error),
            }
        }
    }
}

/// A fresh idempotency key for one call (its retries reuse it).
fn new_key() -> String {
    Uuid::new_v4().to_string()
}

fn json(value: &impl serde::Serialize) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::Config(format!("request body: {e}")))
}
