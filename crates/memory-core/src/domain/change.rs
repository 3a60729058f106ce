//! Changing a stored message: the validated patch, who made it, and the history it leaves.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::{Content, Importance, MessageId, Metadata, TenantId};
use crate::error::{FieldError, ValidationErrors};

/// How a patch's metadata applies.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataPatch {
    /// The new metadata replaces the old.
    Replace(Metadata),
    /// JSON Merge Patch (RFC 7386): keys overwrite, `null` removes a key, objects merge
    /// recursively.
    Merge(Map<String, Value>),
}

/// A change to a message, validated by [`MessagePatch::parse`]: at least one field.
#[derive(Debug, Clone, PartialEq)]
pub struct MessagePatch {
    pub(crate) content: Option<Content>,
    pub(crate) metadata: Option<MetadataPatch>,
    /// `Some(Some(v))`: rescore with this override; `Some(None)`: rescore without one.
    pub(crate) importance_override: Option<Option<Importance>>,
}

impl MessagePatch {
    /// Validates raw fields, collecting every error. `metadata_mode` is `replace` (default)
    /// or `merge`; `importance_override` is `Some(None)` for an explicit `null`.
    pub fn parse(
        content: Option<&str>,
        metadata: Option<Value>,
        metadata_mode: Option<&str>,
        importance_override: Option<Option<f64>>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let content = match content {
            Some(c) => errors.check(Content::parse(c)).map(Some),
            None => Some(None),
        };
        let merge = match metadata_mode {
            None | Some("replace") => Some(false),
            Some("merge") => Some(true),
            Some(other) => {
                errors.push(FieldError::new(
                    "metadata_mode",
                    format!("must be replace or merge; got {other:?}"),
                ));
                None
            }
        };
        let metadata = match (metadata, merge) {
            (None, _) => Some(None),
            (Some(_), None) => None,
            (Some(Value::Object(map)), Some(true)) => Some(Some(MetadataPatch::Merge(map))),
            (Some(value), Some(true)) => {
                errors.push(FieldError::new(
                    "metadata",
                    "a merge patch must be a JSON object",
                ));
                drop(value);
                None
            }
            (Some(value), Some(false)) => errors
                .check(Metadata::parse(value))
                .map(|m| Some(MetadataPatch::Replace(m))),
        };
        let importance_override = match importance_override {
            None => Some(None),
            Some(None) => Some(Some(None)),
            Some(Some(v)) => errors
                .check(Importance::parse_field("importance_override", v))
                .map(|i| Some(Some(i))),
        };
        let (Some(content), Some(metadata), Some(importance_override)) =
            (content, metadata, importance_override)
        else {
            return Err(errors);
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        if content.is_none() && metadata.is_none() && importance_override.is_none() {
            return Err(FieldError::new(
                "body",
                "must change at least one of content, metadata, importance_override",
            )
            .into());
        }
        Ok(Self {
            content,
            metadata,
            importance_override,
        })
    }

    /// The new content, if the patch changes it.
    pub fn content(&self) -> Option<&Content> {
        self.content.as_ref()
    }

    /// The metadata after this patch, from the metadata before it.
    pub fn apply_metadata(&self, old: &Metadata) -> Result<Metadata, FieldError> {
        match &self.metadata {
            None => Ok(old.clone()),
            Some(MetadataPatch::Replace(m)) => Ok(m.clone()),
            Some(MetadataPatch::Merge(patch)) => {
                let mut target = Value::Object(old.as_map().clone());
                merge_patch(&mut target, &Value::Object(patch.clone()));
                Metadata::parse(target)
            }
        }
    }
}

/// RFC 7386 JSON Merge Patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// Who made a change: recorded in the history. Inbound adapters name the caller (the HTTP
/// layer: `key:` and the first hex digits of the API key's hash, or `anonymous`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor(String);

impl Actor {
    /// Longest accepted name.
    pub const MAX_CHARS: usize = 128;

    /// Validates a name: 1-128 characters, no control characters.
    pub fn parse(name: impl Into<String>) -> Result<Self, FieldError> {
        let name = name.into();
        let len = name.chars().count();
        if len == 0 || len > Self::MAX_CHARS || name.chars().any(char::is_control) {
            return Err(FieldError::new(
                "actor",
                format!(
                    "must be 1-{} characters without control characters",
                    Self::MAX_CHARS
                ),
            ));
        }
        Ok(Self(name))
    }

    /// The caller of a process without authentication.
    pub fn anonymous() -> Self {
        Self("anonymous".into())
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One change to a message, as kept in its history: who, when, and the values before and
/// after.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEntry {
    /// The entry's own id (time-ordered).
    pub id: Uuid,
    /// The message changed.
    pub message_id: MessageId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// Content before the change.
    pub old_content: Content,
    /// Content after.
    pub new_content: Content,
    /// Metadata before.
    pub old_metadata: Metadata,
    /// Metadata after.
    pub new_metadata: Metadata,
    /// Importance before.
    pub old_importance: Importance,
    /// Importance after.
    pub new_importance: Importance,
}

impl HistoryEntry {
    /// The fields whose value changed: `content`, `metadata`, `importance_score`.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.old_content != self.new_content {
            out.push("content");
        }
        if self.old_metadata != self.new_metadata {
            out.push("metadata");
        }
        if self.old_importance != self.new_importance {
            out.push("importance_score");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: Value) -> Metadata {
        Metadata::parse(v).expect("valid")
    }

    #[test]
    fn merge_follows_rfc_7386() {
        let patch = MessagePatch::parse(
            None,
            Some(json!({"a": null, "b": {"c": 2, "d": null}, "e": [1]})),
            Some("merge"),
            None,
        )
        .expect("valid");
        let old = meta(json!({"a": 1, "b": {"c": 1, "d": 1, "f": 1}, "keep": true}));
        assert_eq!(
            patch.apply_metadata(&old).expect("valid").to_value(),
            json!({"b": {"c": 2, "f": 1}, "e": [1], "keep": true})
        );
        let replace = MessagePatch::parse(None, Some(json!({"x": 1})), None, None).expect("valid");
        assert_eq!(
            replace.apply_metadata(&old).expect("valid").to_value(),
            json!({"x": 1})
        );
    }

    #[test]
    fn bad_patches_name_their_fields() {
        let fields = |e: ValidationErrors| e.0.into_iter().map(|f| f.field).collect::<Vec<_>>();
        assert_eq!(
            fields(MessagePatch::parse(None, None, None, None).expect_err("empty")),
            ["body"]
        );
        assert_eq!(
            fields(
                MessagePatch::parse(Some(""), Some(json!([1])), Some("merge"), Some(Some(2.0)))
                    .expect_err("bad")
            ),
            ["content", "metadata", "importance_override"]
        );
        assert_eq!(
            fields(
                MessagePatch::parse(None, Some(json!({})), Some("upsert"), None).expect_err("bad")
            ),
            ["metadata_mode"]
        );
        let clear = MessagePatch::parse(None, None, None, Some(None)).expect("explicit null");
        assert_eq!(clear.importance_override, Some(None));
    }
}
