//! Rows as diesel reads and writes them, and their conversion to and from domain types.

use chrono::{DateTime, Utc};
use diesel::prelude::{Insertable, Queryable, QueryableByName, Selectable};
use memory_core::domain::{
    Content, ConversationId, Embedding, EmbeddingStatus, Importance, Message, MessageId, Metadata,
    Role, TenantId,
};
use memory_core::ports::{Candidate, MessageRecord};
use memory_core::retention::RetentionPolicy;
use pgvector::Vector;
use uuid::Uuid;

use crate::error::PgStoreError;
use crate::schema::{messages, retention_policies};

/// A whole message row (without `archived_at`, which the domain does not carry).
#[derive(Debug, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = messages)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct MessageRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub conversation_id: String,
    pub role: String,
    pub content: String,
    pub metadata: serde_json::Value,
    pub importance_score: f64,
    pub importance_override: Option<f64>,
    pub embedding: Option<Vector>,
    pub embedding_status: String,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A message row to insert, with the analysed text the service computed.
#[derive(Debug, Insertable)]
#[diesel(table_name = messages)]
pub(crate) struct NewMessageRow<'a> {
    pub id: Uuid,
    pub tenant_id: &'a str,
    pub conversation_id: &'a str,
    pub role: &'a str,
    pub content: &'a str,
    pub metadata: serde_json::Value,
    pub importance_score: f64,
    pub importance_override: Option<f64>,
    pub embedding: Option<Vector>,
    pub embedding_status: &'a str,
    pub archived: bool,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub lexical_terms: &'a str,
    pub lexical_length: i32,
}

impl<'a> NewMessageRow<'a> {
    pub fn from_record(record: &'a MessageRecord) -> Self {
        let m = &record.message;
        Self {
            lexical_terms: record.terms.terms(),
            lexical_length: i32::try_from(record.terms.length()).unwrap_or(i32::MAX),
            id: m.id.as_uuid(),
            tenant_id: m.tenant_id.as_str(),
            conversation_id: m.conversation_id.as_str(),
            role: m.role.as_str(),
            content: m.content.as_str(),
            metadata: m.metadata.to_value(),
            importance_score: m.importance_score.value(),
            importance_override: m.importance_override.map(|i| i.value()),
            embedding: m
                .embedding
                .as_ref()
                .map(|e| Vector::from(e.as_slice().to_vec())),
            embedding_status: m.embedding_status.as_str(),
            archived: m.archived,
            // A message inserted already archived counts as archived when it was last changed.
            archived_at: m.archived.then_some(m.updated_at),
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A search hit: the message without its embedding, and its cosine distance to the query.
#[derive(Debug, QueryableByName)]
#[diesel(table_name = messages)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct SearchRow {
    pub id: Uuid,
    pub tenant_id: String,
    pub conversation_id: String,
    pub role: String,
    pub content: String,
    pub metadata: serde_json::Value,
    pub importance_score: f64,
    pub importance_override: Option<f64>,
    pub embedding_status: String,
    pub archived: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Double)]
    pub distance: f64,
}

/// `count(*)` and friends.
#[derive(Debug, QueryableByName)]
pub(crate) struct CountRow {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub n: i64,
}

/// One tenant id.
#[derive(Debug, QueryableByName)]
pub(crate) struct TenantRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub tenant_id: String,
}

/// A retention policy row.
#[derive(Debug, Queryable, Selectable, Insertable)]
#[diesel(table_name = retention_policies)]
#[diesel(check_for_backend(diesel::pg::Pg))]
pub(crate) struct PolicyRow {
    pub tenant_id: String,
    pub max_age_days: i32,
    pub importance_threshold: f64,
    pub delete_after_days: i32,
    pub updated_at: DateTime<Utc>,
}

fn corrupt(id: Uuid, what: impl Into<memory_core::error::BoxError>) -> PgStoreError {
    PgStoreError::corrupt(format!("message {id}"), what)
}

#[allow(clippy::too_many_arguments)]
fn build_message(
    id: Uuid,
    tenant_id: String,
    conversation_id: String,
    role: &str,
    content: String,
    metadata: serde_json::Value,
    importance_score: f64,
    importance_override: Option<f64>,
    embedding: Option<Vector>,
    embedding_status: &str,
    archived: bool,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
) -> Result<Message, PgStoreError> {
    let c = |e| corrupt(id, e);
    let embedding = match embedding {
        Some(v) => {
            let values = v.to_vec();
            let dim = values.len();
            Some(Embedding::new(values, dim).map_err(c)?)
        }
        None => None,
    };
    Ok(Message {
        id: MessageId::from_uuid(id),
        tenant_id: TenantId::parse(tenant_id).map_err(c)?,
        conversation_id: ConversationId::parse(conversation_id).map_err(c)?,
        role: Role::parse(role).map_err(c)?,
        content: Content::parse(content).map_err(c)?,
        metadata: Metadata::parse(metadata).map_err(c)?,
        importance_score: Importance::new(importance_score).map_err(c)?,
        importance_override: importance_override
            .map(Importance::new)
            .transpose()
            .map_err(c)?,
        embedding,
        embedding_status: EmbeddingStatus::parse(embedding_status).map_err(c)?,
        archived,
        created_at,
        updated_at,
    })
}

impl TryFrom<MessageRow> for Message {
    type Error = PgStoreError;
    fn try_from(r: MessageRow) -> Result<Self, Self::Error> {
        build_message(
            r.id,
            r.tenant_id,
            r.conversation_id,
            &r.role,
            r.content,
            r.metadata,
            r.importance_score,
            r.importance_override,
            r.embedding,
            &r.embedding_status,
            r.archived,
            r.created_at,
            r.updated_at,
        )
    }
}

impl TryFrom<SearchRow> for Candidate {
    type Error = PgStoreError;
    fn try_from(r: SearchRow) -> Result<Self, Self::Error> {
        // Cosine distance is 1 - similarity; NaN (a zero vector) counts as unrelated.
        let similarity = if r.distance.is_nan() {
            0.0
        } else {
            (1.0 - r.distance).clamp(-1.0, 1.0)
        };
        let message = build_message(
            r.id,
            r.tenant_id,
            r.conversation_id,
            &r.role,
            r.content,
            r.metadata,
            r.importance_score,
            r.importance_override,
            None,
            &r.embedding_status,
            r.archived,
            r.created_at,
            r.updated_at,
        )?;
        Ok(Candidate {
            message,
            similarity,
        })
    }
}

impl TryFrom<PolicyRow> for RetentionPolicy {
    type Error = PgStoreError;
    fn try_from(r: PolicyRow) -> Result<Self, Self::Error> {
        let days = |v: i32| u32::try_from(v).unwrap_or(0);
        RetentionPolicy::new(
            days(r.max_age_days),
            r.importance_threshold,
            days(r.delete_after_days),
        )
        .map_err(|e| PgStoreError::corrupt(format!("retention policy of {}", r.tenant_id), e))
    }
}
