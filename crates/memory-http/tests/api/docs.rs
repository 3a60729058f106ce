//! /docs (Swagger UI, vendored) and /openapi.json, served offline.

use memory_core::domain::{ConversationId, ListRequest, SearchQuery, TenantId};
use serde_json::Value;

use crate::helpers::spawn_app;

#[tokio::test]
async fn openapi_document_describes_every_endpoint_and_schema() {
    let app = spawn_app().await;
    let res = app.get("/openapi.json", None).await;
    assert_eq!(res.status().as_u16(), 200);
    let doc: Value = res.json().await.expect("json");
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    let paths = &doc["paths"];
    for (path, method) in [
        ("/v1/messages", "post"),
        ("/v1/messages/{message_id}", "get"),
        ("/v1/memory/search", "get"),
        ("/v1/admin/retention/run", "post"),
        ("/v1/memory/search", "post"),
        ("/v1/messages", "get"),
        ("/v1/messages/batch", "post"),
        ("/v1/messages/{message_id}", "patch"),
        ("/v1/messages/{message_id}", "delete"),
        ("/v1/messages/{message_id}/history", "get"),
        ("/v1/admin/health", "get"),
        ("/metrics", "get"),
        ("/v1/tenants", "get"),
        ("/v1/conversations", "get"),
        ("/v1/admin/retention/preview", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{path} {method}");
    }
    let schemas = &doc["components"]["schemas"];
    for s in [
        "CreateMessageRequest",
        "MessageResponse",
        "SearchResponse",
        "SearchItem",
        "RetentionRunRequest",
        "RetentionRunResponse",
        "HealthResponse",
        "ErrorBody",
        "FieldErrorBody",
    ] {
        assert!(schemas[s].is_object(), "schema {s}");
    }
    let required = schemas["CreateMessageRequest"]["required"]
        .as_array()
        .expect("required");
    assert_eq!(required.len(), 4, "{required:?}");
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["name"],
        "x-api-key"
    );
    let params = paths["/v1/memory/search"]["get"]["parameters"]
        .as_array()
        .expect("params");
    assert_eq!(params.len(), 11);
}

/// Every schema of a field named `name` under `doc`: properties and parameters alike.
fn schemas_named<'a>(doc: &'a Value, name: &str, out: &mut Vec<&'a Value>) {
    match doc {
        Value::Object(map) => {
            if map.get("name").and_then(Value::as_str) == Some(name)
                && let Some(schema) = map.get("schema")
            {
                out.push(schema);
            }
            if let Some(Value::Object(props)) = map.get("properties")
                && let Some(schema) = props.get(name)
            {
                out.push(schema);
            }
            for v in map.values() {
                schemas_named(v, name, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| schemas_named(v, name, out)),
        _ => {}
    }
}

/// The document states the core's limits, wherever a value appears, and every operation
/// behind the gate lists the shared error answers.
#[tokio::test]
async fn openapi_limits_are_the_cores_and_error_answers_are_listed_everywhere() {
    let app = spawn_app().await;
    let doc = app.openapi().await;
    // What clients send: parameters and request bodies.
    let schemas = &doc["components"]["schemas"];
    let inputs = [
        &doc["paths"],
        &schemas["CreateMessageRequest"],
        &schemas["RetentionRunRequest"],
        &schemas["BatchRequest"],
        &schemas["BatchItem"],
        &schemas["UpdateMessageRequest"],
        &schemas["SearchRequest"],
    ];
    for (name, max, at_least) in [
        ("tenant_id", TenantId::MAX_CHARS, 8),
        ("conversation_id", ConversationId::MAX_CHARS, 6),
        ("query", SearchQuery::MAX_QUERY_CHARS, 2),
    ] {
        let mut found = Vec::new();
        for input in inputs {
            schemas_named(input, name, &mut found);
        }
        assert!(found.len() >= at_least, "{name}: {found:?}");
        for schema in found {
            assert_eq!(schema["maxLength"], max, "{name}: {schema}");
            assert_eq!(schema["minLength"], 1, "{name}: {schema}");
            assert!(schema["pattern"].is_string(), "{name}: {schema}");
        }
    }
    let mut top_k = Vec::new();
    schemas_named(&doc, "top_k", &mut top_k);
    assert_eq!(top_k[0]["maximum"], SearchQuery::MAX_TOP_K as f64);
    let paths = doc["paths"].as_object().expect("paths");
    let mut guarded = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            if op["security"].is_null() {
                continue;
            }
            guarded += 1;
            let responses = &op["responses"];
            for status in ["401", "422", "429", "503", "504"] {
                assert_eq!(
                    responses[status]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
            for status in ["429", "503"] {
                assert!(
                    responses[status]["headers"]["Retry-After"].is_object(),
                    "{method} {path} {status}"
                );
            }
            if method == "post" || method == "patch" {
                for status in ["400", "413", "415"] {
                    assert!(responses[status].is_object(), "{method} {path} {status}");
                }
            }
        }
    }
    assert_eq!(guarded, 15, "the guarded operations");
    let mut limit = Vec::new();
    schemas_named(&doc["paths"]["/v1/messages"], "limit", &mut limit);
    assert_eq!(limit[0]["maximum"], ListRequest::MAX_LIMIT as f64);
    assert_eq!(
        schemas["BatchRequest"]["properties"]["messages"]["maxItems"],
        memory_core::service::MAX_BATCH_MESSAGES
    );
}

#[tokio::test]
async fn swagger_ui_is_served_from_the_binary() {
    let app = spawn_app().await;
    // /docs redirects to /docs/ (reqwest follows it).
    let res = app.get("/docs", None).await;
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.url().path(), "/docs/");
    let html = res.text().await.expect("html");
    assert!(html.to_lowercase().contains("swagger"), "{html}");
    for asset in [
        "/docs/swagger-ui.css",
        "/docs/swagger-ui-bundle.js",
        "/docs/swagger-initializer.js",
    ] {
        let res = app.get(asset, None).await;
        assert_eq!(res.status().as_u16(), 200, "{asset}");
        let body = res.text().await.expect("text");
        assert!(body.len() > 100, "{asset}");
        if asset.ends_with("initializer.js") {
            assert!(body.contains("/openapi.json"), "{body}");
        }
    }
}
