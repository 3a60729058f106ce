//! A tenant's conversations, most recently active first: the request, its cursor, a page.

use chrono::{DateTime, TimeZone, Utc};

use super::{ConversationId, Message, TenantId};
use crate::error::{FieldError, ValidationErrors};

/// One conversation of a tenant, summed up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationSummary {
    /// The conversation.
    pub conversation_id: ConversationId,
    /// Its messages, archived ones included.
    pub messages: u64,
    /// How many of them are archived.
    pub archived: u64,
    /// Its oldest message's `created_at`.
    pub first_message_at: DateTime<Utc>,
    /// Its newest message's `created_at`: the listing's order.
    pub last_message_at: DateTime<Utc>,
}

impl ConversationSummary {
    /// The summary of a conversation of one message; [`Self::add`] counts more (for adapters
    /// that sum up in Rust).
    pub fn of(m: &Message) -> Self {
        Self {
            conversation_id: m.conversation_id.clone(),
            messages: 1,
            archived: u64::from(m.archived),
            first_message_at: m.created_at,
            last_message_at: m.created_at,
        }
    }

    /// Counts one more message of the conversation.
    pub fn add(&mut self, m: &Message) {
        self.messages += 1;
        self.archived += u64::from(m.archived);
        self.first_message_at = self.first_message_at.min(m.created_at);
        self.last_message_at = self.last_message_at.max(m.created_at);
    }

    /// The listing's sort key, newest first: `(last_message_at, conversation_id)` descending.
    pub fn key(&self) -> (DateTime<Utc>, &ConversationId) {
        (self.last_message_at, &self.conversation_id)
    }
}

/// A validated request for a page of a tenant's conversations.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversationRequest {
    pub(crate) tenant_id: TenantId,
    pub(crate) limit: usize,
    pub(crate) before: Option<(DateTime<Utc>, ConversationId)>,
}

impl ConversationRequest {
    /// Default page size.
    pub const DEFAULT_LIMIT: usize = 50;
    /// Largest page size.
    pub const MAX_LIMIT: usize = 1000;

    /// Validates the raw parameters, collecting every error. A cursor must come from a
    /// listing of the same tenant.
    pub fn parse(
        tenant_id: &str,
        limit: Option<i64>,
        cursor: Option<&str>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let tenant_id = errors.check(TenantId::parse(tenant_id));
        let limit =
            super::listing::page_limit(&mut errors, limit, Self::DEFAULT_LIMIT, Self::MAX_LIMIT);
        let (Some(tenant_id), Some(limit)) = (tenant_id, limit) else {
            return Err(errors);
        };
        let mut request = Self {
            tenant_id,
            limit,
            before: None,
        };
        if let Some(cursor) = cursor {
            request.before = errors.check(request.decode_cursor(cursor));
        }
        if errors.is_empty() {
            Ok(request)
        } else {
            Err(errors)
        }
    }

    /// The tenant.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// The page size.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Where the page starts: strictly after this key in the listing's (descending) order.
    pub fn before(&self) -> Option<&(DateTime<Utc>, ConversationId)> {
        self.before.as_ref()
    }

    /// The cursor resuming this listing after `last`: opaque, bound to the tenant.
    pub fn cursor_after(&self, last: &ConversationSummary) -> String {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&self.fingerprint().to_be_bytes());
        bytes.extend_from_slice(&last.last_message_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(last.conversation_id.as_str().as_bytes());
        format!("v1{}", super::listing::hex(&bytes))
    }

    fn decode_cursor(&self, cursor: &str) -> Result<(DateTime<Utc>, ConversationId), FieldError> {
        let malformed = || FieldError::new("cursor", "is not a cursor this server issued");
        let bytes = cursor
            .strip_prefix("v1")
            .and_then(super::listing::unhex)
            .filter(|b| b.len() > 16)
            .ok_or_else(malformed)?;
        let (fingerprint, rest) = bytes.split_at(8);
        if fingerprint != self.fingerprint().to_be_bytes() {
            return Err(FieldError::new(
                "cursor",
                "belongs to another tenant's listing: start again without it",
            ));
        }
        let (micros, id) = rest.split_at(8);
        let micros = i64::from_be_bytes(micros.try_into().map_err(|_| malformed())?);
        let at = Utc
            .timestamp_micros(micros)
            .single()
            .ok_or_else(malformed)?;
        let id = std::str::from_utf8(id).map_err(|_| malformed())?;
        let id = ConversationId::parse(id).map_err(|_| malformed())?;
        Ok((at, id))
    }

    fn fingerprint(&self) -> u64 {
        super::listing::fnv1a(["conversations", self.tenant_id.as_str()])
    }
}

/// One page of a tenant's conversations, most recently active first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConversationPage {
    /// The conversations.
    pub conversations: Vec<ConversationSummary>,
    /// The cursor of the next page, when there is one.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, micros: i64) -> ConversationSummary {
        let at = Utc.timestamp_micros(micros).single().expect("valid");
        ConversationSummary {
            conversation_id: ConversationId::parse(id).expect("valid"),
            messages: 1,
            archived: 0,
            first_message_at: at,
            last_message_at: at,
        }
    }

    #[test]
    fn cursor_round_trips_and_is_bound_to_the_tenant() {
        let acme = ConversationRequest::parse("acme", Some(2), None).expect("valid");
        let cursor = acme.cursor_after(&summary("chat-é 1", 1_700_000_000_123_456));
        let next = ConversationRequest::parse("acme", Some(2), Some(&cursor)).expect("valid");
        let (at, id) = next.before().expect("a position");
        assert_eq!(at.timestamp_micros(), 1_700_000_000_123_456);
        assert_eq!(id.as_str(), "chat-é 1");
        let err = ConversationRequest::parse("globex", None, Some(&cursor)).expect_err("foreign");
        assert!(format!("{err:?}").contains("another tenant"), "{err:?}");
    }

    #[test]
    fn bad_values_name_their_field() {
        for (limit, cursor) in [(Some(0), None), (Some(1001), None), (None, Some("v1zz"))] {
            let err = ConversationRequest::parse("acme", limit, cursor).expect_err("invalid");
            let fields: Vec<_> = err.0.iter().map(|e| e.field.as_str()).collect();
            let want = if cursor.is_some() { "cursor" } else { "limit" };
            assert_eq!(fields, [want], "{limit:?} {cursor:?}");
        }
        let err = ConversationRequest::parse("", None, Some("nope")).expect_err("invalid");
        assert_eq!(err.0.len(), 1, "a bad tenant stops before the cursor");
    }
}
