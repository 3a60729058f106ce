//! POST /v1/admin/retention/run.

use serde_json::{Value, json};

use crate::helpers::{assert_error, fields, message, spawn_app};

#[tokio::test]
async fn retention_archives_unimportant_messages_and_dry_runs_change_nothing() {
    let app = spawn_app().await;
    let mut low = message("acme", "meh");
    low["importance_override"] = json!(0.0);
    low["role"] = json!("assistant");
    low["created_at"] = json!("2020-01-01T00:00:00Z");
    app.post_message(&low, None).await;
    app.post_message(&message("acme", "I love Python"), None)
        .await;

    let body = json!({"tenant_id": "acme", "dry_run": true, "actions": ["archive", "delete"]});
    let res = app.retention(&body, None).await;
    assert_eq!(res.status().as_u16(), 200);
    let r: Value = res.json().await.expect("json");
    assert_eq!(r, json!({"archived": 1, "deleted": 0, "dry_run": true}));

    let body = json!({"tenant_id": "acme", "actions": ["archive"]});
    let r: Value = app.retention(&body, None).await.json().await.expect("json");
    assert_eq!(r, json!({"archived": 1, "deleted": 0, "dry_run": false}));
    // Archived messages no longer take part in search.
    let s: Value = app
        .search(&[("tenant_id", "acme"), ("query", "meh")], None)
        .await
        .json()
        .await
        .expect("json");
    assert!(
        s["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["content"] != "meh")
    );
}

#[tokio::test]
async fn bad_retention_requests_are_422() {
    let app = spawn_app().await;
    let cases = [
        (json!({"tenant_id": "acme"}), vec!["actions"]),
        (json!({"tenant_id": "acme", "actions": []}), vec!["actions"]),
        (
            json!({"tenant_id": "acme", "actions": ["shred"]}),
            vec!["actions"],
        ),
        (json!({"actions": ["archive"]}), vec!["tenant_id"]),
        (
            json!({"tenant_id": "acme", "actions": ["archive"], "dry_run": "yes"}),
            vec!["dry_run"],
        ),
        (
            json!({"tenant_id": "acme", "actions": "archive"}),
            vec!["actions"],
        ),
        (
            json!({"tenant_id": "acme", "actions": ["archive"], "force": true}),
            vec!["force"],
        ),
    ];
    for (body, expected) in cases {
        let err = assert_error(app.retention(&body, None).await, 422, "validation_error").await;
        assert_eq!(fields(&err), expected, "{body}");
    }
    let res = app
        .client
        .post(app.url("/v1/admin/retention/run"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_error(res, 400, "invalid_json").await;
}
