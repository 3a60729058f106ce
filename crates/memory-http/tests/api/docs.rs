//! /docs (Swagger UI, vendored) and /openapi.json, served offline.

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
        ("/v1/admin/health", "get"),
        ("/metrics", "get"),
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
    assert_eq!(params.len(), 7);
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
