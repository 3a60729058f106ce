//! The MCP endpoint over the wire, as raw JSON-RPC: the handshake, the tool catalogue, every
//! tool, tool failures as `isError` results, protocol errors, and tenant isolation by API
//! key. (The official Python SDK drives it against the real binary in
//! `clients/python/tests/test_mcp.py`.)

use serde_json::{Value, json};

use crate::helpers::{Options, TestApp, spawn_app, spawn_with};

async fn rpc(app: &TestApp, key: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/mcp"))
        .header("accept", "application/json, text/event-stream")
        .json(body);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().await.expect("request")
}

/// Calls a tool and returns (isError, structuredContent).
async fn call(app: &TestApp, key: Option<&str>, tool: &str, args: Value) -> (bool, Value) {
    let r = rpc(
        app,
        key,
        &json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": tool, "arguments": args}}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["id"], 7);
    let result = &body["result"];
    let text: Value =
        serde_json::from_str(result["content"][0]["text"].as_str().expect("text")).expect("json");
    assert_eq!(
        text, result["structuredContent"],
        "text and structure agree"
    );
    (
        result["isError"].as_bool().expect("isError"),
        result["structuredContent"].clone(),
    )
}

#[tokio::test]
async fn the_handshake_and_the_catalogue() {
    let app = spawn_app().await;
    let r = rpc(
        &app,
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-03-26", "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}}}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let init: Value = r.json().await.expect("json");
    assert_eq!(init["result"]["protocolVersion"], "2025-03-26", "echoed");
    assert_eq!(init["result"]["serverInfo"]["version"], "9.9.9");
    assert!(init["result"]["capabilities"]["tools"].is_object());
    // An unknown revision gets the newest.
    let r = rpc(
        &app,
        None,
        &json!({"jsonrpc": "2.0", "id": 2, "method": "initialize",
            "params": {"protocolVersion": "1999-01-01"}}),
    )
    .await;
    let init: Value = r.json().await.expect("json");
    assert_eq!(init["result"]["protocolVersion"], "2025-11-25");

    let r = rpc(
        &app,
        None,
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(r.status().as_u16(), 202, "a notification is accepted");
    assert!(r.bytes().await.expect("body").is_empty());

    let r = rpc(
        &app,
        None,
        &json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}),
    )
    .await;
    assert_eq!(r.json::<Value>().await.expect("json")["result"], json!({}));

    let r = rpc(
        &app,
        None,
        &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/list"}),
    )
    .await;
    let tools: Value = r.json().await.expect("json");
    let names: Vec<&str> = tools["result"]["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["name"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        [
            "add_memory",
            "search_memory",
            "get_memory",
            "list_memories",
            "update_memory",
            "delete_memory",
            "memory_history"
        ]
    );
    for t in tools["result"]["tools"].as_array().expect("tools") {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert!(t["description"].as_str().expect("description").len() > 20);
    }
}

