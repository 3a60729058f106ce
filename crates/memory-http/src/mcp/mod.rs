//! The Model Context Protocol at `/mcp`: agents reach memory as tools (`add_memory`,
//! `search_memory`, ...) over MCP's streamable HTTP transport.
//!
//! A stateless server, answering each JSON-RPC request with one `application/json` response
//! (the transport allows it; no session id, no server-sent events: `GET` and `DELETE` are
//! 405). The route sits behind the same gate as the REST API, so an MCP client presents the
//! same `x-api-key`, is held to the same rate limits, load shedding and timeout, and a
//! tenant-bound key reaches exactly the tenants it reaches through REST: every tool calls
//! [`memory_core::MemoryService`] with the caller's access, as the REST handlers do.
//!
//! Why not the `rmcp` SDK's server: its streamable HTTP transport is a tower service, which
//! actix cannot mount without a bridge of its own, and this server needs only JSON-RPC's
//! request/response half (initialize, ping, tools/list, tools/call). The protocol is checked
//! end to end with the official Python SDK (`clients/python/tests/test_mcp.py`).
//!
//! - [`tools`]: the tool catalogue and the calls.

pub mod tools;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::middleware::Caller;
use crate::startup::AppState;

/// Protocol revisions this server speaks, newest first.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// JSON-RPC error codes.
mod code {
    pub const PARSE_ERROR: i64 = -32700;
    pub const INVALID_REQUEST: i64 = -32600;
    pub const METHOD_NOT_FOUND: i64 = -32601;
    pub const INVALID_PARAMS: i64 = -32602;
}

/// A JSON-RPC error (a protocol error: tool failures are results with `isError`).
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    /// The JSON-RPC code.
    pub code: i64,
    /// What went wrong.
    pub message: String,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// Bad `params`: an unknown tool, arguments that are not an object.
    pub fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(code::INVALID_PARAMS, message)
    }
}

fn response(id: &Value, result: Result<Value, RpcError>) -> Value {
    match result {
        Ok(result) => json!({"jsonrpc": "2.0", "id": id, "result": result}),
        Err(e) => json!({"jsonrpc": "2.0", "id": id,
            "error": {"code": e.code, "message": e.message}}),
    }
}

fn bad_request(code: i64, message: &str) -> HttpResponse {
    HttpResponse::BadRequest().json(response(&Value::Null, Err(RpcError::new(code, message))))
}

/// `POST /mcp`: one JSON-RPC message (or a batch of them, as 2025-03-26 allowed).
pub async fn post(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    // DNS rebinding: a browser page must not drive a local server's tools.
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or("").trim_end_matches('/');
        if !state
            .allowed_origins
            .iter()
            .any(|o| o == "*" || o == origin)
        {
            return Err(ApiError::Forbidden(format!(
                "origin {origin:?} is not in MEMORY_ALLOWED_ORIGINS"
            )));
        }
    }
    if let Some(v) = req.headers().get("mcp-protocol-version") {
        let v = v.to_str().unwrap_or("");
        if !PROTOCOL_VERSIONS.contains(&v) {
            return Ok(bad_request(
                code::INVALID_REQUEST,
                &format!(
                    "unsupported MCP-Protocol-Version {v:?}; this server speaks {PROTOCOL_VERSIONS:?}"
                ),
            ));
        }
    }
    let message: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return Ok(bad_request(code::PARSE_ERROR, &format!("not JSON: {e}"))),
    };
    let answer = match message {
        Value::Array(batch) if !batch.is_empty() => {
            let mut answers = Vec::new();
            for m in &batch {
                if let Some(a) = handle(&state, &caller, m).await {
                    answers.push(a);
                }
            }
            (!answers.is_empty()).then_some(Value::Array(answers))
        }
        Value::Array(_) => return Ok(bad_request(code::INVALID_REQUEST, "empty batch")),
        single => handle(&state, &caller, &single).await,
    };
    Ok(match answer {
        Some(a) => HttpResponse::Ok().json(a),
        // Notifications and responses: accepted, nothing to say.
        None => HttpResponse::Accepted().finish(),
    })
}

/// One message: the response to a request, or `None` for a notification or a response.
async fn handle(state: &AppState, caller: &Caller, message: &Value) -> Option<Value> {
    let Some(obj) = message.as_object() else {
        return Some(response(
            &Value::Null,
            Err(RpcError::new(
                code::INVALID_REQUEST,
                "not a JSON-RPC message",
            )),
        ));
    };
    let id = obj.get("id").cloned();
    let method = obj.get("method").and_then(Value::as_str);
    let (id, method) = match (id, method) {
        (Some(id), Some(method)) if obj.get("jsonrpc") == Some(&json!("2.0")) => (id, method),
        // A notification (`notifications/initialized`, cancellations) or a response.
        (None, Some(_)) => return None,
        (Some(_), None) if obj.contains_key("result") || obj.contains_key("error") => {
            return None;
        }
        (id, _) => {
            return Some(response(
                &id.unwrap_or(Value::Null),
                Err(RpcError::new(
                    code::INVALID_REQUEST,
                    "a request needs \"jsonrpc\": \"2.0\", an id and a method",
                )),
            ));
        }
    };
    let params = obj.get("params").cloned().unwrap_or(Value::Null);
    let result = match method {
        "initialize" => Ok(initialize(state, &params)),
        "ping" => Ok(json!({})),
        "tools/list" => Ok(json!({"tools": tools::catalogue()})),
        "tools/call" => {
            let name = params.get("name").and_then(Value::as_str);
            let args = params.get("arguments").cloned().unwrap_or(json!({}));
            match name {
                Some(name) => tools::call(state, caller, name, args).await,
                None => Err(RpcError::invalid_params("tools/call needs a tool name")),
            }
        }
        other => Err(RpcError::new(
            code::METHOD_NOT_FOUND,
            format!("method {other:?} not found (this server offers tools only)"),
        )),
    };
    Some(response(&id, result))
}

fn initialize(state: &AppState, params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(PROTOCOL_VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": "ai-memory-layer", "title": "AI Memory Layer", "version": state.version},
        "instructions": "Long-term memory for conversations. Store what the user says with \
            add_memory; before answering, search_memory for what was said before (results are \
            ranked by relevance, importance and recency). Every call names a tenant_id (the \
            user or organisation the memory belongs to); your API key may be limited to some \
            tenants.",
    })
}
