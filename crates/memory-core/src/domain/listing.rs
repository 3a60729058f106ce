//! Listing: the validated request, the keyset cursor, and a page of messages.

use chrono::{DateTime, TimeZone, Utc};

use super::{ConversationId, Message, MessageId, Role, TenantId};
use crate::error::{FieldError, ValidationErrors};

/// Which way a listing walks `(created_at, id)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortOrder {
    /// Oldest first.
    #[default]
    Asc,
    /// Newest first.
    Desc,
}

impl SortOrder {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        }
    }

    /// Parses `asc` or `desc`.
    pub fn parse(value: &str) -> Result<Self, FieldError> {
        match value {
            "asc" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            other => Err(FieldError::new(
                "order",
                format!("must be asc or desc; got {other:?}"),
            )),
        }
    }
}

/// Where a page ends: the `(created_at, id)` of its last message. The next page starts
/// strictly after it in the listing's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The last message's `created_at` (microsecond precision).
    pub created_at: DateTime<Utc>,
    /// The last message's id (breaks ties between equal timestamps).
    pub id: MessageId,
}

/// A listing request, validated by [`ListRequest::parse`]. Its fields become the store's
/// [`crate::ports::ListQuery`].
#[derive(Debug, Clone, PartialEq)]
pub struct ListRequest {
    pub(crate) tenant_id: TenantId,
    pub(crate) conversation_id: Option<ConversationId>,
    pub(crate) role: Option<Role>,
    pub(crate) archived: Option<bool>,
    pub(crate) created_after: Option<DateTime<Utc>>,
    pub(crate) created_before: Option<DateTime<Utc>>,
    pub(crate) order: SortOrder,
    pub(crate) limit: usize,
    pub(crate) after: Option<Position>,
}

/// The filters of a listing, as raw values (what [`ListRequest::parse`] validates).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListParams<'a> {
    /// Mandatory.
    pub tenant_id: &'a str,
    /// Only this conversation.
    pub conversation_id: Option<&'a str>,
    /// Only this role.
    pub role: Option<&'a str>,
    /// Only archived (`true`) or only live (`false`) messages; `None`: both.
    pub archived: Option<bool>,
    /// Only messages created at or after this instant.
    pub created_after: Option<DateTime<Utc>>,
    /// Only messages created before this instant.
    pub created_before: Option<DateTime<Utc>>,
    /// `asc` (default) or `desc`.
    pub order: Option<&'a str>,
    /// Page size, 1-1000 (default 100).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<&'a str>,
}

impl ListRequest {
    /// Default page size.
    pub const DEFAULT_LIMIT: usize = 100;
    /// Largest page size.
    pub const MAX_LIMIT: usize = 1000;

    /// Validates raw parameters, collecting every error. A cursor must come from a listing
    /// with the same tenant and filters (another query's cursor is an error naming `cursor`).
    pub fn parse(p: &ListParams<'_>) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let tenant_id = errors.check(TenantId::parse(p.tenant_id));
        let conversation_id = match p.conversation_id {
            Some(c) => errors.check(ConversationId::parse(c)).map(Some),
            None => Some(None),
        };
        let role = match p.role {
            Some(r) => errors.check(Role::parse(r)).map(Some),
            None => Some(None),
        };
        let order = match p.order {
            Some(o) => errors.check(SortOrder::parse(o)),
            None => Some(SortOrder::Asc),
        };
        let limit = page_limit(&mut errors, p.limit, Self::DEFAULT_LIMIT, Self::MAX_LIMIT);
        if let (Some(a), Some(b)) = (p.created_after, p.created_before)
            && a >= b
        {
            errors.push(FieldError::new(
                "created_before",
                "must be later than created_after",
            ));
        }
        let (Some(tenant_id), Some(conversation_id), Some(role), Some(order), Some(limit)) =
            (tenant_id, conversation_id, role, order, limit)
        else {
            return Err(errors);
        };
        let mut request = Self {
            tenant_id,
            conversation_id,
            role,
            archived: p.archived,
            created_after: p.created_after.map(crate::service::truncate_to_micros),
            created_before: p.created_before.map(crate::service::truncate_to_micros),
            order,
            limit,
            after: None,
        };
        if let Some(cursor) = p.cursor {
            request.after = errors.check(request.decode_cursor(cursor));
        }
        if errors.is_empty() {
            Ok(request)
        } else {
            Err(errors)
        }
    }

    /// Mandatory scope.
    pub fn tenant_id(&self) -> &TenantId {
        &self.tenant_id
    }

    /// The page size.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// The cursor that resumes this listing after `position`: opaque to clients, bound to
    /// this listing's tenant and filters.
    pub fn cursor_after(&self, position: Position) -> String {
        let mut bytes = Vec::with_capacity(32);
        bytes.extend_from_slice(&position.created_at.timestamp_micros().to_be_bytes());
        bytes.extend_from_slice(position.id.as_uuid().as_bytes());
        bytes.extend_from_slice(&self.fingerprint().to_be_bytes());
        format!("c1{}", hex(&bytes))
    }

