//! The OpenAPI document, built by utoipa from the handlers and wire types, served at
//! `/openapi.json` and browsed with Swagger UI at `/docs/` (vendored: works offline).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::api::common::{EmbeddingStatusDto, ErasureResponse, MessageResponse, RoleDto};
use crate::api::create_batch::{BatchItem, BatchItemResult, BatchRequest, BatchResponse};
use crate::api::create_message::CreateMessageRequest;
use crate::api::health::{DatabaseStatus, HealthResponse, HealthStatus};
use crate::api::list_conversations::{ConversationResponse, ListConversationsResponse};
use crate::api::list_messages::{ListMessagesResponse, SortOrderDto};
use crate::api::list_tenants::TenantsResponse;
use crate::api::message_history::{HistoryEntryResponse, HistoryResponse, MessageSnapshot};
use crate::api::retention_preview::{
    ArchivePreview, DeletePreview, RetentionPolicyDto, RetentionPreviewResponse,
};
use crate::api::run_retention::{RetentionActionDto, RetentionRunRequest, RetentionRunResponse};
use crate::api::search::{SearchItem, SearchModeDto, SearchRequest, SearchResponse, SignalsDto};
use crate::api::update_message::UpdateMessageRequest;
use crate::api::{
    create_batch, create_message, delete_message, erase_conversation, erase_tenant, get_message,
    health, list_conversations, list_messages, list_tenants, message_history, metrics,
    retention_preview, run_retention, search, update_message,
};
use crate::error::{ErrorBody, FieldErrorBody};

/// The API's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "AI Memory Layer",
        description = "Stores conversation messages with embeddings and finds relevant ones again. \
            Errors are JSON {code, message, details}; see docs/api.md.",
    ),
    paths(
        create_message::create_message,
        list_messages::list_messages,
        list_tenants::list_tenants,
        list_conversations::list_conversations,
        create_batch::create_batch,
        get_message::get_message,
        update_message::update_message,
        delete_message::delete_message,
        message_history::message_history,
        search::search,
        search::search_post,
        run_retention::run_retention,
        retention_preview::retention_preview,
        erase_conversation::erase_conversation,
        erase_tenant::erase_tenant,
        health::health,
        metrics::metrics,
    ),
    components(schemas(
        ErasureResponse,
        CreateMessageRequest,
        MessageResponse,
        ListMessagesResponse,
        TenantsResponse,
        ConversationResponse,
        ListConversationsResponse,
        SortOrderDto,
        BatchRequest,
        BatchItem,
        BatchItemResult,
        BatchResponse,
        UpdateMessageRequest,
        HistoryResponse,
        HistoryEntryResponse,
        MessageSnapshot,
        SearchRequest,
        SearchResponse,
        SearchItem,
        SignalsDto,
        SearchModeDto,
        RetentionRunRequest,
        RetentionRunResponse,
        RetentionActionDto,
        RetentionPolicyDto,
        RetentionPreviewResponse,
        ArchivePreview,
        DeletePreview,
        HealthResponse,
        HealthStatus,
        DatabaseStatus,
        RoleDto,
        EmbeddingStatusDto,
        ErrorBody,
        FieldErrorBody,
    )),
    modifiers(&ApiKeyScheme),
    tags(
        (name = "messages", description = "Store, list, change and delete messages"),
        (name = "memory", description = "Search memories"),
        (name = "admin", description = "Retention, health, metrics"),
    )
)]
pub struct ApiDoc;

struct ApiKeyScheme;

impl Modify for ApiKeyScheme {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-api-key",
                "Required on /v1/messages, /v1/memory and /v1/admin/retention when MEMORY_API_KEYS is set.",
            ))),
        );
    }
}
