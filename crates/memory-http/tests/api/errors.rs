//! Bad input never yields a 5xx: every kind of malformed request gets a 4xx JSON error.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{
    Options, SwitchableMessages, assert_error, fields, message, spawn_app, spawn_with,
};

async fn post_raw(
    app: &crate::helpers::TestApp,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut req = app.client.post(app.url("/v1/messages")).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.send().await.expect("request")
}

#[tokio::test]
async fn malformed_json_is_400_invalid_json() {
    let app = spawn_app().await;
    for body in ["{", "{\"tenant_id\": }", "", "{} {}", "nul"] {
        assert_error(
            post_raw(&app, Some("application/json"), body).await,
            400,
            "invalid_json",
        )
        .await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = spawn_app().await;
    let body = message("acme", "hi").to_string();
    assert_error(
        post_raw(&app, Some("text/plain"), body.clone()).await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        post_raw(&app, None, body.clone()).await,
        415,
        "unsupported_media_type",
    )
    .await;
    assert_error(
        post_raw(&app, Some("application/x-www-form-urlencoded"), "a=b").await,
        415,
        "unsupported_media_type",
    )
    .await;
    // Parameters and +json types are fine.
    let res = post_raw(&app, Some("application/json; charset=utf-8"), body.clone()).await;
    assert_eq!(res.status().as_u16(), 202);
    let res = post_raw(&app, Some("application/vnd.api+json"), body).await;
    assert_eq!(res.status().as_u16(), 202);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let app = spawn_app().await;
    let body = json!({"tenant_id": "acme", "conversation_id": "c", "role": "user", "content": "x".repeat(3 << 20)});
    assert_error(
        app.post_message(&body, None).await,
        413,
        "payload_too_large",
    )
    .await;
}

#[tokio::test]
async fn every_field_rule_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let base = message("acme", "hello");
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (
            json!({}),
            vec!["tenant_id", "conversation_id", "role", "content"],
        ),
        (with("tenant_id", json!("")), vec!["tenant_id"]),
        (with("tenant_id", json!("t".repeat(65))), vec!["tenant_id"]),
        (with("tenant_id", json!("   ")), vec!["tenant_id"]),
        (with("tenant_id", json!("a\u{1}b")), vec!["tenant_id"]),
        (
            with("conversation_id", json!("c".repeat(129))),
            vec!["conversation_id"],
        ),
        (with("role", json!("robot")), vec!["role"]),
        (with("role", json!("User")), vec!["role"]),
        (with("content", json!("")), vec!["content"]),
        (with("content", json!("nul\u{0}byte")), vec!["content"]),
        (
            with("importance_override", json!(1.5)),
            vec!["importance_override"],
        ),
        (
            with("importance_override", json!(-0.1)),
            vec!["importance_override"],
        ),
        (
            with("importance_override", json!("high")),
            vec!["importance_override"],
        ),
        (with("metadata", json!([1, 2])), vec!["metadata"]),
        (with("metadata", json!("text")), vec!["metadata"]),
        (with("content", json!(42)), vec!["content"]),
        (with("created_at", json!("2025-13-01")), vec!["created_at"]),
        (with("importance", json!(0.5)), vec!["importance"]),
        (
            json!({"tenant_id": "", "conversation_id": "c", "role": "robot", "content": "x", "importance_override": 2}),
            vec!["tenant_id", "role", "importance_override"],
        ),
    ];
    for (body, expected) in cases {
        let err = assert_error(app.post_message(&body, None).await, 422, "validation_error").await;
        let got = fields(&err);
        assert_eq!(got, expected, "{body}: {err}");
    }
    // Not an object at all.
    let err = assert_error(
        app.post_message(&json!([1]), None).await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(fields(&err), ["body"]);
    // Deeply nested metadata is refused, not a stack overflow.
    let mut deep = json!(1);
    for _ in 0..40 {
        deep = json!({ "a": deep });
    }
    let err = assert_error(
        app.post_message(&with("metadata", deep), None).await,
        422,
        "validation_error",
    )
    .await;
    assert_eq!(fields(&err), ["metadata"]);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json() {
    let app = spawn_app().await;
    assert_error(app.get("/nope", None).await, 404, "not_found").await;
    assert_error(
        app.get("/v1/messages/batch", None).await,
        405,
        "method_not_allowed",
    )
    .await;
    let res = app
        .client
        .delete(app.url("/v1/admin/health"))
        .send()
        .await
        .expect("request");
    assert_error(res, 405, "method_not_allowed").await;
}

#[tokio::test]
async fn store_failures_are_503_with_retry_after_and_internal_errors_hide_details() {
    let (store, ports) = SwitchableMessages::ports();
    let app = spawn_with(Options {
        store: Some(ports),
        ..Options::default()
    })
    .await;
    store.down.store(true, Ordering::SeqCst);
    let res = app.post_message(&message("acme", "hi"), None).await;
    assert_eq!(res.headers()["retry-after"], "5");
    assert_error(res, 503, "unavailable").await;
    let res = app
        .search(&[("tenant_id", "acme"), ("query", "x")], None)
        .await;
    assert_error(res, 503, "unavailable").await;

    store.internal.store(true, Ordering::SeqCst);
    let res = app
        .get("/v1/messages/550e8400-e29b-41d4-a716-446655440000", None)
        .await;
    let body = assert_error(res, 500, "internal").await;
    assert!(!body.to_string().contains("SECRET"), "{body}");
    assert_eq!(body["message"], "internal error");
}

#[tokio::test]
async fn every_response_has_a_request_id_and_a_sane_incoming_one_is_kept() {
    let app = spawn_app().await;
    for path in ["/v1/admin/health", "/metrics", "/nope", "/v1/messages/x"] {
        let res = app.get(path, None).await;
        let id = res.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(!id.is_empty(), "{path}");
    }
    let res = app
        .client
        .get(app.url("/v1/admin/health"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("request");
    assert_eq!(res.headers()["x-request-id"], "abc-123");
    let res = app
        .client
        .get(app.url("/v1/admin/health"))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .expect("request");
    assert_ne!(res.headers()["x-request-id"], "bad id with spaces");
}

/// Found while fuzzing (docs/reliability.md, section 3): actix percent-decodes path and query
/// parameters lossily, so `DELETE /v1/tenants/%FF/messages` erased the tenant named U+FFFD and
/// answered 200. Parameters that are not UTF-8 once decoded are now a 422 naming them.
#[tokio::test]
async fn parameters_that_are_not_utf8_once_decoded_are_422_never_replaced() {
    let app = spawn_app().await;
    let res = app.post_message(&message("\u{FFFD}", "kept"), None).await;
    assert_eq!(res.status().as_u16(), 202);
    let id = res.json::<Value>().await.expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let delete = |path: &str| app.client.delete(app.url(path)).send();
    let cases = [
        ("DELETE", "/v1/tenants/%FF/messages", "tenant_id"),
        ("DELETE", "/v1/tenants/ok%C3/messages", "tenant_id"),
        (
            "DELETE",
            "/v1/conversations/%FE?tenant_id=acme",
            "conversation_id",
        ),
        (
            "DELETE",
            "/v1/conversations/conv-1?tenant_id=%FF",
            "tenant_id",
        ),
        (
            "GET",
            "/v1/memory/search?tenant_id=%FF&query=kept",
            "tenant_id",
        ),
        (
            "GET",
            "/v1/memory/search?tenant_id=acme&query=%E2%9C",
            "query",
        ),
        ("GET", "/v1/messages/%FF", "message_id"),
        (
            "GET",
            "/v1/memory/search?tenant_id=acme&query=x&=%FF",
            "query string",
        ),
    ];
    for (method, path, field) in cases {
        let res = if method == "GET" {
            app.get(path, None).await
        } else {
            delete(path).await.expect("request")
        };
        let body = assert_error(res, 422, "validation_error").await;
        assert_eq!(fields(&body), [field], "{path}: {body}");
    }
    // Nothing was erased; the tenant's real name, percent-encoded, still works.
    let res = app.get(&format!("/v1/messages/{id}"), None).await;
    assert_eq!(res.status().as_u16(), 200);
    let res = delete("/v1/tenants/%EF%BF%BD/messages")
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body, json!({"tenant_id": "\u{FFFD}", "deleted": 1}));
    // Encoded slashes and plus signs are still parameters' own characters.
    let res = delete("/v1/conversations/a%2Fb%2Bc?tenant_id=a+b")
        .await
        .expect("request");
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        body,
        json!({"tenant_id": "a b", "conversation_id": "a/b+c", "deleted": 0})
    );
}

/// Found by the property tests: `?=x` was a 422 naming the field "".
#[tokio::test]
async fn an_unnamed_query_parameter_is_blamed_on_the_query_string() {
    let app = spawn_app().await;
    for path in [
        "/v1/memory/search?tenant_id=acme&query=x&=1",
        "/v1/memory/search?=",
        "/v1/conversations/c?tenant_id=acme&=",
    ] {
        let res = if path.starts_with("/v1/conv") {
            app.client
                .delete(app.url(path))
                .send()
                .await
                .expect("request")
        } else {
            app.get(path, None).await
        };
        let body = assert_error(res, 422, "validation_error").await;
        assert_eq!(fields(&body), ["query string"], "{path}: {body}");
    }
}

/// Found while fuzzing: the OpenAPI document did not list every status an operation answers
/// (413 on retention, 504 on reads and erasures, the HTTP layer's 400 for URLs over 64 KiB on
/// search), nor the erasure parameters' rules.
#[tokio::test]
async fn the_openapi_document_lists_every_status_and_parameter_rule() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    let statuses = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .expect("responses")
            .keys()
            .cloned()
            .collect()
    };
    assert!(statuses("/v1/admin/retention/run", "post").contains(&"413".to_owned()));
    for (path, method) in [
        ("/v1/messages/{message_id}", "get"),
        ("/v1/conversations/{conversation_id}", "delete"),
        ("/v1/tenants/{tenant_id}/messages", "delete"),
    ] {
        assert!(statuses(path, method).contains(&"504".to_owned()), "{path}");
    }
    assert!(statuses("/v1/memory/search", "get").contains(&"400".to_owned()));
    for (path, name, max) in [
        (
            "/v1/conversations/{conversation_id}",
            "conversation_id",
            128,
        ),
        ("/v1/conversations/{conversation_id}", "tenant_id", 64),
        ("/v1/tenants/{tenant_id}/messages", "tenant_id", 64),
    ] {
        let params = doc["paths"][path]["delete"]["parameters"]
            .as_array()
            .expect("parameters");
        let p = params
            .iter()
            .find(|p| p["name"] == name)
            .expect("parameter");
        assert_eq!(p["schema"]["maxLength"], max, "{path} {name}");
        assert_eq!(p["schema"]["minLength"], 1, "{path} {name}");
        assert!(p["schema"]["pattern"].is_string(), "{path} {name}");
    }

    // What the documented codes are for.
    let big = json!({"tenant_id": "acme", "actions": ["archive"], "x": "x".repeat(3 << 20)});
    assert_error(app.retention(&big, None).await, 413, "payload_too_large").await;
    // Clients refuse such URLs too (reqwest: "not a valid Uri"), so send it by hand.
    let query = "%E6%BC%A2".repeat(10_000);
    let request = format!(
        "GET /v1/memory/search?tenant_id=acme&query={query} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
}
