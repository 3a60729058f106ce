//! The tools: what an agent sees in `tools/list`, and what `tools/call` runs. Arguments are
//! read by the REST API's own request readers, so a tool validates exactly as its endpoint
//! does; answers are the REST API's JSON. A failure the agent can act on (a bad argument, an
//! unknown id, a forbidden tenant, an overload) is a tool result with `isError: true` and
//! the REST error body; only a malformed call is a JSON-RPC error.

use memory_core::domain::MessageId;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use super::RpcError;
use crate::api::create_message::CreateMessageRequest;
use crate::api::list_messages::ListMessagesParams;
use crate::api::search::SearchRequest;
use crate::api::update_message::UpdateMessageRequest;
use crate::api::wire::IntoWire;
use crate::error::{ApiError, ErrorChain};
use crate::middleware::Caller;
use crate::startup::AppState;

fn tenant_id() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 255,
        "description": "Whose memory: the user or organisation it belongs to."})
}

fn message_id() -> Value {
    json!({"type": "string", "format": "uuid",
        "description": "A memory's id, as add_memory, search_memory or list_memories returned it."})
}

fn tool(name: &str, title: &str, description: &str, schema: Value, hints: Value) -> Value {
    json!({"name": name, "title": title, "description": description, "inputSchema": schema,
        "annotations": hints})
}

