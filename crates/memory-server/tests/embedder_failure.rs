//! The embedder fails or is slow: messages are still stored (202, embedding `failed`), search
//! reports how many messages it could not consider (`pending_embeddings`), and the background
//! catch-up worker embeds them once the embedder is back. The real server (`Application`, with
//! its workers) on an embedded store, with the real model behind a wrapper that fails or
//! stalls on demand.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use memory_core::domain::Embedding;
use memory_core::error::EmbedderError;
use memory_core::ports::Embedder;
use memory_server::config::Settings;
use memory_server::startup::Application;
use serde_json::{Value, json};

/// What the wrapped embedder does with the next call.
#[derive(Debug, Clone, PartialEq)]
enum Mode {
    Healthy,
    /// Every call fails: the model's worker is gone.
    Down,
    /// Calls whose texts contain this string fail (a text the model chokes on); others work.
    FailsOn(&'static str),
    /// Every call waits this long first.
    Slow(Duration),
}

/// The real model behind a switch.
struct Flaky {
    inner: Arc<dyn Embedder>,
    mode: Mutex<Mode>,
    /// Calls that failed (requests' and the catch-up worker's).
    failed: AtomicUsize,
}

impl Flaky {
    fn set(&self, mode: Mode) {
        *self.mode.lock().expect("mode") = mode;
    }

    async fn embed_now(&self, texts: &[String]) -> Result<Vec<Embedding>, EmbedderError> {
        let mode = self.mode.lock().expect("mode").clone();
        let fail = match &mode {
            Mode::Healthy => false,
            Mode::Down => true,
            Mode::FailsOn(s) => texts.iter().any(|t| t.contains(s)),
            Mode::Slow(d) => {
                tokio::time::sleep(*d).await;
                false
            }
        };
        if fail {
            self.failed.fetch_add(1, Ordering::SeqCst);
            return Err(EmbedderError::unavailable(format!(
                "test embedder: {mode:?}"
            )));
        }
        self.inner.embed(texts).await
    }
}

// `Embedder` is an `async_trait`; this is what the macro would write (the crate has no
// async-trait dependency of its own).
impl Embedder for Flaky {
    fn model_id(&self) -> String {
        self.inner.model_id()
    }

    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    fn embed<'s, 't, 'f>(
        &'s self,
        texts: &'t [String],
    ) -> Pin<Box<dyn Future<Output = Result<Vec<Embedding>, EmbedderError>> + Send + 'f>>
    where
        's: 'f,
        't: 'f,
        Self: 'f,
    {
        Box::pin(self.embed_now(texts))
    }
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const TENANT: &str = "flaky";
/// The server's request timeout here (MEMORY_REQUEST_TIMEOUT_SECONDS).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

struct App {
    base: String,
    client: reqwest::Client,
    embedder: Arc<Flaky>,
    _dir: TempDir,
}

impl App {
    async fn start() -> Self {
        let dir = TempDir(std::env::temp_dir().join(format!(
            "memory-embedder-failure-{}",
            uuid::Uuid::new_v4().simple()
        )));
        let mut settings = Settings::from_env().expect("settings");
        settings.host = "127.0.0.1".parse().expect("ip");
        settings.port = 0;
        settings.api_keys = String::new().into();
        settings.global_rate_limit = "100000/second".into();
        settings.retention_schedule_seconds = 0;
        settings.request_timeout_seconds = REQUEST_TIMEOUT.as_secs();
        settings.database_url = format!("sqlite://{}/memory.db", dir.0.display());
        let model = memory_server::adapters::embedder(&settings)
            .await
            .expect("the model (scripts/fetch-model.sh)");
        let store = memory_server::adapters::store(&settings, model.dimension(), &model.model_id())
            .await
            .expect("store");
        let embedder = Arc::new(Flaky {
            inner: model,
            mode: Mutex::new(Mode::Healthy),
            failed: AtomicUsize::new(0),
        });
        let app = Application::build_with(settings, store, embedder.clone())
            .await
            .expect("app");
        let base = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped());
        Self {
            base,
            client: reqwest::Client::new(),
            embedder,
            _dir: dir,
        }
    }

