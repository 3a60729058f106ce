//! Domain types. Every type here validates on construction: holding one means it is valid.

mod change;
mod conversations;
mod embedding;
mod filter;
mod idempotency;
mod listing;
mod message;
mod search;
mod values;

pub use change::{Actor, HistoryEntry, MessagePatch, MetadataPatch};
pub use conversations::{ConversationPage, ConversationRequest, ConversationSummary};
pub use embedding::{Embedding, cosine_similarity};
pub use filter::{Bound, Comparison, Condition, Filters, MetadataFilter, Scalar};
pub use idempotency::{IdempotencyKey, IdempotencyRecord};
pub(crate) use idempotency::{Outcome, decode_outcome, encode_outcome};
pub use listing::{ListParams, ListRequest, MessagePage, Position, SortOrder};
pub use message::{Message, NewMessage};
pub use search::{MinRelevance, SearchHit, SearchMode, SearchQuery, SearchResults};
pub use values::{
    Content, ConversationId, EmbeddingStatus, Importance, MessageId, Metadata, Role, TenantId,
};
