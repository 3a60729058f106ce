//! Validating newtypes for the values a message is made of.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::FieldError;

/// Checks a bounded identifier: `min..=max` characters, no control characters (NUL included:
/// Postgres cannot store it), not only white space.
fn check_identifier(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    let len = value.chars().count();
    if len == 0 || len > max {
        return Err(FieldError::new(
            field,
            format!("must be 1-{max} characters, got {len}"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    if value.trim().is_empty() {
        return Err(FieldError::new(field, "must not be only white space"));
    }
    Ok(())
}

macro_rules! identifier {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in characters.
            pub const MAX_CHARS: usize = $max;

            /// Validates and wraps `value`.
            pub fn parse(value: impl Into<String>) -> Result<Self, FieldError> {
                let value = value.into();
                check_identifier($field, &value, $max)?;
                Ok(Self(value))
            }

            /// The identifier as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The owned string.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

identifier!(
    /// A tenant: the unit of isolation. 1-64 characters, no control characters.
    TenantId,
    "tenant_id",
    64
);
identifier!(
    /// A conversation within a tenant. 1-128 characters, no control characters.
    ConversationId,
    "conversation_id",
    128
);

/// A message's identity: a UUID (v7 for new messages, so ids sort by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(Uuid);

impl MessageId {
    /// A fresh, time-ordered id.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }

    /// Wraps an existing UUID.
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    /// Parses the textual form; the error names the `message_id` field.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        Uuid::parse_str(value)
            .map(Self)
            .map_err(|_| FieldError::new("message_id", "must be a UUID"))
    }

    /// The UUID.
    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl Default for MessageId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end user.
    User,
    /// The AI assistant.
    Assistant,
    /// A system prompt or instruction.
    System,
}

impl Role {
    /// Every role, in a stable order.
    pub const ALL: [Role; 3] = [Role::User, Role::Assistant, Role::System];

    /// The wire and storage name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
        }
    }

    /// Parses `user`, `assistant` or `system` (exactly; the wire format is lower case).
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        match value {
            "user" => Ok(Role::User),
            "assistant" => Ok(Role::Assistant),
            "system" => Ok(Role::System),
            other => Err(FieldError::new(
                "role",
                format!("must be one of user, assistant, system; got {other:?}"),
            )),
        }
    }
}

impl FromStr for Role {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::parse(s)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A message's text: 1-100,000 characters, no NUL character (Postgres cannot store it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Content(String);

impl Content {
    /// Longest accepted content, in characters (Unicode scalar values).
    pub const MAX_CHARS: usize = 100_000;

    /// Validates and wraps `value`.
    pub fn parse(value: impl Into<String>) -> Result<Self, FieldError> {
        let value = value.into();
        // Byte length bounds the char count from above: skip counting for short texts.
        let len = if value.len() <= Self::MAX_CHARS {
            value.chars().count()
        } else {
            value.chars().take(Self::MAX_CHARS + 1).count()
        };
        if len == 0 {
            return Err(FieldError::new("content", "must not be empty"));
        }
        if len > Self::MAX_CHARS {
            return Err(FieldError::new(
                "content",
                format!("must be at most {} characters", Self::MAX_CHARS),
            ));
        }
        if value.contains('\0') {
            return Err(FieldError::new(
                "content",
                "must not contain NUL characters",
            ));
        }
        Ok(Self(value))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owned text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Display for Content {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Free-form metadata: a JSON object, kept exactly as sent. No string or key may contain NUL
/// (Postgres' jsonb rejects `\u0000`), and nesting is bounded at 32 levels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// Deepest accepted nesting of arrays and objects.
    pub const MAX_DEPTH: usize = 32;

    /// Validates a JSON value: it must be an object.
    pub fn parse(value: Value) -> Result<Self, FieldError> {
        match value {
            Value::Object(map) => Self::from_map(map),
            Value::Null => Ok(Self::default()),
            other => Err(FieldError::new(
                "metadata",
                format!("must be a JSON object, got {}", json_kind(&other)),
            )),
        }
    }

    /// Validates an object's contents.
    pub fn from_map(map: Map<String, Value>) -> Result<Self, FieldError> {
        for (k, v) in &map {
            if k.contains('\0') {
                return Err(FieldError::new("metadata", "keys must not contain NUL"));
            }
            check_json(v, 1)?;
        }
        Ok(Self(map))
    }

    /// The object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The object as a JSON value.
    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }

    /// The owned object.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_json(v: &Value, depth: usize) -> Result<(), FieldError> {
    if depth > Metadata::MAX_DEPTH {
        return Err(FieldError::new(
            "metadata",
            format!("must not nest deeper than {} levels", Metadata::MAX_DEPTH),
        ));
    }
    match v {
        Value::String(s) if s.contains('\0') => Err(FieldError::new(
            "metadata",
            "strings must not contain NUL characters",
        )),
        Value::Array(items) => items.iter().try_for_each(|i| check_json(i, depth + 1)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            if k.contains('\0') {
                Err(FieldError::new("metadata", "keys must not contain NUL"))
            } else {
                check_json(v, depth + 1)
            }
        }),
        _ => Ok(()),
    }
}

/// An importance score in `[0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Importance(f64);

impl Importance {
    /// Validates `value` for the field named `field` (`importance_override`, `importance_min`).
    pub fn parse_field(field: &str, value: f64) -> Result<Self, FieldError> {
        if value.is_finite() && (0.0..=1.0).contains(&value) {
            Ok(Self(value))
        } else {
            Err(FieldError::new(
                field,
                format!("must be a number between 0 and 1, got {value}"),
            ))
        }
    }

    /// Validates `value` as an `importance` field.
    pub fn new(value: f64) -> Result<Self, FieldError> {
        Self::parse_field("importance", value)
    }

    /// Clamps any finite number into `[0, 1]` (NaN becomes 0). For computed scores.
    pub fn saturating(value: f64) -> Self {
        if value.is_nan() {
            Self(0.0)
        } else {
            Self(value.clamp(0.0, 1.0))
        }
    }

    /// The score.
    pub fn value(&self) -> f64 {
        self.0
    }
}

/// Where a message's embedding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmbeddingStatus {
    /// Stored, not embedded yet (or being embedded).
    Pending,
    /// Embedded; the message takes part in vector search.
    Completed,
    /// The embedder failed; a background worker retries.
    Failed,
}

impl EmbeddingStatus {
    /// The wire and storage name.
    pub fn as_str(&self) -> &'static str {
        match self {
            EmbeddingStatus::Pending => "pending",
            EmbeddingStatus::Completed => "completed",
            EmbeddingStatus::Failed => "failed",
        }
    }

    /// Parses `pending`, `completed` or `failed`.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        match value {
            "pending" => Ok(Self::Pending),
            "completed" => Ok(Self::Completed),
            "failed" => Ok(Self::Failed),
            other => Err(FieldError::new(
                "embedding_status",
                format!("must be one of pending, completed, failed; got {other:?}"),
            )),
        }
    }
}

impl fmt::Display for EmbeddingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
