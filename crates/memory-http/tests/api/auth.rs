//! x-api-key authentication and tenant-bound keys.

use serde_json::Value;

use crate::helpers::{Options, TestApp, assert_error, message, spawn_with};

const KEYS: &str = "admin-key,acme-key:acme,multi-key:acme|globex";

async fn app() -> TestApp {
    spawn_with(Options {
        api_keys: KEYS,
        ..Options::default()
    })
    .await
}

#[tokio::test]
async fn protected_endpoints_need_a_valid_key() {
    let app = app().await;
    for key in [
        None,
        Some("wrong"),
        Some(""),
        Some("admin-keyx"),
        Some("acme-key:acme"),
    ] {
        assert_error(
            app.post_message(&message("acme", "hi"), key).await,
            401,
            "unauthorized",
        )
        .await;
        assert_error(
            app.search(&[("tenant_id", "acme"), ("query", "x")], key)
                .await,
            401,
            "unauthorized",
        )
        .await;
        assert_error(
            app.get("/v1/messages/550e8400-e29b-41d4-a716-446655440000", key)
                .await,
            401,
            "unauthorized",
        )
        .await;
        let body = serde_json::json!({"tenant_id": "acme", "actions": ["archive"]});
        assert_error(app.retention(&body, key).await, 401, "unauthorized").await;
    }
    // Unauthenticated requests learn nothing else: bad bodies are 401 too.
    let res = app
        .client
        .post(app.url("/v1/messages"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("request");
    assert_error(res, 401, "unauthorized").await;
    let res = app
        .post_message(&message("acme", "hi"), Some("admin-key"))
        .await;
    assert_eq!(res.status().as_u16(), 202);
}

#[tokio::test]
async fn health_metrics_and_docs_stay_open() {
    let app = app().await;
    for path in ["/v1/admin/health", "/metrics", "/openapi.json", "/docs/"] {
        assert_eq!(app.get(path, None).await.status().as_u16(), 200, "{path}");
    }
}

#[tokio::test]
async fn a_tenant_bound_key_cannot_touch_another_tenant() {
    let app = app().await;
    let globex: Value = app
        .post_message(&message("globex", "globex secret plans"), Some("admin-key"))
        .await
        .json()
        .await
        .expect("json");
    let globex_id = globex["id"].as_str().expect("id");
    let acme: Value = app
        .post_message(&message("acme", "acme notes"), Some("acme-key"))
        .await
        .json()
        .await
        .expect("json");
    let acme_id = acme["id"].as_str().expect("id");

    // Write, search and retention on another tenant: 403.
    assert_error(
        app.post_message(&message("globex", "x"), Some("acme-key"))
            .await,
        403,
        "forbidden",
    )
    .await;
    assert_error(
        app.search(
            &[("tenant_id", "globex"), ("query", "plans")],
            Some("acme-key"),
        )
        .await,
        403,
        "forbidden",
    )
    .await;
    let body = serde_json::json!({"tenant_id": "globex", "actions": ["archive", "delete"], "dry_run": true});
    assert_error(
        app.retention(&body, Some("acme-key")).await,
        403,
        "forbidden",
    )
    .await;
    // Reading another tenant's message by id: 404, exactly as for an unknown id.
    let res = app
        .get(&format!("/v1/messages/{globex_id}"), Some("acme-key"))
        .await;
    let body = assert_error(res, 404, "not_found").await;
    assert!(!body.to_string().contains("globex"), "{body}");

    // Its own tenant works; a key bound to several tenants reaches each; an unbound key all.
    assert_eq!(
        app.get(&format!("/v1/messages/{acme_id}"), Some("acme-key"))
            .await
            .status()
            .as_u16(),
        200
    );
    for key in ["multi-key", "admin-key"] {
        assert_eq!(
            app.get(&format!("/v1/messages/{globex_id}"), Some(key))
                .await
                .status()
                .as_u16(),
            200
        );
        let res = app
            .search(&[("tenant_id", "globex"), ("query", "plans")], Some(key))
            .await;
        assert_eq!(res.status().as_u16(), 200);
    }
    let body = serde_json::json!({"tenant_id": "acme", "actions": ["archive"], "dry_run": true});
    assert_eq!(
        app.retention(&body, Some("acme-key"))
            .await
            .status()
            .as_u16(),
        200
    );
}
