//! Health, metrics, docs, restarts and load, on the real stack.

use serde_json::{Value, json};

use crate::for_each_store;
use crate::helpers::{StoreKind, spawn_app, spawn_app_with, start};

for_each_store!(
    health_reports_the_database,
    memories_survive_a_restart,
    seed_python_load_test_runs_without_an_error
);

async fn health_reports_the_database(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let r = app
        .client
        .get(app.url("/v1/admin/health"))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let h: Value = r.json().await.expect("json");
    assert_eq!(h["status"], "ok");
    assert_eq!(h["database"], "ok");
    assert_eq!(h["environment"], "local");
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert!(h["latency_ms"].as_f64().is_some() && h["uptime_seconds"].is_number());
    chrono::DateTime::parse_from_rfc3339(h["timestamp"].as_str().expect("timestamp"))
        .expect("RFC 3339");
}

async fn memories_survive_a_restart(kind: StoreKind) {
    let mut app = spawn_app(kind).await;
    let stored = app
        .store(
            "acme",
            "c",
            "Remember: the spare key is under the blue flowerpot",
        )
        .await;
    let settings = app.settings.clone();
    let kept = app.take_store();
    app.stop();
    drop(app);
    let app = start(settings).await;
    let id = stored["id"].as_str().expect("id");
    let r = app
        .client
        .get(app.url(&format!("/v1/messages/{id}")))
        .send()
        .await
        .expect("request");
    assert_eq!(
        r.status().as_u16(),
        200,
        "acknowledged messages survive a restart"
    );
    let found = app
        .search_contents(&[
            ("tenant_id", "acme"),
            ("query", "where is the spare key?"),
            ("top_k", "1"),
        ])
        .await;
    assert_eq!(
        found,
        ["Remember: the spare key is under the blue flowerpot"]
    );
    drop(kept);
}

async fn seed_python_load_test_runs_without_an_error(kind: StoreKind) {
    // The seed's load test: 100 concurrent POSTs, each its own conversation.
    let app = spawn_app_with(kind, |_| {}).await;
    let futs = (0..100).map(|i| {
        app.client.post(app.url("/v1/messages")).json(&json!({"tenant_id": "test", "conversation_id": format!("conv-{i}"), "role": "user", "content": format!("Message {i}")})).send()
    });
    let results = futures::future::join_all(futs).await;
    let statuses: Vec<u16> = results
        .into_iter()
        .map(|r| r.expect("request").status().as_u16())
        .collect();
    assert!(statuses.iter().all(|s| *s == 202), "{statuses:?}");
    let r = app
        .search(&[
            ("tenant_id", "test"),
            ("query", "Message 42"),
            ("top_k", "100"),
            ("candidate_limit", "1000"),
            // Everything stored, however unrelated to the query.
            ("min_relevance", "0"),
        ])
        .await;
    let body: Value = r.json().await.expect("json");
    assert_eq!(
        body["items"].as_array().expect("items").len(),
        100,
        "nothing lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_and_docs_are_served() {
    let app = spawn_app(StoreKind::Sqlite).await;
    app.store("acme", "c", "hello").await;
    app.search(&[("tenant_id", "acme"), ("query", "hello")])
        .await;
    let metrics = app.get_text("/metrics").await;
    for name in [
        "http_requests_total",
        "http_request_duration_seconds",
        "messages_ingested_total",
    ] {
        assert!(metrics.contains(name), "{name} in /metrics");
    }
    let spec: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    for path in [
        "/v1/messages",
        "/v1/messages/{message_id}",
        "/v1/memory/search",
        "/v1/admin/retention/run",
        "/v1/admin/health",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} documented");
    }
    let docs = app.get_text("/docs/").await;
    assert!(
        docs.to_lowercase().contains("swagger"),
        "Swagger UI served offline"
    );
}
