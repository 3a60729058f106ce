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
