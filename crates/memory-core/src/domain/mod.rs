//! Domain types. Every type here validates on construction: holding one means it is valid.

mod embedding;
mod message;
mod search;
mod values;

pub use embedding::{Embedding, cosine_similarity};
pub use message::{Message, NewMessage};
pub use search::{SearchHit, SearchMode, SearchQuery, SearchResults};
pub use values::{
    Content, ConversationId, EmbeddingStatus, Importance, MessageId, Metadata, Role, TenantId,
};