#[tokio::test]
async fn every_tool_works_and_failures_are_results() {
    let app = spawn_app().await;
    let (err, stored) = call(
        &app,
        None,
        "add_memory",
        json!({"tenant_id": "acme", "conversation_id": "c1",
            "content": "I love hiking in the Alps", "metadata": {"source": "agent"}}),
    )
    .await;
    assert!(!err, "{stored}");
    assert_eq!(stored["role"], "user", "the default role");
    let id = stored["id"].as_str().expect("id").to_owned();

    let (err, found) = call(
        &app,
        None,
        "search_memory",
        json!({"tenant_id": "acme", "query": "hiking", "top_k": 3,
            "filters": {"source": "agent"}}),
    )
    .await;
    assert!(!err);
    assert_eq!(found["items"][0]["message_id"], id.as_str());
    assert!(found["items"][0]["score"].is_number());
    assert!(found["items"][0]["relevance"].is_number());
    assert!(found["min_relevance"].is_number() && found["below_min_relevance"].is_number());
    // The threshold: validated, and an impossible one empties the answer, saying so.
    let (err, e) = call(
        &app,
        None,
        "search_memory",
        json!({"tenant_id": "acme", "query": "hiking", "min_relevance": 2}),
    )
    .await;
    assert!(err);
    assert_eq!(e["details"][0]["field"], "min_relevance", "{e}");
    let (err, strict) = call(
        &app,
        None,
        "search_memory",
        json!({"tenant_id": "acme", "query": "hiking", "top_k": 3, "min_relevance": 1,
            "filters": {"source": "agent"}}),
    )
    .await;
    assert!(!err);
    let kept = strict["items"].as_array().expect("items");
    assert!(
        kept.iter().all(|i| i["relevance"].as_f64() >= Some(1.0)),
        "{strict}"
    );
    assert_eq!(
        kept.len() as u64 + strict["below_min_relevance"].as_u64().expect("count"),
        found["total"].as_u64().expect("total"),
        "each of the best is kept or counted: {strict}"
    );

    let (_, got) = call(&app, None, "get_memory", json!({"message_id": id})).await;
    assert_eq!(got["content"], "I love hiking in the Alps");
    let (_, page) = call(
        &app,
        None,
        "list_memories",
        json!({"tenant_id": "acme", "limit": 10, "order": "desc"}),
    )
    .await;
    assert_eq!(page["messages"].as_array().expect("page").len(), 1);
    let (err, updated) = call(
        &app,
        None,
        "update_memory",
        json!({"message_id": id, "content": "I love hiking in the Dolomites"}),
    )
    .await;
    assert!(!err, "{updated}");
    assert_eq!(updated["content"], "I love hiking in the Dolomites");
    let (_, history) = call(&app, None, "memory_history", json!({"message_id": id})).await;
    assert_eq!(
        history["entries"][0]["old"]["content"],
        "I love hiking in the Alps"
    );
    let (err, deleted) = call(&app, None, "delete_memory", json!({"message_id": id})).await;
    assert!(!err);
    assert_eq!(deleted["deleted"], true);

    // Failures the agent can act on come back as results.
    let (err, gone) = call(&app, None, "get_memory", json!({"message_id": id})).await;
    assert!(err);
    assert_eq!(
        (gone["status"].as_u64(), &gone["code"]),
        (Some(404), &json!("not_found"))
    );
    let (err, bad) = call(
        &app,
        None,
        "add_memory",
        json!({"tenant_id": "acme", "conversation_id": "c1", "role": "robot", "content": ""}),
    )
    .await;
    assert!(err);
    assert_eq!(bad["code"], "validation_error");
    let fields: Vec<&str> = bad["details"]
        .as_array()
        .expect("details")
        .iter()
        .map(|d| d["field"].as_str().expect("field"))
        .collect();
    assert!(
        fields.contains(&"role") && fields.contains(&"content"),
        "{bad}"
    );
    let (err, typo) = call(&app, None, "get_memory", json!({"message_id": id, "x": 1})).await;
    assert!(err);
    assert_eq!(typo["details"][0]["field"], "x");
    let (err, not_uuid) = call(&app, None, "delete_memory", json!({"message_id": "42"})).await;
    assert!(err);
    assert_eq!(not_uuid["details"][0]["field"], "message_id");
}

