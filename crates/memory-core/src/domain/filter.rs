//! Search filters: a time range and conditions on metadata, validated from JSON, with the
//! reference semantics ([`MetadataFilter::matches`]) every store's translation must agree with.
//!
//! The JSON form (mem0's, MongoDB-like):
//!
//! ```json
//! {"source": "web",                          // a bare value: eq
//!  "priority": {"gte": 2, "lt": 5},          // several operators on one field: all must hold
//!  "OR": [{"tags": {"contains": "work"}}, {"NOT": {"draft": {"exists": true}}}]}
//! ```
//!
//! An object's entries are ANDed. Keys `AND`, `OR` (non-empty arrays of filters) and `NOT`
//! (one filter) combine filters; any other key names a top-level metadata field. Operators:
//! `eq`, `ne`, `in`, `nin` (scalars: string, number, boolean, null), `gt`, `gte`, `lt`,
//! `lte` (a number or a string: numbers compare as numbers, strings by their UTF-8 bytes, a
//! value of the other type never matches), `contains` (a substring of a string field, or an
//! element of an array field) and `exists` (`true` or `false`).
//!
//! A condition on a field the metadata does not have is false (only `exists: false` holds),
//! so a filter on a field that exists nowhere matches nothing instead of failing; `NOT`
//! inverts whatever its filter says. `ne` and `nin` hold only for a field that exists.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Metadata;
use crate::error::{FieldError, ValidationErrors};

/// A JSON scalar a condition compares with.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number (compared as a double).
    Number(f64),
    /// A string.
    String(String),
}

impl Scalar {
    fn parse(path: &str, v: &Value) -> Result<Self, FieldError> {
        match v {
            Value::Null => Ok(Scalar::Null),
            Value::Bool(b) => Ok(Scalar::Bool(*b)),
            Value::Number(n) => n
                .as_f64()
                .filter(|f| f.is_finite())
                .map(Scalar::Number)
                .ok_or_else(|| FieldError::new(path, "must be a finite number")),
            Value::String(s) if s.contains('\0') => {
                Err(FieldError::new(path, "must not contain NUL characters"))
            }
            Value::String(s) => Ok(Scalar::String(s.clone())),
            _ => Err(FieldError::new(
                path,
                "must be a string, a number, a boolean or null",
            )),
        }
    }

    /// Whether a metadata value equals this scalar: same JSON type, numbers by value.
    pub fn equals(&self, v: &Value) -> bool {
        match (self, v) {
            (Scalar::Null, Value::Null) => true,
            (Scalar::Bool(a), Value::Bool(b)) => a == b,
            (Scalar::Number(a), Value::Number(b)) => b.as_f64() == Some(*a),
            (Scalar::String(a), Value::String(b)) => a == b,
            _ => false,
        }
    }
}

/// A bound of a range condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Bound {
    /// Compared with number fields.
    Number(f64),
    /// Compared with string fields, by UTF-8 bytes.
    String(String),
}

/// `gt`, `gte`, `lt` or `lte`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// `>`.
    Gt,
    /// `>=`.
    Gte,
    /// `<`.
    Lt,
    /// `<=`.
    Lte,
}

impl Comparison {
    fn holds(&self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        matches!(
            (self, ordering),
            (Comparison::Gt, Greater)
                | (Comparison::Gte, Greater | Equal)
                | (Comparison::Lt, Less)
                | (Comparison::Lte, Less | Equal)
        )
    }
}

/// A condition on one metadata field.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// Equal (same type; numbers by value).
    Eq(Scalar),
    /// The field exists and is not equal.
    Ne(Scalar),
    /// Equal to one of these.
    In(Vec<Scalar>),
    /// The field exists and equals none of these.
    Nin(Vec<Scalar>),
    /// Ordered against a bound of the same type.
    Compare(Comparison, Bound),
    /// A substring of a string field, or an element of an array field.
    Contains(Scalar),
    /// The field is there (`true`, even when `null`) or not (`false`).
    Exists(bool),
}

/// Conditions on metadata, combined with AND, OR and NOT.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataFilter {
    /// Every filter holds.
    And(Vec<MetadataFilter>),
    /// At least one holds.
    Or(Vec<MetadataFilter>),
    /// The filter does not hold.
    Not(Box<MetadataFilter>),
    /// A condition on the top-level field `key`.
    Field {
        /// The metadata key.
        key: String,
        /// What its value must satisfy.
        condition: Condition,
    },
}