    fn decode_cursor(&self, cursor: &str) -> Result<Position, FieldError> {
        let malformed = || FieldError::new("cursor", "is not a cursor this server issued");
        let bytes = cursor
            .strip_prefix("c1")
            .and_then(unhex)
            .filter(|b| b.len() == 32)
            .ok_or_else(malformed)?;
        let fingerprint = u64::from_be_bytes(bytes[24..32].try_into().map_err(|_| malformed())?);
        if fingerprint != self.fingerprint() {
            return Err(FieldError::new(
                "cursor",
                "belongs to another listing (tenant or filters differ): start again without it",
            ));
        }
        let micros = i64::from_be_bytes(bytes[0..8].try_into().map_err(|_| malformed())?);
        let created_at = Utc
            .timestamp_micros(micros)
            .single()
            .ok_or_else(malformed)?;
        let id = uuid::Uuid::from_slice(&bytes[8..24]).map_err(|_| malformed())?;
        Ok(Position {
            created_at,
            id: MessageId::from_uuid(id),
        })
    }

    /// FNV-1a over the listing's tenant and filters (not its page size or position).
    fn fingerprint(&self) -> u64 {
        let micros = |t: Option<DateTime<Utc>>| {
            t.map_or(String::new(), |t| t.timestamp_micros().to_string())
        };
        let parts = [
            self.tenant_id.as_str().to_owned(),
            self.conversation_id
                .as_ref()
                .map_or(String::new(), |c| format!("={c}")),
            self.role.map_or("", |r| r.as_str()).to_owned(),
            format!("{:?}", self.archived),
            micros(self.created_after),
            micros(self.created_before),
            self.order.as_str().to_owned(),
        ];
        fnv1a(parts.iter().map(String::as_str))
    }
}

/// A page size: `default` when absent, else 1 to `max` (an error naming `limit` otherwise).
pub(super) fn page_limit(
    errors: &mut ValidationErrors,
    limit: Option<i64>,
    default: usize,
    max: usize,
) -> Option<usize> {
    match limit {
        None => Some(default),
        Some(v) if v >= 1 && v <= max as i64 => Some(v as usize),
        Some(v) => {
            errors.push(FieldError::new(
                "limit",
                format!("must be between 1 and {max}, got {v}"),
            ));
            None
        }
    }
}

/// Lower-case hex of `bytes` (cursors are opaque ASCII).
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The bytes of a [`hex`] string; `None` when it is not one.
pub(super) fn unhex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
        .collect()
}

/// FNV-1a over `parts`, each followed by a separator byte: binds a cursor to its query.
pub(super) fn fnv1a<'a>(parts: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MessagePage {
    /// In the listing's order; embeddings left out.
    pub messages: Vec<Message>,
    /// Resumes the listing after the last message; `None` on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(params: ListParams<'_>) -> Result<ListRequest, Vec<String>> {
        ListRequest::parse(&params).map_err(|e| e.0.into_iter().map(|f| f.field).collect())
    }

    #[test]
    fn cursors_round_trip_and_are_bound_to_their_listing() {
        let base = ListParams {
            tenant_id: "acme",
            role: Some("user"),
            ..Default::default()
        };
        let first = request(base.clone()).expect("valid");
        let position = Position {
            created_at: Utc.timestamp_micros(1_700_000_000_123_456).unwrap(),
            id: MessageId::new(),
        };
        let cursor = first.cursor_after(position);
        let next = request(ListParams {
            cursor: Some(&cursor),
            limit: Some(7),
            ..base.clone()
        })
        .expect("same listing, another page size");
        assert_eq!(next.after, Some(position));
        for other in [
            ListParams {
                tenant_id: "globex",
                ..base.clone()
            },
            ListParams {
                role: None,
                ..base.clone()
            },
            ListParams {
                order: Some("desc"),
                ..base.clone()
            },
            ListParams {
                archived: Some(false),
                ..base.clone()
            },
        ] {
            let e = request(ListParams {
                cursor: Some(&cursor),
                ..other
            });
            assert_eq!(e, Err(vec!["cursor".to_owned()]));
        }
        for garbage in ["", "c1", "c1zz", &cursor[..cursor.len() - 1], "x1abcd"] {
            assert_eq!(
                request(ListParams {
                    cursor: Some(garbage),
                    ..base.clone()
                }),
                Err(vec!["cursor".to_owned()]),
                "{garbage:?}"
            );
        }
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let t = Utc.timestamp_micros(1_700_000_000_000_000).unwrap();
        let e = request(ListParams {
            tenant_id: "",
            conversation_id: Some(""),
            role: Some("robot"),
            order: Some("sideways"),
            limit: Some(1001),
            created_after: Some(t),
            created_before: Some(t),
            ..Default::default()
        });
        assert_eq!(
            e,
            Err([
                "tenant_id",
                "conversation_id",
                "role",
                "order",
                "limit",
                "created_before"
            ]
            .map(String::from)
            .to_vec())
        );
        assert_eq!(
            request(ListParams {
                tenant_id: "a",
                limit: Some(0),
                ..Default::default()
            }),
            Err(vec!["limit".into()])
        );
        assert_eq!(
            request(ListParams {
                tenant_id: "a",
                limit: Some(1000),
                ..Default::default()
            })
            .map(|r| r.limit()),
            Ok(1000)
        );
    }
}
