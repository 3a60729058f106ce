//! OpenAPI schemas of the values the core validates, built from the core's own limits
//! ([`TenantId::MAX_CHARS`], [`SearchQuery::MAX_TOP_K`], ...) so the document cannot drift
//! from the rules the server applies. Used with `schema_with` on the wire types.

use memory_core::domain::{
    Content, ConversationId, ConversationRequest, ListRequest, SearchQuery, TenantId,
};
use memory_core::service::MAX_BATCH_MESSAGES;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// An identifier: at least one character that is not white space, no control characters.
pub const IDENTIFIER_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$";

/// Text without NUL.
const TEXT_PATTERN: &str = r"^[^\u0000]*$";

/// Text without NUL with at least one character that is not white space.
const QUERY_PATTERN: &str = r"^[^\u0000]*[^\s\u0000][^\u0000]*$";

fn string(max: usize, pattern: &str, description: String) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

fn identifier(what: &str, max: usize) -> Object {
    string(
        max,
        IDENTIFIER_PATTERN,
        format!("{what}: 1-{max} characters, no control characters, not only white space."),
    )
}

/// A tenant id ([`TenantId`]).
pub fn tenant_id() -> Object {
    identifier("The tenant (the unit of isolation)", TenantId::MAX_CHARS)
}

/// A conversation id ([`ConversationId`]).
pub fn conversation_id() -> Object {
    identifier("The conversation", ConversationId::MAX_CHARS)
}

/// A message's text ([`Content`]).
pub fn content() -> Object {
    string(
        Content::MAX_CHARS,
        TEXT_PATTERN,
        format!("The text: 1-{} characters, no NUL.", Content::MAX_CHARS),
    )
}

/// A search's text ([`SearchQuery::MAX_QUERY_CHARS`]).
pub fn query() -> Object {
    string(
        SearchQuery::MAX_QUERY_CHARS,
        QUERY_PATTERN,
        format!(
            "Text to search for: 1-{} characters, not only white space. The whole URL, \
             percent-encoded, must stay under 64 KiB: that many characters outside ASCII may \
             not fit (see the 400).",
            SearchQuery::MAX_QUERY_CHARS
        ),
    )
}

fn integer(min: usize, max: usize, description: String) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min as f64))
        .maximum(Some(max as f64))
        .description(Some(description))
        .build()
}

/// `top_k` ([`SearchQuery::MAX_TOP_K`]).
pub fn top_k() -> Object {
    integer(
        1,
        SearchQuery::MAX_TOP_K,
        format!(
            "Number of results, 1-{} (default {}).",
            SearchQuery::MAX_TOP_K,
            SearchQuery::DEFAULT_TOP_K
        ),
    )
}

/// `candidate_limit` ([`SearchQuery::MAX_CANDIDATE_LIMIT`]).
pub fn candidate_limit() -> Object {
    integer(
        1,
        SearchQuery::MAX_CANDIDATE_LIMIT,
        format!(
            "Nearest neighbours considered for ranking, 1-{} and at least top_k (default {}).",
            SearchQuery::MAX_CANDIDATE_LIMIT,
            SearchQuery::DEFAULT_CANDIDATE_LIMIT
        ),
    )
}

/// A listing's `limit` ([`ListRequest::MAX_LIMIT`]).
pub fn list_limit() -> Object {
    integer(
        1,
        ListRequest::MAX_LIMIT,
        format!(
            "Page size, 1-{} (default {}).",
            ListRequest::MAX_LIMIT,
            ListRequest::DEFAULT_LIMIT
        ),
    )
}

/// Page size of `GET /v1/conversations`.
pub fn conversations_limit() -> Object {
    integer(
        1,
        ConversationRequest::MAX_LIMIT,
        format!(
            "Page size, 1-{} (default {}).",
            ConversationRequest::MAX_LIMIT,
            ConversationRequest::DEFAULT_LIMIT
        ),
    )
}

/// A batch's `messages` ([`MAX_BATCH_MESSAGES`]).
pub fn batch_messages() -> utoipa::openapi::schema::Array {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(utoipa::openapi::RefOr::Ref(
            utoipa::openapi::Ref::from_schema_name("BatchItem"),
        ))
        .min_items(Some(1))
        .max_items(Some(MAX_BATCH_MESSAGES))
        .description(Some(format!(
            "1-{MAX_BATCH_MESSAGES} messages of the batch's tenant."
        )))
        .build()
}