impl MetadataFilter {
    /// Deepest nesting of AND/OR/NOT.
    pub const MAX_DEPTH: usize = 8;
    /// Most conditions in one filter.
    pub const MAX_CONDITIONS: usize = 64;
    /// Most values of one `in` or `nin`.
    pub const MAX_LIST: usize = 100;

    /// Validates the JSON form (see the module docs). Errors name the part that is wrong as
    /// a path under `filters` (`filters.OR[1].priority.gte`).
    pub fn parse(value: &Value) -> Result<Self, FieldError> {
        let mut conditions = 0;
        let filter = parse_object("filters", value, 0, &mut conditions)?;
        if conditions > Self::MAX_CONDITIONS {
            return Err(FieldError::new(
                "filters",
                format!("must hold at most {} conditions", Self::MAX_CONDITIONS),
            ));
        }
        Ok(filter)
    }

    /// Whether `metadata` satisfies the filter: the reference semantics.
    pub fn matches(&self, metadata: &Metadata) -> bool {
        match self {
            MetadataFilter::And(all) => all.iter().all(|f| f.matches(metadata)),
            MetadataFilter::Or(any) => any.iter().any(|f| f.matches(metadata)),
            MetadataFilter::Not(f) => !f.matches(metadata),
            MetadataFilter::Field { key, condition } => {
                condition_holds(condition, metadata.as_map().get(key))
            }
        }
    }
}

fn condition_holds(condition: &Condition, value: Option<&Value>) -> bool {
    let Some(v) = value else {
        return matches!(condition, Condition::Exists(false));
    };
    match condition {
        Condition::Exists(e) => *e,
        Condition::Eq(s) => s.equals(v),
        Condition::Ne(s) => !s.equals(v),
        Condition::In(list) => list.iter().any(|s| s.equals(v)),
        Condition::Nin(list) => !list.iter().any(|s| s.equals(v)),
        Condition::Compare(op, Bound::Number(b)) => v
            .as_f64()
            .filter(|_| v.is_number())
            .and_then(|x| x.partial_cmp(b))
            .is_some_and(|o| op.holds(o)),
        Condition::Compare(op, Bound::String(b)) => v
            .as_str()
            .is_some_and(|x| op.holds(x.as_bytes().cmp(b.as_bytes()))),
        Condition::Contains(s) => match (v, s) {
            (Value::String(x), Scalar::String(needle)) => x.contains(needle.as_str()),
            (Value::Array(items), s) => items.iter().any(|i| s.equals(i)),
            _ => false,
        },
    }
}

fn parse_object(
    path: &str,
    value: &Value,
    depth: usize,
    conditions: &mut usize,
) -> Result<MetadataFilter, FieldError> {
    if depth > MetadataFilter::MAX_DEPTH {
        return Err(FieldError::new(
            path,
            format!(
                "must not nest deeper than {} levels",
                MetadataFilter::MAX_DEPTH
            ),
        ));
    }
    let Value::Object(map) = value else {
        return Err(FieldError::new(path, "must be a JSON object"));
    };
    if map.is_empty() {
        return Err(FieldError::new(path, "must hold at least one condition"));
    }
    let mut parts = Vec::with_capacity(map.len());
    for (key, v) in map {
        let here = format!("{path}.{key}");
        parts.push(match key.as_str() {
            "AND" | "OR" => {
                let Value::Array(items) = v else {
                    return Err(FieldError::new(here, "must be an array of filters"));
                };
                if items.is_empty() {
                    return Err(FieldError::new(here, "must hold at least one filter"));
                }
                let subs = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        parse_object(&format!("{here}[{i}]"), item, depth + 1, conditions)
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if key == "AND" {
                    MetadataFilter::And(subs)
                } else {
                    MetadataFilter::Or(subs)
                }
            }
            "NOT" => MetadataFilter::Not(Box::new(parse_object(&here, v, depth + 1, conditions)?)),
            _ if key.contains('\0') => {
                return Err(FieldError::new(
                    path,
                    "keys must not contain NUL characters",
                ));
            }
            _ => parse_field(&here, key, v, conditions)?,
        });
    }
    Ok(if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        MetadataFilter::And(parts)
    })
}

