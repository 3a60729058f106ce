//! The wire types of the AI Memory Layer's REST API: every JSON body the server answers
//! with, and the bodies a client sends.
//!
//! One source of truth for the shapes: `memory-http` serialises the responses (and, with the
//! `openapi` feature, documents them in `/openapi.json`); `memory-client` deserialises them.
//! The crate knows no HTTP stack and no domain logic: it depends on serde, chrono and uuid
//! only, so a client pulls in neither actix nor the core.
//!
//! | module | what |
//! | --- | --- |
//! | [`message`] | a stored message, roles, embedding states |
//! | [`search`] | search results and modes |
//! | [`listing`] | pages of messages, history of changes |
//! | [`batch`] | per-item outcomes of a batch import |
//! | [`admin`] | health, retention runs, erasures |
//! | [`error`] | the one error body every failure is answered with |
//! | [`requests`] | typed request bodies and query parameters, as a client sends them |
//!
//! The server reads requests leniently (every field optional, so that one 422 lists every
//! problem at once); the strict [`requests`] types here are what a well-behaved client sends,
//! and a contract test in `memory-http` checks that each of them is accepted.

pub mod admin;
pub mod batch;
pub mod error;
pub mod listing;
pub mod message;
pub mod requests;
pub mod search;

pub use admin::{
    ArchivePreview, DatabaseStatus, DeletePreview, ErasureResponse, HealthResponse, HealthStatus,
    RetentionActionDto, RetentionPolicyDto, RetentionPreviewResponse, RetentionRunResponse,
};
pub use batch::{BatchItemResult, BatchResponse};
pub use error::{ErrorBody, FieldErrorBody};
pub use listing::{
    ConversationResponse, HistoryEntryResponse, HistoryResponse, ListConversationsResponse,
    ListMessagesResponse, MessageSnapshot, SortOrderDto, TenantsResponse,
};
pub use message::{EmbeddingStatusDto, MessageResponse, RoleDto};
pub use search::{SearchItem, SearchModeDto, SearchResponse, SignalsDto};

/// The header that makes a write safe to retry (`POST /v1/messages`, the batch, `PATCH`).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";
/// The header that carries the API key.
pub const API_KEY_HEADER: &str = "x-api-key";
/// The header that names a request in the server's logs.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
