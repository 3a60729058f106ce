//! Builders for test messages and vectors.

use chrono::{DateTime, TimeZone, Utc};

use crate::domain::{
    Content, ConversationId, Embedding, EmbeddingStatus, Importance, Message, MessageId, Metadata,
    Role, TenantId,
};

/// A fixed instant the suite measures from (2025-06-01T12:00:00.123456Z).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::microseconds(123_456)
}

/// The unit vector along axis `i`.
pub fn basis(dim: usize, i: usize) -> Embedding {
    let mut v = vec![0.0; dim];
    v[i % dim] = 1.0;
    Embedding::new(v, dim).expect("valid embedding")
}

/// A unit vector at `angle` radians from axis 0 towards axis 1: cosine to `basis(0)` is `cos(angle)`.
pub fn tilted(dim: usize, angle: f32) -> Embedding {
    let mut v = vec![0.0; dim];
    v[0] = angle.cos();
    v[1] = angle.sin();
    Embedding::new(v, dim).expect("valid embedding")
}

/// A message builder with sensible defaults.
#[derive(Debug, Clone)]
pub struct Fixture {
    message: Message,
    dim: usize,
}

/// Shorthand for `Fixture::new(tenant, conversation, dim).build()`.
pub fn message(tenant: &str, conversation: &str, dim: usize) -> Message {
    Fixture::new(tenant, conversation, dim).build()
}

impl Fixture {
    /// A pending user message created at [`t0`], importance 0.5, metadata `{"source": "testkit"}`.
    pub fn new(tenant: &str, conversation: &str, dim: usize) -> Self {
        let mut metadata = serde_json::Map::new();
        metadata.insert("source".into(), "testkit".into());
        metadata.insert(
            "nested".into(),
            serde_json::json!({"n": 1, "list": [1, "two", null]}),
        );
        Self {
            dim,
            message: Message {
                id: MessageId::new(),
                tenant_id: TenantId::parse(tenant).expect("valid tenant"),
                conversation_id: ConversationId::parse(conversation).expect("valid conversation"),
                role: Role::User,
                content: Content::parse("hello").expect("valid content"),
                metadata: Metadata::from_map(metadata).expect("valid metadata"),
                importance_score: Importance::saturating(0.5),
                importance_override: None,
                embedding: None,
                embedding_status: EmbeddingStatus::Pending,
                archived: false,
                created_at: t0(),
                updated_at: t0(),
            },
        }
    }

    /// Sets the content.
    pub fn content(mut self, text: &str) -> Self {
        self.message.content = Content::parse(text).expect("valid content");
        self
    }

    /// Sets the role.
    pub fn role(mut self, role: Role) -> Self {
        self.message.role = role;
        self
    }

    /// Sets the importance.
    pub fn importance(mut self, v: f64) -> Self {
        self.message.importance_score = Importance::saturating(v);
        self
    }

    /// Records a client's importance override (the score is left as it is).
    pub fn overridden(mut self, v: f64) -> Self {
        self.message.importance_override = Some(Importance::saturating(v));
        self
    }

    /// Sets created_at and updated_at.
    pub fn created(mut self, at: DateTime<Utc>) -> Self {
        self.message.created_at = at;
        self.message.updated_at = at;
        self
    }

    /// Gives the message an embedding (status completed).
    pub fn embedded(mut self, e: Embedding) -> Self {
        assert_eq!(e.dimension(), self.dim, "fixture embedding dimension");
        self.message.embedding = Some(e);
        self.message.embedding_status = EmbeddingStatus::Completed;
        self
    }

    /// The message.
    pub fn build(self) -> Message {
        self.message
    }
}