fn parse_field(
    path: &str,
    key: &str,
    value: &Value,
    conditions: &mut usize,
) -> Result<MetadataFilter, FieldError> {
    let field = |condition| MetadataFilter::Field {
        key: key.to_owned(),
        condition,
    };
    let Value::Object(ops) = value else {
        *conditions += 1;
        return Ok(field(Condition::Eq(Scalar::parse(path, value)?)));
    };
    if ops.is_empty() {
        return Err(FieldError::new(path, "must hold at least one operator"));
    }
    let mut parts = Vec::with_capacity(ops.len());
    for (op, operand) in ops {
        *conditions += 1;
        let here = format!("{path}.{op}");
        let condition = match op.as_str() {
            "eq" => Condition::Eq(Scalar::parse(&here, operand)?),
            "ne" => Condition::Ne(Scalar::parse(&here, operand)?),
            "in" | "nin" => {
                let list = parse_list(&here, operand)?;
                if op == "in" {
                    Condition::In(list)
                } else {
                    Condition::Nin(list)
                }
            }
            "gt" | "gte" | "lt" | "lte" => {
                let comparison = match op.as_str() {
                    "gt" => Comparison::Gt,
                    "gte" => Comparison::Gte,
                    "lt" => Comparison::Lt,
                    _ => Comparison::Lte,
                };
                let bound = match Scalar::parse(&here, operand)? {
                    Scalar::Number(n) => Bound::Number(n),
                    Scalar::String(s) => Bound::String(s),
                    _ => return Err(FieldError::new(here, "must be a number or a string")),
                };
                Condition::Compare(comparison, bound)
            }
            "contains" => Condition::Contains(Scalar::parse(&here, operand)?),
            "exists" => match operand {
                Value::Bool(b) => Condition::Exists(*b),
                _ => return Err(FieldError::new(here, "must be true or false")),
            },
            other => {
                return Err(FieldError::new(
                    here,
                    format!(
                        "unknown operator {other:?}: use eq, ne, in, nin, gt, gte, lt, lte, \
                         contains or exists (a value that is an object cannot be compared)"
                    ),
                ));
            }
        };
        parts.push(field(condition));
    }
    Ok(if parts.len() == 1 {
        parts.pop().expect("one part")
    } else {
        MetadataFilter::And(parts)
    })
}

