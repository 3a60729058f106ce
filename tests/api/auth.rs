//! API keys, tenant-bound keys, rate limits and CORS, on the real stack.

use serde_json::{Value, json};

use crate::helpers::{StoreKind, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_guard_everything_but_health_metrics_and_docs() {
    let app = spawn_app_with(StoreKind::Sqlite, |s| {
        s.api_keys = "admin-key,acme-key:acme".into()
    })
    .await;
    let body =
        json!({"tenant_id": "acme", "conversation_id": "c", "role": "user", "content": "hi"});
    let r = app.post_message(&body).await;
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        r.json::<Value>().await.expect("json")["code"],
        "unauthorized"
    );
    let r = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", "wrong")
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 401);
    let r = app
        .client
        .post(app.url("/v1/messages"))
        .header("x-api-key", "admin-key")
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 202);
    for open in ["/v1/admin/health", "/metrics", "/openapi.json", "/docs/"] {
        let r = app.client.get(app.url(open)).send().await.expect("request");
        assert_eq!(r.status().as_u16(), 200, "{open} stays open");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_bound_key_cannot_touch_another_tenant() {
    let app = spawn_app_with(StoreKind::Sqlite, |s| {
        s.api_keys = "acme-key:acme,globex-key:globex".into()
    })
    .await;
    let post = |key: &'static str, tenant: &'static str| {
        let app = &app;
        async move {
            app.client.post(app.url("/v1/messages")).header("x-api-key", key)
                .json(&json!({"tenant_id": tenant, "conversation_id": "c", "role": "user", "content": format!("{tenant} secret plans")}))
                .send().await.expect("request")
        }
    };
    let globex_msg: Value = post("globex-key", "globex")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        post("acme-key", "globex").await.status().as_u16(),
        403,
        "no writes to another tenant"
    );
    assert_eq!(post("acme-key", "acme").await.status().as_u16(), 202);
    let r = app
        .client
        .get(app.url("/v1/memory/search"))
        .header("x-api-key", "acme-key")
        .query(&[("tenant_id", "globex"), ("query", "secret plans")])
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 403, "no searching another tenant");
    let id = globex_msg["id"].as_str().expect("id");
    let r = app
        .client
        .get(app.url(&format!("/v1/messages/{id}")))
        .header("x-api-key", "acme-key")
        .send()
        .await
        .expect("request");
    assert_eq!(
        r.status().as_u16(),
        404,
        "another tenant's message reads as not found, not forbidden"
    );
    let r = app
        .client
        .post(app.url("/v1/admin/retention/run"))
        .header("x-api-key", "acme-key")
        .json(&json!({"tenant_id": "globex", "actions": ["archive"], "dry_run": true}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 403, "no retention on another tenant");
    let r = app
        .client
        .get(app.url(&format!("/v1/messages/{id}")))
        .header("x-api-key", "globex-key")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_429_with_retry_after() {
    let app = spawn_app_with(StoreKind::Sqlite, |s| {
        s.global_rate_limit = "3/minute".into()
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = app.search(&[("tenant_id", "t"), ("query", "x")]).await;
        statuses.push(r.status().as_u16());
        if r.status().as_u16() == 429 {
            assert!(
                r.headers().get("retry-after").is_some(),
                "Retry-After on 429"
            );
            assert_eq!(
                r.json::<Value>().await.expect("json")["code"],
                "rate_limited"
            );
        }
    }
    assert_eq!(&statuses[..3], [200, 200, 200]);
    assert_eq!(&statuses[3..], [429, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_headers_only_for_allowed_origins() {
    let app = spawn_app_with(StoreKind::Sqlite, |s| {
        s.allowed_origins = "https://app.example.com".into()
    })
    .await;
    let r = app
        .client
        .get(app.url("/v1/admin/health"))
        .header("Origin", "https://app.example.com")
        .send()
        .await
        .expect("request");
    assert_eq!(
        r.headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok()),
        Some("https://app.example.com")
    );
    let r = app
        .client
        .get(app.url("/v1/admin/health"))
        .header("Origin", "https://evil.example.net")
        .send()
        .await
        .expect("request");
    assert!(r.headers().get("access-control-allow-origin").is_none());
}
