//! GET /v1/admin/health and GET /metrics.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::helpers::{Options, SwitchableMessages, message, spawn_app, spawn_with};

#[tokio::test]
async fn health_reports_ok_with_database_latency_uptime_environment_and_version() {
    let app = spawn_app().await;
    let res = app.get("/v1/admin/health", None).await;
    assert_eq!(res.status().as_u16(), 200);
    let h: Value = res.json().await.expect("json");
    assert_eq!(h["status"], "ok");
    assert_eq!(h["database"], "ok");
    assert_eq!(h["environment"], "test");
    assert_eq!(h["version"], "9.9.9");
    assert!(h["latency_ms"].as_f64().expect("latency") >= 0.0);
    assert!(h["uptime_seconds"].is_u64());
    assert!(chrono::DateTime::parse_from_rfc3339(h["timestamp"].as_str().expect("ts")).is_ok());
}

#[tokio::test]
async fn health_is_503_degraded_when_the_store_is_down() {
    let (store, ports) = SwitchableMessages::ports();
    let app = spawn_with(Options {
        store: Some(ports),
        ..Options::default()
    })
    .await;
    store.down.store(true, Ordering::SeqCst);
    let res = app.get("/v1/admin/health", None).await;
    assert_eq!(res.status().as_u16(), 503);
    let h: Value = res.json().await.expect("json");
    assert_eq!(h["status"], "degraded");
    assert_eq!(h["database"], "down");
    store.down.store(false, Ordering::SeqCst);
    assert_eq!(
        app.get("/v1/admin/health", None).await.status().as_u16(),
        200
    );
}

#[tokio::test]
async fn metrics_use_conventional_names_and_route_patterns() {
    let app = spawn_app().await;
    let m: Value = app
        .post_message(&message("acme", "I love Python"), None)
        .await
        .json()
        .await
        .expect("json");
    let id = m["id"].as_str().expect("id");
    app.get(&format!("/v1/messages/{id}"), None).await;
    app.search(&[("tenant_id", "acme"), ("query", "Python")], None)
        .await;
    app.get("/no/such/route", None).await;
    app.retention(
        &json!({"tenant_id": "acme", "actions": ["archive", "delete"]}),
        None,
    )
    .await;

    let res = app.get("/metrics", None).await;
    assert_eq!(res.status().as_u16(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    let text = res.text().await.expect("text");
    for needle in [
        "# TYPE http_requests_total counter",
        "# TYPE http_request_duration_seconds histogram",
        r#"route="/v1/messages""#,
        r#"route="/v1/messages/{message_id}""#,
        r#"route="/v1/memory/search""#,
        r#"route="unmatched""#,
        r#"status="202""#,
        "http_request_duration_seconds_bucket",
        "messages_ingested_total 1",
        "embedding_batch_size_count 2",
        "# TYPE embedding_duration_seconds histogram",
        r#"store_operation_duration_seconds_count{operation="insert",outcome="ok"} 1"#,
        r#"operation="search_candidates""#,
        r#"retention_runs_total{dry_run="false"} 1"#,
        "# TYPE retention_messages_archived_total counter",
        "retention_messages_deleted_total 0",
        "# TYPE embeddings_pending gauge",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // Raw paths never become labels.
    assert!(!text.contains(id));
    assert!(!text.contains("/no/such/route"));
}

/// Every store call the service makes is observed, whichever port it goes to: the metrics
/// hook into the service once, not into each port's methods.
#[tokio::test]
async fn store_calls_of_every_port_are_timed() {
    let app = spawn_app().await;
    app.post_message(&message("acme", "I love Python"), None)
        .await;
    app.search(&[("tenant_id", "acme"), ("query", "Python")], None)
        .await;
    let res = app
        .delete("/v1/conversations/conv-1?tenant_id=acme", None)
        .await;
    assert_eq!(res.status().as_u16(), 200);
    let res = app.delete("/v1/tenants/acme/messages", None).await;
    assert_eq!(res.status().as_u16(), 200);
    let text = app.metrics().await;
    for op in [
        "insert",
        "count_pending",
        "search_candidates",
        "lexical_candidates",
        "delete_conversation",
        "delete_tenant",
    ] {
        assert!(
            text.contains(&format!(r#"operation="{op}",outcome="ok""#)),
            "{op} in\n{text}"
        );
    }
}