fn parse_list(path: &str, v: &Value) -> Result<Vec<Scalar>, FieldError> {
    let Value::Array(items) = v else {
        return Err(FieldError::new(path, "must be an array of values"));
    };
    if items.is_empty() || items.len() > MetadataFilter::MAX_LIST {
        return Err(FieldError::new(
            path,
            format!("must hold 1-{} values", MetadataFilter::MAX_LIST),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| Scalar::parse(&format!("{path}[{i}]"), item))
        .collect()
}

/// What narrows a search beyond its tenant and conversation: a half-open time range on
/// `created_at` and metadata conditions. Stores push them into their queries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filters {
    /// Only messages with `created_at >= created_after`.
    pub created_after: Option<DateTime<Utc>>,
    /// Only messages with `created_at < created_before`.
    pub created_before: Option<DateTime<Utc>>,
    /// Only messages whose metadata satisfies this.
    pub metadata: Option<MetadataFilter>,
}

impl Filters {
    /// Validates a time range and the JSON form of a metadata filter, collecting every error.
    pub fn parse(
        created_after: Option<DateTime<Utc>>,
        created_before: Option<DateTime<Utc>>,
        metadata: Option<&Value>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::new();
        if let (Some(a), Some(b)) = (created_after, created_before)
            && a >= b
        {
            errors.push(FieldError::new(
                "created_before",
                "must be later than created_after",
            ));
        }
        let metadata = match metadata {
            None | Some(Value::Null) => None,
            Some(v) => errors.check(MetadataFilter::parse(v)),
        };
        if errors.is_empty() {
            Ok(Self {
                created_after: created_after.map(crate::service::truncate_to_micros),
                created_before: created_before.map(crate::service::truncate_to_micros),
                metadata,
            })
        } else {
            Err(errors)
        }
    }

    /// True when nothing is filtered.
    pub fn is_empty(&self) -> bool {
        self.created_after.is_none() && self.created_before.is_none() && self.metadata.is_none()
    }

    /// Whether a message with this `created_at` and metadata passes: the reference.
    pub fn admits(&self, created_at: DateTime<Utc>, metadata: &Metadata) -> bool {
        self.created_after.is_none_or(|t| created_at >= t)
            && self.created_before.is_none_or(|t| created_at < t)
            && self.metadata.as_ref().is_none_or(|f| f.matches(metadata))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    fn meta(v: Value) -> Metadata {
        Metadata::parse(v).expect("valid")
    }

    fn filter(v: Value) -> MetadataFilter {
        MetadataFilter::parse(&v).expect("valid filter")
    }

    #[test]
    fn semantics() {
        let m = meta(
            json!({"source": "web", "n": 3, "f": 2.5, "ok": true, "nil": null,
            "tags": ["a", 1, null], "name": "Zoë"}),
        );
        let yes = [
            json!({"source": "web"}),
            json!({"n": 3.0}),
            json!({"n": {"gte": 3, "lt": 4}}),
            json!({"f": {"gt": 2}}),
            json!({"ok": true}),
            json!({"nil": null}),
            json!({"nil": {"exists": true}}),
            json!({"missing": {"exists": false}}),
            json!({"source": {"ne": "app"}}),
            json!({"source": {"in": ["app", "web"]}}),
            json!({"source": {"nin": ["app"]}}),
            json!({"tags": {"contains": "a"}}),
            json!({"tags": {"contains": 1}}),
            json!({"tags": {"contains": null}}),
            json!({"name": {"contains": "ë"}}),
            json!({"name": {"gt": "Zo"}}),
            json!({"OR": [{"source": "app"}, {"n": 3}]}),
            json!({"NOT": {"source": "app"}}),
            json!({"NOT": {"missing": "x"}}),
            json!({"AND": [{"n": {"lte": 3}}, {"source": "web"}]}),
        ];
        for f in yes {
            assert!(filter(f.clone()).matches(&m), "{f}");
        }
        let no = [
            json!({"source": "WEB"}),
            json!({"n": "3"}),
            json!({"n": {"gt": "2"}}),
            json!({"source": {"gt": 1}}),
            json!({"ok": 1}),
            json!({"missing": "x"}),
            json!({"missing": {"ne": "x"}}),
            json!({"missing": {"nin": ["x"]}}),
            json!({"missing": {"exists": true}}),
            json!({"tags": {"contains": "b"}}),
            json!({"tags": "a"}),
            json!({"n": {"contains": 3}}),
            json!({"OR": [{"source": "app"}, {"n": 4}]}),
            json!({"source": "web", "n": 4}),
        ];
        for f in no {
            assert!(!filter(f.clone()).matches(&m), "{f}");
        }
    }

    #[test]
    fn malformed_filters_name_the_part_that_is_wrong() {
        for (bad, path) in [
            (json!([1]), "filters"),
            (json!({}), "filters"),
            (json!({"n": {"between": [1, 2]}}), "filters.n.between"),
            (json!({"n": {"gt": true}}), "filters.n.gt"),
            (json!({"n": {"in": []}}), "filters.n.in"),
            (json!({"n": {"in": [[1]]}}), "filters.n.in[0]"),
            (json!({"n": {"exists": "yes"}}), "filters.n.exists"),
            (json!({"n": [1]}), "filters.n"),
            (json!({"OR": []}), "filters.OR"),
            (
                json!({"OR": [{"a": 1}, {"b": {"lt": null}}]}),
                "filters.OR[1].b.lt",
            ),
            (json!({"NOT": 3}), "filters.NOT"),
            (json!({"n": {}}), "filters.n"),
        ] {
            let e = MetadataFilter::parse(&bad).expect_err("malformed");
            assert_eq!(e.field, path, "{bad}: {}", e.rule);
        }
        let mut deep = json!({"a": 1});
        for _ in 0..9 {
            deep = json!({"NOT": deep});
        }
        assert!(MetadataFilter::parse(&deep).is_err());
        let wide: Map<String, Value> = (0..65).map(|i| (format!("k{i}"), json!(i))).collect();
        assert!(MetadataFilter::parse(&Value::Object(wide)).is_err());
    }
}