#[tokio::test]
async fn protocol_errors_are_json_rpc_errors() {
    let app = spawn_app().await;
    let error_of = |v: Value| v["error"]["code"].as_i64().expect("code");
    let r = rpc(
        &app,
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "resources/list"}),
    )
    .await;
    assert_eq!(error_of(r.json().await.expect("json")), -32601);
    let r = rpc(
        &app,
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "format_disk", "arguments": {}}}),
    )
    .await;
    assert_eq!(error_of(r.json().await.expect("json")), -32602);
    let r = rpc(
        &app,
        None,
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_memory", "arguments": [1]}}),
    )
    .await;
    assert_eq!(error_of(r.json().await.expect("json")), -32602);
    let r = rpc(&app, None, &json!({"id": 1, "method": "ping"})).await;
    assert_eq!(
        error_of(r.json().await.expect("json")),
        -32600,
        "no jsonrpc"
    );

    let r = app
        .client
        .post(app.url("/mcp"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 400);
    assert_eq!(error_of(r.json().await.expect("json")), -32700);

    let r = app
        .client
        .post(app.url("/mcp"))
        .header("mcp-protocol-version", "1999-01-01")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 400);

    // A batch answers its requests, in order.
    let r = rpc(
        &app,
        None,
        &json!([{"jsonrpc": "2.0", "id": "a", "method": "ping"},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": "b", "method": "nope"}]),
    )
    .await;
    let answers: Value = r.json().await.expect("json");
    assert_eq!(answers[0]["id"], "a");
    assert_eq!(answers[1]["id"], "b");
    assert_eq!(answers.as_array().expect("array").len(), 2);

    // No server-sent event stream, no sessions.
    let r = app.client.get(app.url("/mcp")).send().await.expect("get");
    assert_eq!(r.status().as_u16(), 405);
    let r = app
        .client
        .delete(app.url("/mcp"))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 405);
}

#[tokio::test]
async fn keys_bind_mcp_callers_to_their_tenants() {
    let app = spawn_with(Options {
        api_keys: "admin-key,acme-key:acme",
        origins: vec!["https://app.example".into()],
        ..Options::default()
    })
    .await;
    let ping = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"});
    assert_eq!(rpc(&app, None, &ping).await.status().as_u16(), 401);
    assert_eq!(rpc(&app, Some("wrong"), &ping).await.status().as_u16(), 401);

    let (err, secret) = call(
        &app,
        Some("admin-key"),
        "add_memory",
        json!({"tenant_id": "globex", "conversation_id": "g", "content": "globex secret"}),
    )
    .await;
    assert!(!err);
    let id = secret["id"].as_str().expect("id");

    let acme = Some("acme-key");
    let (err, e) = call(
        &app,
        acme,
        "add_memory",
        json!({"tenant_id": "globex", "conversation_id": "g", "content": "x"}),
    )
    .await;
    assert!(err);
    assert_eq!(e["code"], "forbidden");
    let (err, e) = call(
        &app,
        acme,
        "search_memory",
        json!({"tenant_id": "globex", "query": "secret"}),
    )
    .await;
    assert!(err);
    assert_eq!(e["code"], "forbidden");
    for tool in ["get_memory", "delete_memory", "memory_history"] {
        let (err, e) = call(&app, acme, tool, json!({"message_id": id})).await;
        assert!(err, "{tool}");
        assert_eq!(e["code"], "not_found", "{tool}: as if it did not exist");
    }
    let (err, e) = call(
        &app,
        acme,
        "update_memory",
        json!({"message_id": id, "content": "pwned"}),
    )
    .await;
    assert!(err);
    assert_eq!(e["code"], "not_found");
    let (_, still) = call(
        &app,
        Some("admin-key"),
        "get_memory",
        json!({"message_id": id}),
    )
    .await;
    assert_eq!(still["content"], "globex secret");
    let (err, own) = call(
        &app,
        acme,
        "add_memory",
        json!({"tenant_id": "acme", "conversation_id": "a", "content": "acme note"}),
    )
    .await;
    assert!(!err, "{own}");

    // A browser page of an origin not allowed cannot drive the tools.
    let r = app
        .client
        .post(app.url("/mcp"))
        .header("x-api-key", "admin-key")
        .header("origin", "https://evil.example")
        .json(&ping)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 403);
    let r = app
        .client
        .post(app.url("/mcp"))
        .header("x-api-key", "admin-key")
        .header("origin", "https://app.example")
        .json(&ping)
        .send()
        .await
        .expect("request");
    assert_eq!(r.status().as_u16(), 200);
}