/// `tools/list`'s tools.
pub fn catalogue() -> Vec<Value> {
    let read_only = json!({"readOnlyHint": true, "openWorldHint": false});
    vec![
        tool(
            "add_memory",
            "Remember a message",
            "Store one chat message in long-term memory, so later searches can find it. Call it \
             for what the user tells you (facts, preferences, plans) and for your own answers \
             worth remembering. Returns the stored memory with its id and importance.",
            json!({"type": "object", "required": ["tenant_id", "conversation_id", "content"],
            "additionalProperties": false,
            "properties": {
                "tenant_id": tenant_id(),
                "conversation_id": {"type": "string", "minLength": 1, "maxLength": 255,
                    "description": "The conversation (chat session) the message belongs to."},
                "role": {"type": "string", "enum": ["user", "assistant", "system"],
                    "default": "user", "description": "Who said it."},
                "content": {"type": "string", "minLength": 1, "maxLength": 100000,
                    "description": "The message's text."},
                "metadata": {"type": "object",
                    "description": "Any JSON object kept with the memory (searchable with filters)."},
                "importance_override": {"type": "number", "minimum": 0, "maximum": 1,
                    "description": "How important this is, 0-1, if you know better than the scorer."}
            }}),
            json!({"readOnlyHint": false, "destructiveHint": false, "idempotentHint": false,
                "openWorldHint": false}),
        ),
        tool(
            "search_memory",
            "Recall relevant memories",
            "Find the stored messages most relevant to a question, best first, ranked by \
             meaning and keywords (hybrid), importance and recency. Use it before answering \
             anything that may depend on what was said before. Each result has the message, \
             its id and its scores; relevance (0-1) is comparable across searches. Results \
             below min_relevance are left out, so an empty answer means nothing relevant is \
             stored.",
            json!({"type": "object", "required": ["tenant_id", "query"],
            "additionalProperties": false,
            "properties": {
                "tenant_id": tenant_id(),
                "query": {"type": "string", "minLength": 1, "maxLength": 10000,
                    "description": "What to look for, in plain words."},
                "top_k": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10,
                    "description": "How many results."},
                "conversation_id": {"type": "string",
                    "description": "Only this conversation."},
                "mode": {"type": "string", "enum": ["hybrid", "vector", "lexical"],
                    "description": "hybrid (default): meaning and keywords; vector: meaning only; lexical: keywords only."},
                "min_relevance": {"type": "number", "minimum": 0, "maximum": 1,
                    "description": "Leave out results less relevant than this, 0-1 (0 keeps everything; the server's default, 0.3 unless configured, drops what is clearly unrelated)."},
                "created_after": {"type": "string", "format": "date-time",
                    "description": "Only messages written at or after this instant (RFC 3339)."},
                "created_before": {"type": "string", "format": "date-time",
                    "description": "Only messages written before this instant (RFC 3339)."},
                "filters": {"type": "object",
                    "description": "Metadata conditions, e.g. {\"source\": \"web\"} or {\"priority\": {\"gte\": 2}}; operators eq, ne, in, nin, gt, gte, lt, lte, contains, exists; combine with AND, OR, NOT."}
            }}),
            read_only.clone(),
        ),
        tool(
            "get_memory",
            "Read one memory",
            "Read one stored message by its id.",
            json!({"type": "object", "required": ["message_id"], "additionalProperties": false,
                "properties": {"message_id": message_id()}}),
            read_only.clone(),
        ),
        tool(
            "list_memories",
            "List memories",
            "List a tenant's stored messages in time order, a page at a time (pass next_cursor \
             back as cursor for the next page).",
            json!({"type": "object", "required": ["tenant_id"], "additionalProperties": false,
            "properties": {
                "tenant_id": tenant_id(),
                "conversation_id": {"type": "string", "description": "Only this conversation."},
                "role": {"type": "string", "enum": ["user", "assistant", "system"]},
                "order": {"type": "string", "enum": ["asc", "desc"], "default": "asc",
                    "description": "asc: oldest first; desc: newest first."},
                "limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                "cursor": {"type": "string", "description": "The previous page's next_cursor."}
            }}),
            read_only.clone(),
        ),
        tool(
            "update_memory",
            "Correct a memory",
            "Correct a stored message: new content (searches then find the new text, not the \
             old), metadata, or importance. The change is kept in the memory's history.",
            json!({"type": "object", "required": ["message_id"], "additionalProperties": false,
            "properties": {
                "message_id": message_id(),
                "content": {"type": "string", "minLength": 1, "maxLength": 100000},
                "metadata": {"type": "object"},
                "metadata_mode": {"type": "string", "enum": ["replace", "merge"],
                    "default": "replace"},
                "importance_override": {"type": ["number", "null"], "minimum": 0, "maximum": 1}
            }}),
            json!({"readOnlyHint": false, "destructiveHint": true, "idempotentHint": true,
                "openWorldHint": false}),
        ),
        tool(
            "delete_memory",
            "Forget a memory",
            "Delete one stored message and its history, for good.",
            json!({"type": "object", "required": ["message_id"], "additionalProperties": false,
                "properties": {"message_id": message_id()}}),
            json!({"readOnlyHint": false, "destructiveHint": true, "idempotentHint": true,
                "openWorldHint": false}),
        ),
        tool(
            "memory_history",
            "A memory's history",
            "The changes made to a stored message: when, by whom, old and new values.",
            json!({"type": "object", "required": ["message_id"], "additionalProperties": false,
                "properties": {"message_id": message_id()}}),
            read_only,
        ),
    ]
}

/// Runs `tools/call`: the tool's result, or a JSON-RPC error for an unknown tool or
/// arguments that are not an object.
pub async fn call(
    state: &AppState,
    caller: &Caller,
    name: &str,
    args: Value,
) -> Result<Value, RpcError> {
    let Value::Object(args) = args else {
        return Err(RpcError::invalid_params("arguments must be an object"));
    };
    let outcome = match name {
        "add_memory" => add(state, caller, args).await,
        "search_memory" => search(state, caller, args).await,
        "get_memory" => get(state, caller, args).await,
        "list_memories" => list(state, caller, args).await,
        "update_memory" => update(state, caller, args).await,
        "delete_memory" => delete(state, caller, args).await,
        "memory_history" => history(state, caller, args).await,
        other => return Err(RpcError::invalid_params(format!("unknown tool {other:?}"))),
    };
    Ok(match outcome {
        Ok(value) => result(value, false),
        Err(e) => {
            if matches!(e, ApiError::Internal { .. }) {
                tracing::error!(tool = name, error = %ErrorChain(&e), "MCP tool failed");
            }
            let mut body = serde_json::to_value(e.body()).unwrap_or_default();
            body["status"] = json!(actix_web::ResponseError::status_code(&e).as_u16());
            result(body, true)
        }
    })
}