    async fn post(&self, content: &str) -> reqwest::Response {
        self.client
            .post(format!("{}/v1/messages", self.base))
            .json(
                &json!({"tenant_id": TENANT, "conversation_id": "c1", "role": "user",
                "content": content}),
            )
            .send()
            .await
            .expect("request")
    }

    async fn get(&self, id: &str) -> Value {
        let r = self
            .client
            .get(format!("{}/v1/messages/{id}", self.base))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 200, "message {id}");
        r.json().await.expect("json")
    }

    async fn search(&self, query: &str) -> reqwest::Response {
        self.search_mode(query, "hybrid").await
    }

    async fn search_mode(&self, query: &str, mode: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/v1/memory/search", self.base))
            .query(&[("tenant_id", TENANT), ("query", query), ("mode", mode)])
            .send()
            .await
            .expect("request")
    }

    /// Polls vector search until nothing is pending and `content` is among the results (so
    /// it has been embedded).
    async fn wait_until_found(&self, query: &str, content: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let r = self.search_mode(query, "vector").await;
            let status = r.status().as_u16();
            let body: Value = r.json().await.expect("json");
            if status == 200
                && body["pending_embeddings"] == 0
                && body["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .any(|i| i["content"] == content)
            {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "{content:?} not embedded and found within {within:?}: {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Asserts the error JSON: status, stable code, Retry-After for 503.
async fn assert_error(r: reqwest::Response, status: u16, code: &str) {
    assert_eq!(r.status().as_u16(), status);
    if status == 503 {
        assert!(
            r.headers().contains_key("retry-after"),
            "503 without Retry-After"
        );
    }
    let body: Value = r.json().await.expect("a JSON error body");
    assert_eq!(body["code"], code, "{body}");
}

fn ids(body: &Value) -> Vec<&str> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["message_id"].as_str().expect("id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_embedder_leaves_messages_pending_until_the_worker_catches_up() {
    let app = App::start().await;
    let baseline = "I work as a nurse at the hospital in Lyon";
    assert_eq!(app.post(baseline).await.status().as_u16(), 202);

    // The embedder is down: the message is still stored, its embedding marked failed.
    app.embedder.set(Mode::Down);
    let cat = "My cat is called Whiskers and she loves tuna";
    let r = app.post(cat).await;
    assert_eq!(
        r.status().as_u16(),
        202,
        "a message is stored without its embedding"
    );
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["embedding_status"], "pending");
    let id = body["id"].as_str().expect("id").to_owned();
    let stored = app.get(&id).await;
    assert_eq!(stored["content"], cat);
    assert_eq!(stored["embedding_status"], "pending");
    // A vector search needs its query embedded: 503 JSON with Retry-After, not 500. A hybrid
    // search (the default) falls back to lexical mode and still finds the message by its words.
    assert_error(
        app.search_mode("what is my cat called", "vector").await,
        503,
        "unavailable",
    )
    .await;
    let r = app.search("what is my cat called Whiskers").await;
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["mode"], "lexical", "{body}");
    assert_eq!(body["pending_embeddings"], 1, "{body}");
    assert_eq!(ids(&body), [id.as_str()], "found by its words: {body}");
    assert_eq!(body["items"][0]["similarity"], 0.0);

    // The embedder works again except on that message's text: search answers and says one
    // message could not be considered by similarity. Vector search cannot find it...
    app.embedder.set(Mode::FailsOn("Whiskers"));
    let r = app.search_mode("what is my cat called", "vector").await;
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["pending_embeddings"], 1, "{body}");
    assert!(!ids(&body).contains(&id.as_str()), "{body}");
    // ...hybrid search (the default) finds it by its words alone, with no similarity.
    let r = app.search("what is my cat called").await;
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["pending_embeddings"], 1, "{body}");
    let item = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|i| i["message_id"] == id.as_str())
        .unwrap_or_else(|| panic!("hybrid search finds the pending message lexically: {body}"));
    assert_eq!(item["similarity"], 0.0, "{body}");
    assert!(item["lexical"].as_f64().expect("lexical") > 0.0, "{body}");

    // The catch-up worker tries the stored message and fails (then backs off)...
    let failed_before = app.embedder.failed.load(Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.embedder.failed.load(Ordering::SeqCst) == failed_before {
        assert!(Instant::now() < deadline, "the worker never retried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get(&id).await["embedding_status"], "pending");

    // ...and embeds it once the embedder recovers; search then finds it.
    let recovered = Instant::now();
    app.embedder.set(Mode::Healthy);
    let body = app
        .wait_until_found("what is my cat called", cat, Duration::from_secs(30))
        .await;
    let catch_up = recovered.elapsed();
    assert_eq!(ids(&body)[0], id, "the cat message ranks first: {body}");
    let similarity = body["items"][0]["similarity"].as_f64().expect("similarity");
    assert!(similarity > 0.3, "found by similarity now: {body}");
    assert_eq!(app.get(&id).await["embedding_status"], "completed");
    println!(
        "embedder failure figures: {} failed embedder calls; embedded by the worker {catch_up:?} \
         after the embedder recovered (similarity {similarity:.3})",
        app.embedder.failed.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_embedder_times_out_but_the_message_is_kept_and_embedded_later() {
    let app = App::start().await;
    let baseline = "I work as a nurse at the hospital in Lyon";
    assert_eq!(app.post(baseline).await.status().as_u16(), 202);

    // Slower than the request timeout. Each embedding gets half the request timeout: the
    // ingest answers 202 with the embedding pending (the message is committed; a 504 would
    // leave the client without an id, and a retry would store a duplicate).
    app.embedder.set(Mode::Slow(REQUEST_TIMEOUT * 3));
    let peanuts = "I am allergic to peanuts, please remember that";
    let started = Instant::now();
    let r = app.post(peanuts).await;
    let took = started.elapsed();
    let status = r.status().as_u16();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["embedding_status"], "pending", "{body}");
    assert!(
        took < REQUEST_TIMEOUT,
        "within the embedding budget: {took:?}"
    );
    // A vector search cannot rank without its query's embedding: 503 with Retry-After, in
    // time; a hybrid search answers in lexical mode within the same budget.
    let started = Instant::now();
    assert_error(
        app.search_mode("peanut allergy", "vector").await,
        503,
        "unavailable",
    )
    .await;
    let search_took = started.elapsed();
    assert!(search_took < REQUEST_TIMEOUT, "{search_took:?}");
    let started = Instant::now();
    let r = app.search("peanuts").await;
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["mode"], "lexical");
    let hybrid_took = started.elapsed();
    assert!(hybrid_took < REQUEST_TIMEOUT, "{hybrid_took:?}");

    let recovered = Instant::now();
    app.embedder.set(Mode::Healthy);
    let body = app
        .wait_until_found("peanut allergy", peanuts, Duration::from_secs(30))
        .await;
    let catch_up = recovered.elapsed();
    let found = &body["items"][0];
    assert_eq!(found["content"], peanuts, "{body}");
    let id = found["message_id"].as_str().expect("id");
    assert_eq!(app.get(id).await["embedding_status"], "completed");
    println!(
        "slow embedder figures: ingest answered {status} after {took:?}, vector search 503 after \
         {search_took:?}, hybrid search 200 lexical after {hybrid_took:?} (timeout {REQUEST_TIMEOUT:?}); embedded by the worker {catch_up:?} after \
         the embedder recovered"
    );
}
