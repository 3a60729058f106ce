//! POST /v1/messages and GET /v1/messages/{id}.

use serde_json::{Value, json};

use crate::helpers::{assert_error, fields, message, spawn_app};

#[tokio::test]
async fn post_returns_202_with_the_stored_message_and_metadata_echoed_exactly() {
    let app = spawn_app().await;
    let metadata = json!({"source": "web", "user_id": "user-456", "nested": {"a": [1, 2.5, null, true]}, "ü": "ñ"});
    let body = json!({
        "tenant_id": "acme", "conversation_id": "conv-123", "role": "user",
        "content": "I love Python programming and machine learning",
        "metadata": metadata, "importance_override": 0.9,
    });
    let res = app.post_message(&body, None).await;
    assert_eq!(res.status().as_u16(), 202);
    let m: Value = res.json().await.expect("json");
    assert_eq!(m["tenant_id"], "acme");
    assert_eq!(m["conversation_id"], "conv-123");
    assert_eq!(m["role"], "user");
    assert_eq!(
        m["content"],
        "I love Python programming and machine learning"
    );
    assert_eq!(m["metadata"], metadata);
    assert_eq!(m["embedding_status"], "completed");
    let importance = m["importance_score"].as_f64().expect("number");
    assert!((0.0..=1.0).contains(&importance));
    let id = m["id"].as_str().expect("id");
    assert!(uuid::Uuid::parse_str(id).is_ok());
    for t in ["created_at", "updated_at"] {
        let s = m[t].as_str().expect("timestamp");
        assert!(
            chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z'),
            "{s}"
        );
    }

    let res = app.get(&format!("/v1/messages/{id}"), None).await;
    assert_eq!(res.status().as_u16(), 200);
    let got: Value = res.json().await.expect("json");
    assert_eq!(got["id"], m["id"]);
    assert_eq!(got["metadata"], metadata);
    assert_eq!(got["content"], m["content"]);
    assert_eq!(got["created_at"], m["created_at"]);
}

#[tokio::test]
async fn metadata_defaults_to_an_empty_object_and_null_means_absent() {
    let app = spawn_app().await;
    let m: Value = app
        .post_message(&message("acme", "hi"), None)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(m["metadata"], json!({}));
    let mut body = message("acme", "hi");
    body["metadata"] = Value::Null;
    body["importance_override"] = Value::Null;
    let res = app.post_message(&body, None).await;
    assert_eq!(res.status().as_u16(), 202);
}

#[tokio::test]
async fn created_at_backdates_imports_but_never_into_the_future() {
    let app = spawn_app().await;
    let mut body = message("acme", "an old message");
    body["created_at"] = json!("2024-03-01T12:00:00+02:00");
    let res = app.post_message(&body, None).await;
    assert_eq!(res.status().as_u16(), 202);
    let m: Value = res.json().await.expect("json");
    assert_eq!(m["created_at"], "2024-03-01T10:00:00Z");

    body["created_at"] = json!("2999-01-01T00:00:00Z");
    let err = assert_error(app.post_message(&body, None).await, 422, "validation_error").await;
    assert_eq!(fields(&err), ["created_at"]);

    body["created_at"] = json!("yesterday");
    let err = assert_error(app.post_message(&body, None).await, 422, "validation_error").await;
    assert_eq!(fields(&err), ["created_at"]);
}

#[tokio::test]
async fn content_of_100000_characters_fits_in_any_json_encoding() {
    let app = spawn_app().await;
    // 100,000 emoji written as \ud83d\ude00 escapes: 1.2 MB of JSON.
    let content = "\\ud83d\\ude00".repeat(100_000);
    let raw = format!(
        r#"{{"tenant_id":"acme","conversation_id":"c","role":"user","content":"{content}"}}"#
    );
    assert!(raw.len() > 1_200_000);
    let res = app
        .client
        .post(app.url("/v1/messages"))
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 202);
    let m: Value = res.json().await.expect("json");
    assert_eq!(
        m["content"].as_str().expect("content").chars().count(),
        100_000
    );

    let too_long = "x".repeat(100_001);
    let err = assert_error(
        app.post_message(&message("acme", &too_long), None).await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(fields(&err), ["content"]);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_json_errors() {
    let app = spawn_app().await;
    let res = app
        .get("/v1/messages/550e8400-e29b-41d4-a716-446655440000", None)
        .await;
    assert_error(res, 404, "not_found").await;
    let err = assert_error(
        app.get("/v1/messages/not-a-uuid", None).await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(fields(&err), ["message_id"]);
}
