//! Conversions between domain values and rows.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use memory_core::domain::{
    Content, ConversationId, Embedding, EmbeddingStatus, Importance, Message, MessageId, Metadata,
    Role, TenantId,
};
use memory_core::text::AnalyzedText;
use uuid::Uuid;

use crate::error::SqliteStoreError;
use crate::schema::messages;

/// Microseconds since the Unix epoch (the stored form of every timestamp).
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The instant `micros` microseconds after the Unix epoch.
pub fn from_micros(micros: i64) -> Result<DateTime<Utc>, SqliteStoreError> {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .ok_or_else(|| SqliteStoreError::Corrupt(format!("timestamp {micros} out of range")))
}

/// Little-endian f32 bytes.
pub fn encode_vector(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 4);
    for v in values {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Decodes little-endian f32 bytes into `out` (cleared first).
pub fn decode_vector_into(
    bytes: &[u8],
    dimension: usize,
    out: &mut Vec<f32>,
) -> Result<(), SqliteStoreError> {
    if bytes.len() != dimension * 4 {
        return Err(SqliteStoreError::Corrupt(format!(
            "embedding blob of {} bytes, expected {} ({dimension} f32)",
            bytes.len(),
            dimension * 4
        )));
    }
    out.clear();
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
    Ok(())
}

/// Decodes an embedding blob.
pub fn decode_embedding(bytes: &[u8], dimension: usize) -> Result<Embedding, SqliteStoreError> {
    let mut v = Vec::with_capacity(dimension);
    decode_vector_into(bytes, dimension, &mut v)?;
    Embedding::new(v, dimension).map_err(|e| SqliteStoreError::Corrupt(e.to_string()))
}

/// A message id from its 16 stored bytes.
pub fn message_id(bytes: &[u8]) -> Result<MessageId, SqliteStoreError> {
    Uuid::from_slice(bytes)
        .map(MessageId::from_uuid)
        .map_err(|_| SqliteStoreError::Corrupt(format!("message id of {} bytes", bytes.len())))
}

/// A message row, without its embedding (search results leave it out).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = messages, check_for_backend(diesel::sqlite::Sqlite))]
pub struct MessageRow {
    pub id: Vec<u8>,
    pub tenant_id: String,
    pub conversation_id: String,
    pub role: String,
    pub content: String,
    pub metadata: String,
    pub importance_score: f64,
    pub importance_override: Option<f64>,
    pub embedding_status: String,
    pub archived: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl MessageRow {
    /// The domain message, with `embedding` (already decoded) attached.
    pub fn into_message(self, embedding: Option<Embedding>) -> Result<Message, SqliteStoreError> {
        let corrupt = |e: memory_core::error::FieldError| SqliteStoreError::Corrupt(e.to_string());
        let metadata: serde_json::Value = serde_json::from_str(&self.metadata)
            .map_err(|e| SqliteStoreError::Corrupt(format!("metadata: {e}")))?;
        Ok(Message {
            id: message_id(&self.id)?,
            tenant_id: TenantId::parse(self.tenant_id).map_err(corrupt)?,
            conversation_id: ConversationId::parse(self.conversation_id).map_err(corrupt)?,
            role: Role::parse(&self.role).map_err(corrupt)?,
            content: Content::parse(self.content).map_err(corrupt)?,
            metadata: Metadata::parse(metadata).map_err(corrupt)?,
            importance_score: Importance::new(self.importance_score).map_err(corrupt)?,
            importance_override: self
                .importance_override
                .map(Importance::new)
                .transpose()
                .map_err(corrupt)?,
            embedding,
            embedding_status: EmbeddingStatus::parse(&self.embedding_status).map_err(corrupt)?,
            archived: self.archived,
            created_at: from_micros(self.created_at)?,
            updated_at: from_micros(self.updated_at)?,
        })
    }
}

/// A message as inserted.
#[derive(Debug, Insertable)]
#[diesel(table_name = messages)]
pub struct NewMessageRow<'a> {
    pub id: &'a [u8],
    pub tenant_id: &'a str,
    pub conversation_id: &'a str,
    pub role: &'static str,
    pub content: &'a str,
    pub metadata: String,
    pub importance_score: f64,
    pub importance_override: Option<f64>,
    pub embedding: Option<Vec<u8>>,
    pub embedding_status: &'static str,
    pub archived: bool,
    pub archived_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub lexical_terms: Option<&'a str>,
    pub lexical_length: Option<i64>,
    pub lexical_doc: Option<i64>,
}

impl<'a> NewMessageRow<'a> {
    /// The row for `m` with its analysed text `terms`, numbered `lexical_doc` in the
    /// full-text index. `id` must be `m.id`'s bytes (kept by the caller for the borrow).
    pub fn new(
        m: &'a Message,
        id: &'a [u8; 16],
        lexical_doc: i64,
        terms: &'a AnalyzedText,
    ) -> Result<Self, SqliteStoreError> {
        let length = i64::try_from(terms.length()).unwrap_or(i64::MAX);
        let metadata = serde_json::to_string(m.metadata.as_map())
            .map_err(|e| SqliteStoreError::Corrupt(format!("metadata: {e}")))?;
        Ok(Self {
            id,
            tenant_id: m.tenant_id.as_str(),
            conversation_id: m.conversation_id.as_str(),
            role: m.role.as_str(),
            content: m.content.as_str(),
            metadata,
            importance_score: m.importance_score.value(),
            importance_override: m.importance_override.map(|i| i.value()),
            embedding: m.embedding.as_ref().map(|e| encode_vector(e.as_slice())),
            embedding_status: m.embedding_status.as_str(),
            archived: m.archived,
            archived_at: m.archived.then(|| to_micros(m.updated_at)),
            created_at: to_micros(m.created_at),
            updated_at: to_micros(m.updated_at),
            lexical_terms: Some(terms.terms()),
            lexical_length: Some(length),
            lexical_doc: Some(lexical_doc),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_round_trip_little_endian() {
        let v = [1.0f32, -0.5, 3.25e-7, f32::MAX];
        let bytes = encode_vector(&v);
        assert_eq!(&bytes[..4], &1.0f32.to_le_bytes());
        let mut out = Vec::new();
        decode_vector_into(&bytes, 4, &mut out).expect("decode");
        assert_eq!(out, v);
        assert!(decode_vector_into(&bytes, 3, &mut out).is_err());
    }

    #[test]
    fn micros_round_trip() {
        let t = memory_core::testkit::t0();
        assert_eq!(from_micros(to_micros(t)).expect("in range"), t);
    }
}
