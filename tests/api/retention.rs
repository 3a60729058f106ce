//! POST /v1/admin/retention/run with real stores.

use serde_json::{Value, json};

use crate::for_each_store;
use crate::helpers::{StoreKind, spawn_app};

for_each_store!(retention_dry_run_counts_then_archives);

async fn retention_dry_run_counts_then_archives(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let old_date = (chrono::Utc::now() - chrono::Duration::days(45)).to_rfc3339();
    let r = app.post_message(&json!({"tenant_id": "acme", "conversation_id": "c", "role": "user", "content": "an old memory about sailing", "created_at": old_date, "importance_override": 1.0})).await;
    let old: Value = r.json().await.expect("json");
    app.store("acme", "c", "a fresh memory about sailing").await;
    app.store("other", "c", "another tenant's old memory").await;
    let run = |dry: bool| {
        let app = &app;
        async move {
            let r = app
                .client
                .post(app.url("/v1/admin/retention/run"))
                .json(
                    &json!({"tenant_id": "acme", "dry_run": dry, "actions": ["archive", "delete"]}),
                )
                .send()
                .await
                .expect("request");
            assert_eq!(r.status().as_u16(), 200);
            r.json::<Value>().await.expect("json")
        }
    };
    assert_eq!(
        run(true).await,
        json!({"archived": 1, "deleted": 0, "dry_run": true})
    );
    assert_eq!(
        app.search_contents(&[("tenant_id", "acme"), ("query", "sailing")])
            .await
            .len(),
        2,
        "a dry run changes nothing"
    );
    assert_eq!(
        run(false).await,
        json!({"archived": 1, "deleted": 0, "dry_run": false})
    );
    assert_eq!(
        app.search_contents(&[("tenant_id", "acme"), ("query", "sailing")])
            .await,
        ["a fresh memory about sailing"],
        "archived messages leave search"
    );
    let id = old["id"].as_str().expect("id");
    let r = app
        .client
        .get(app.url(&format!("/v1/messages/{id}")))
        .send()
        .await
        .expect("request");
    assert_eq!(
        r.status().as_u16(),
        200,
        "archived messages stay readable by id until deleted"
    );
    assert_eq!(run(false).await["archived"], 0, "idempotent");
    // Bad requests.
    for body in [
        json!({"tenant_id": "acme", "actions": ["shred"]}),
        json!({"tenant_id": "", "actions": ["archive"]}),
        json!({"tenant_id": "acme"}),
    ] {
        let r = app
            .client
            .post(app.url("/v1/admin/retention/run"))
            .json(&body)
            .send()
            .await
            .expect("request");
        assert!(r.status().is_client_error(), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_applies_retention_to_every_tenant() {
    let app =
        crate::helpers::spawn_app_with(StoreKind::Sqlite, |s| s.retention_schedule_seconds = 1)
            .await;
    let old = (chrono::Utc::now() - chrono::Duration::days(45)).to_rfc3339();
    for tenant in ["acme", "globex"] {
        let r = app.post_message(&json!({"tenant_id": tenant, "conversation_id": "c", "role": "user", "content": "an old memory about kayaks", "created_at": old, "importance_override": 1.0})).await;
        assert_eq!(r.status().as_u16(), 202);
        app.store(tenant, "c", "a fresh memory about kayaks").await;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let acme = app
            .search_contents(&[("tenant_id", "acme"), ("query", "kayaks")])
            .await;
        let globex = app
            .search_contents(&[("tenant_id", "globex"), ("query", "kayaks")])
            .await;
        if acme.len() == 1 && globex.len() == 1 {
            assert_eq!(acme, ["a fresh memory about kayaks"]);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the scheduler archived nothing within 20 s: {acme:?} {globex:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let metrics = app.get_text("/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("retention_") && l.contains("archived") && !l.ends_with(" 0")),
        "retention metrics count the runs"
    );
}
