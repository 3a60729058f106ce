//! POST /v1/messages and GET /v1/messages/{id}, with the real model and stores.

use serde_json::{Value, json};

use crate::for_each_store;
use crate::helpers::{StoreKind, spawn_app};

for_each_store!(
    seed_store_example_returns_202_with_the_stored_message,
    get_returns_the_message_and_404_for_unknown_ids,
    validation_errors_are_422_json_with_field_details,
    imports_keep_their_created_at_and_reject_the_future
);

async fn seed_store_example_returns_202_with_the_stored_message(kind: StoreKind) {
    let app = spawn_app(kind).await;
    // The seed's curl example, as written.
    let r = app
        .client
        .post(app.url("/v1/messages"))
        .header("Content-Type", "application/json")
        .header("x-api-key", "your-key")
        .body(
            r#"{
            "tenant_id": "acme",
            "conversation_id": "conv-123",
            "role": "user",
            "content": "I love Python programming and machine learning",
            "metadata": {
              "source": "web",
              "user_id": "user-456"
            }
          }"#,
        )
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 202);
    let body: Value = r.json().await.expect("json");
    uuid::Uuid::parse_str(body["id"].as_str().expect("id")).expect("id is a UUID");
    assert_eq!(body["tenant_id"], "acme");
    assert_eq!(body["conversation_id"], "conv-123");
    assert_eq!(body["role"], "user");
    assert_eq!(
        body["content"],
        "I love Python programming and machine learning"
    );
    assert_eq!(
        body["metadata"],
        json!({"source": "web", "user_id": "user-456"}),
        "metadata is echoed as sent"
    );
    assert_eq!(
        body["embedding_status"], "completed",
        "the real model embedded it"
    );
    let importance = body["importance_score"].as_f64().expect("importance");
    assert!(
        (importance - 0.74).abs() < 1e-6,
        "fresh user message without override: {importance}"
    );
    for f in ["created_at", "updated_at"] {
        chrono::DateTime::parse_from_rfc3339(body[f].as_str().expect(f)).expect("RFC 3339");
    }
}

async fn get_returns_the_message_and_404_for_unknown_ids(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let stored = app.store("acme", "conv-1", "Hello").await;
    let id = stored["id"].as_str().expect("id");
    let r = app
        .client
        .get(app.url(&format!("/v1/messages/{id}")))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
    let got: Value = r.json().await.expect("json");
    assert_eq!(got["id"], stored["id"]);
    assert_eq!(got["content"], "Hello");
    assert_eq!(got["created_at"], stored["created_at"]);
    assert_eq!(got["embedding_status"], "completed");

    let unknown = uuid::Uuid::new_v4();
    let r = app
        .client
        .get(app.url(&format!("/v1/messages/{unknown}")))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 404);
    let body: Value = r.json().await.expect("404 is JSON");
    assert_eq!(body["code"], "not_found");

    let r = app
        .client
        .get(app.url("/v1/messages/not-a-uuid"))
        .send()
        .await
        .expect("request");
    assert!(
        r.status().is_client_error(),
        "a malformed id is the client's mistake: {}",
        r.status()
    );
    let body: Value = r.json().await.expect("JSON error");
    assert!(body["code"].is_string() && body["message"].is_string());
}

async fn validation_errors_are_422_json_with_field_details(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let cases = [
        (
            json!({"tenant_id": "", "conversation_id": "c", "role": "user", "content": "x"}),
            "tenant_id",
        ),
        (
            json!({"tenant_id": "t".repeat(65), "conversation_id": "c", "role": "user", "content": "x"}),
            "tenant_id",
        ),
        (
            json!({"tenant_id": "t", "conversation_id": "c".repeat(129), "role": "user", "content": "x"}),
            "conversation_id",
        ),
        (
            json!({"tenant_id": "t", "conversation_id": "c", "role": "robot", "content": "x"}),
            "role",
        ),
        (
            json!({"tenant_id": "t", "conversation_id": "c", "role": "user", "content": ""}),
            "content",
        ),
        (
            json!({"tenant_id": "t", "conversation_id": "c", "role": "user", "content": "x".repeat(100_001)}),
            "content",
        ),
        (
            json!({"tenant_id": "t", "conversation_id": "c", "role": "user", "content": "x", "importance_override": 1.5}),
            "importance_override",
        ),
        (
            json!({"tenant_id": "t", "conversation_id": "c", "role": "user", "content": "x", "metadata": [1, 2]}),
            "metadata",
        ),
    ];
    for (body, field) in cases {
        let r = app.post_message(&body).await;
        assert_eq!(r.status().as_u16(), 422, "{field}");
        let e: Value = r.json().await.expect("json");
        assert_eq!(e["code"], "validation_error");
        let fields: Vec<&str> = e["details"]
            .as_array()
            .expect("details")
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "details name {field}: {e}");
    }
    // The longest valid content is accepted, multi-byte characters included.
    let r = app.post_message(&json!({"tenant_id": "t", "conversation_id": "c", "role": "user", "content": "é".repeat(100_000)})).await;
    assert_eq!(r.status().as_u16(), 202);
    // Malformed JSON and a wrong content type are 4xx JSON, never 5xx.
    let r = app
        .client
        .post(app.url("/v1/messages"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 400);
    assert!(r.json::<Value>().await.expect("json")["code"].is_string());
    let r = app
        .client
        .post(app.url("/v1/messages"))
        .header("content-type", "text/plain")
        .body("hi")
        .send()
        .await
        .expect("request");
    assert!(r.status().is_client_error());
}

async fn imports_keep_their_created_at_and_reject_the_future(kind: StoreKind) {
    let app = spawn_app(kind).await;
    let r = app.post_message(&json!({"tenant_id": "t", "conversation_id": "c", "role": "assistant", "content": "old news", "created_at": "2023-05-08T13:56:00Z"})).await;
    assert_eq!(r.status().as_u16(), 202);
    let body: Value = r.json().await.expect("json");
    let created =
        chrono::DateTime::parse_from_rfc3339(body["created_at"].as_str().expect("created_at"))
            .expect("date");
    assert_eq!(created.timestamp(), 1_683_554_160);
    assert!(
        body["importance_score"].as_f64().expect("importance") < 0.35,
        "an old import keeps only role and neutral explicit parts"
    );
    let future = (chrono::Utc::now() + chrono::Duration::days(2)).to_rfc3339();
    let r = app.post_message(&json!({"tenant_id": "t", "conversation_id": "c", "role": "user", "content": "x", "created_at": future})).await;
    assert_eq!(r.status().as_u16(), 422);
}