/// A `CallToolResult`: the JSON as text (for any client) and as structured content.
fn result(value: Value, is_error: bool) -> Value {
    json!({
        "content": [{"type": "text", "text": value.to_string()}],
        "structuredContent": value,
        "isError": is_error,
    })
}

/// Reads arguments with a REST reader, naming the argument a type error is about.
fn read<T: DeserializeOwned>(args: Map<String, Value>) -> Result<T, ApiError> {
    crate::extract::from_value(Value::Object(args), "arguments")
        .map_err(|e| ApiError::field(e.field, e.rule))
}

fn take_id(args: &mut Map<String, Value>) -> Result<MessageId, ApiError> {
    match args.remove("message_id") {
        Some(Value::String(s)) => {
            MessageId::parse(&s).map_err(|e| ApiError::field(e.field, e.rule))
        }
        Some(_) => Err(ApiError::field("message_id", "must be a string (a UUID)")),
        None => Err(ApiError::field("message_id", "is required")),
    }
}

fn json_of(value: impl serde::Serialize) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::internal_from("serialising a result", e))
}

async fn add(
    state: &AppState,
    c: &Caller,
    mut args: Map<String, Value>,
) -> Result<Value, ApiError> {
    args.entry("role").or_insert_with(|| json!("user"));
    let new = read::<CreateMessageRequest>(args)?.into_core()?;
    let message = state.service.ingest(new, &c.0).await?;
    state.metrics.record_ingested();
    json_of(message.into_wire())
}

async fn search(state: &AppState, c: &Caller, args: Map<String, Value>) -> Result<Value, ApiError> {
    let query = read::<SearchRequest>(args)?.into_core()?;
    json_of(state.service.search(query, &c.0).await?.into_wire())
}

async fn get(state: &AppState, c: &Caller, args: Map<String, Value>) -> Result<Value, ApiError> {
    let id = only_id(args)?;
    json_of(state.service.get(id, &c.0).await?.into_wire())
}

async fn list(state: &AppState, c: &Caller, args: Map<String, Value>) -> Result<Value, ApiError> {
    // The listing's reader takes query-string text: numbers and booleans as their text.
    let args = args
        .into_iter()
        .map(|(k, v)| match v {
            Value::Number(n) => (k, Value::String(n.to_string())),
            Value::Bool(b) => (k, Value::String(b.to_string())),
            other => (k, other),
        })
        .collect();
    let request = read::<ListMessagesParams>(args)?.into_core()?;
    json_of(state.service.list(&request, &c.0, false).await?.into_wire())
}

async fn update(
    state: &AppState,
    c: &Caller,
    mut args: Map<String, Value>,
) -> Result<Value, ApiError> {
    let id = take_id(&mut args)?;
    let patch = read::<UpdateMessageRequest>(args)?.into_core()?;
    let message = state.service.update(id, &patch, &c.1, None, &c.0).await?;
    json_of(message.into_wire())
}

async fn delete(state: &AppState, c: &Caller, args: Map<String, Value>) -> Result<Value, ApiError> {
    let id = only_id(args)?;
    state.service.delete(id, &c.0).await?;
    Ok(json!({"message_id": id.as_uuid(), "deleted": true}))
}

async fn history(
    state: &AppState,
    c: &Caller,
    args: Map<String, Value>,
) -> Result<Value, ApiError> {
    let id = only_id(args)?;
    let entries: Vec<_> = state
        .service
        .history(id, &c.0)
        .await?
        .into_iter()
        .map(IntoWire::into_wire)
        .collect();
    json_of(memory_api_types::HistoryResponse {
        message_id: id.as_uuid(),
        entries,
    })
}

/// The `message_id` of a tool that takes nothing else: other arguments are refused, as
/// unknown fields are in REST bodies.
fn only_id(mut args: Map<String, Value>) -> Result<MessageId, ApiError> {
    let id = take_id(&mut args)?;
    match args.keys().next() {
        None => Ok(id),
        Some(k) => Err(ApiError::field(k.clone(), "unknown argument")),
    }
}
