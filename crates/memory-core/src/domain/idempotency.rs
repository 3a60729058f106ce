//! Idempotent retries: the caller's key for a write, and what the store keeps of the write's
//! outcome so a retry with the same key gets the same answer.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::{MessageId, TenantId};
use crate::error::{FieldError, ValidationErrors};

/// A caller's key for one write (`Idempotency-Key`), with the fingerprint of the request it
/// came with. Keys are per tenant: the same key in two tenants names two writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    key: String,
    fingerprint: String,
}

impl IdempotencyKey {
    /// Longest accepted key.
    pub const MAX_CHARS: usize = 255;

    /// Validates a key (1-255 visible ASCII characters). `fingerprint` identifies the
    /// request (the HTTP layer hashes method, path and body): the same key with another
    /// fingerprint is a conflict, not a retry.
    pub fn parse(key: &str, fingerprint: impl Into<String>) -> Result<Self, FieldError> {
        if key.is_empty()
            || key.len() > Self::MAX_CHARS
            || !key.bytes().all(|b| b.is_ascii_graphic())
        {
            return Err(FieldError::new(
                "Idempotency-Key",
                format!(
                    "must be 1-{} visible ASCII characters (no spaces)",
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(Self {
            key: key.to_owned(),
            fingerprint: fingerprint.into(),
        })
    }

    /// The key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The request's fingerprint.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

/// What a store keeps of a keyed write, written in the same transaction as the write itself:
/// if the write is committed, so is its record, and a retry finds it.
#[derive(Debug, Clone, PartialEq)]
pub struct IdempotencyRecord {
    /// The tenant the write belongs to.
    pub tenant_id: TenantId,
    /// The caller's key.
    pub key: String,
    /// The request's fingerprint.
    pub fingerprint: String,
    /// When the write happened (records expire after the configured time to live).
    pub created_at: DateTime<Utc>,
    /// The outcome, encoded by the core (stores keep it as opaque text).
    pub outcome: String,
}

/// The outcome of a keyed write, one item per message of the request: its id, or the
/// validation errors that kept it out.
pub(crate) type Outcome = Vec<Result<MessageId, ValidationErrors>>;

/// Encodes an outcome as JSON text.
pub(crate) fn encode_outcome(outcome: &Outcome) -> String {
    let items: Vec<Value> = outcome
        .iter()
        .map(|item| match item {
            Ok(id) => json!({ "id": id.as_uuid().to_string() }),
            Err(errors) => json!({
                "errors": errors.0.iter().map(|e| json!([e.field, e.rule])).collect::<Vec<_>>()
            }),
        })
        .collect();
    Value::Array(items).to_string()
}

/// Decodes [`encode_outcome`]'s text; `None` when it is not what the core wrote.
pub(crate) fn decode_outcome(text: &str) -> Option<Outcome> {
    let Value::Array(items) = serde_json::from_str(text).ok()? else {
        return None;
    };
    items
        .into_iter()
        .map(|item| {
            if let Some(id) = item.get("id").and_then(Value::as_str) {
                return Some(Ok(MessageId::from_uuid(uuid::Uuid::parse_str(id).ok()?)));
            }
            let errors = item.get("errors")?.as_array()?;
            let errors = errors
                .iter()
                .map(|e| Some(FieldError::new(e.get(0)?.as_str()?, e.get(1)?.as_str()?)))
                .collect::<Option<Vec<_>>>()?;
            Some(Err(ValidationErrors(errors)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip() {
        let outcome: Outcome = vec![
            Ok(MessageId::new()),
            Err(ValidationErrors(vec![FieldError::new(
                "content",
                "must not be \"empty\"",
            )])),
            Ok(MessageId::new()),
        ];
        assert_eq!(decode_outcome(&encode_outcome(&outcome)), Some(outcome));
        assert_eq!(decode_outcome("{}"), None);
        assert_eq!(decode_outcome("[{\"id\": \"nope\"}]"), None);
    }

    #[test]
    fn keys_are_visible_ascii() {
        assert!(IdempotencyKey::parse("import-2025-01/line-7", "fp").is_ok());
        for bad in ["", "has space", "tab\t", "é", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad, "fp").is_err(), "{bad:?}");
        }
    }
}
