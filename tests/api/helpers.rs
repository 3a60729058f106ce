//! `spawn_app`: the real server, a fresh store, the shared real model.

use std::sync::{Arc, OnceLock};

use memory_core::ports::Embedder;
use memory_embed_candle::CandleEmbedder;
use memory_server::config::Settings;
use memory_server::startup::Application;
use serde_json::{Value, json};

/// Which store a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

/// Generates one test per store from `async fn name(kind: StoreKind)`.
#[macro_export]
macro_rules! for_each_store {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::StoreKind::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::helpers::StoreKind::Postgres).await })*
        }
    };
}

/// The model, loaded once per test process.
pub fn embedder() -> Arc<dyn Embedder> {
    static EMBEDDER: OnceLock<Arc<dyn Embedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| {
            let config = memory_server::adapters::embedder_config(&test_settings());
            Arc::new(CandleEmbedder::new(config).expect(
                "the model must be provisioned: run scripts/fetch-model.sh (./just test does)",
            ))
        })
        .clone()
}

/// A running application and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    pub kind: StoreKind,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _store: Option<TempStore>,
}

/// A test's store, removed on drop: the SQLite store's directory, or the Postgres database
/// (dropped, so a developer's Postgres does not collect one database per test run).
pub enum TempStore {
    Dir(std::path::PathBuf),
    /// Held for its `Drop`, which drops the database.
    Database(#[allow(dead_code)] memory_store_postgres::testkit::TestDatabase),
}

impl Drop for TempStore {
    fn drop(&mut self) {
        if let TempStore::Dir(dir) = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Settings for tests: port 0, no auth, a generous rate limit, no scheduler, quiet logs.
pub fn test_settings() -> Settings {
    let mut s = Settings::from_env().expect("settings");
    s.host = "127.0.0.1".parse().expect("ip");
    s.port = 0;
    s.api_keys = String::new().into();
    s.allowed_origins = String::new();
    s.global_rate_limit = "100000/second".into();
    s.retention_schedule_seconds = 0;
    s.log_level = "warn".into();
    s
}

/// Starts the app on a fresh store of `kind`, after `configure` adjusts the settings.
pub async fn spawn_app_with(kind: StoreKind, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let mut settings = test_settings();
    let store = match kind {
        StoreKind::Sqlite => {
            let dir =
                std::env::temp_dir().join(format!("memory-api-{}", uuid::Uuid::new_v4().simple()));
            settings.database_url = format!("sqlite://{}/memory.db", dir.display());
            Some(TempStore::Dir(dir))
        }
        StoreKind::Postgres => {
            let db = memory_store_postgres::testkit::TestDatabase::create()
                .await
                .expect("MEMORY_TEST_DATABASE_URL must point at a Postgres with pgvector (./just test sets it from scripts/pg.sh)");
            settings.database_url = db.url.clone();
            settings.auto_migrate = true;
            Some(TempStore::Database(db))
        }
    };
    configure(&mut settings);
    let mut app = start(settings.clone()).await;
    app.kind = kind;
    app._store = store;
    app
}

/// Starts the app on the store the settings name (used to restart on the same data).
pub async fn start(settings: Settings) -> TestApp {
    let embedder = embedder();
    let store =
        memory_server::adapters::store(&settings, embedder.dimension(), &embedder.model_id())
            .await
            .expect("store");
    let app = Application::build_with(settings.clone(), store, embedder)
        .await
        .expect("application");
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(app.run_until_stopped());
    TestApp {
        address,
        client: reqwest::Client::new(),
        settings,
        kind: StoreKind::Sqlite,
        server: Some(server),
        _store: None,
    }
}

pub async fn spawn_app(kind: StoreKind) -> TestApp {
    spawn_app_with(kind, |_| {}).await
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// POST /v1/messages with a JSON body.
    pub async fn post_message(&self, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url("/v1/messages"))
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Stores a user message and returns the response body (asserting 202).
    pub async fn store(&self, tenant: &str, conversation: &str, content: &str) -> Value {
        let r = self
            .post_message(&json!({"tenant_id": tenant, "conversation_id": conversation, "role": "user", "content": content}))
            .await;
        assert_eq!(r.status().as_u16(), 202, "store {content:?}");
        r.json().await.expect("json")
    }

    /// GET /v1/memory/search with the given query parameters.
    pub async fn search(&self, params: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .get(self.url("/v1/memory/search"))
            .query(params)
            .send()
            .await
            .expect("request")
    }

    /// GET `path` and its body as text (metrics, docs).
    pub async fn get_text(&self, path: &str) -> String {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
            .text()
            .await
            .expect("text")
    }

    /// Searches and returns the items' contents, best first (asserting 200).
    pub async fn search_contents(&self, params: &[(&str, &str)]) -> Vec<String> {
        let r = self.search(params).await;
        assert_eq!(r.status().as_u16(), 200);
        let body: Value = r.json().await.expect("json");
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["content"].as_str().expect("content").to_owned())
            .collect()
    }

    /// Stops the server (as a kill would: the process's state is gone, the store is not).
    pub fn stop(&mut self) {
        if let Some(s) = self.server.take() {
            s.abort();
        }
    }

    /// Takes the temporary store (directory or database) so a restarted app keeps using it.
    pub fn take_store(&mut self) -> Option<TempStore> {
        self._store.take()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}
