//! What a batch import did, item by item.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::ErrorBody;
use crate::message::EmbeddingStatusDto;

/// The outcome of one item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchItemResult {
    /// The item's position in the request.
    pub index: usize,
    /// 201: stored; 422: refused (see `error`).
    pub status: u16,
    /// The stored message's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// Whether the stored message is embedded yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_status: Option<EmbeddingStatusDto>,
    /// Why the item was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// What a batch did, item by item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchResponse {
    /// The tenant.
    pub tenant_id: String,
    /// Items stored.
    pub created: usize,
    /// Items refused.
    pub failed: usize,
    /// True when this answers a retry with the same `Idempotency-Key` (nothing was stored
    /// again).
    pub replayed: bool,
    /// One per item, in request order.
    pub results: Vec<BatchItemResult>,
}
