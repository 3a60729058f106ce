//! Search filters in Postgres's dialect: the time range on `created_at`, and metadata
//! conditions on the `jsonb` column, every value a bound parameter (a key's parameter is
//! reused within its condition). Each condition is written so that it is never NULL
//! (`COALESCE`, or a `CASE` on `jsonb_typeof` that guards every cast), so NOT means what
//! [`MetadataFilter::matches`] means.

use chrono::{DateTime, Utc};
use diesel::sql_types::{Double, Jsonb, Text, Timestamptz};
use memory_core::domain::{Bound, Comparison, Condition, Filters, MetadataFilter, Scalar};
use serde_json::Value;

use crate::scope::Query;

/// A parameter of a filter, bound in the order of its number.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Double(f64),
    Jsonb(Value),
    Timestamptz(DateTime<Utc>),
}

/// Writes SQL with numbered parameters from `next` on.
struct Writer {
    sql: String,
    binds: Vec<Bind>,
    next: usize,
}

impl Writer {
    fn param(&mut self, b: Bind) -> String {
        self.binds.push(b);
        let n = self.next;
        self.next += 1;
        format!("${n}")
    }
}

/// `" AND ..."` for each filter (empty when there is none), its parameters (numbered from
/// `first`), and the next free parameter number.
pub(crate) fn filters_sql(f: &Filters, first: usize) -> (String, Vec<Bind>, usize) {
    let mut w = Writer {
        sql: String::new(),
        binds: Vec::new(),
        next: first,
    };
    if let Some(t) = f.created_after {
        let p = w.param(Bind::Timestamptz(t));
        w.sql.push_str(&format!(" AND created_at >= {p}"));
    }
    if let Some(t) = f.created_before {
        let p = w.param(Bind::Timestamptz(t));
        w.sql.push_str(&format!(" AND created_at < {p}"));
    }
    if let Some(m) = &f.metadata {
        w.sql.push_str(" AND ");
        metadata_sql(m, &mut w);
    }
    (w.sql, w.binds, w.next)
}

/// Binds `binds` in order.
pub(crate) fn bind_all<'a>(mut q: Query<'a>, binds: &[Bind]) -> Query<'a> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind::<Text, _>(s.clone()),
            Bind::Double(d) => q.bind::<Double, _>(*d),
            Bind::Jsonb(v) => q.bind::<Jsonb, _>(v.clone()),
            Bind::Timestamptz(t) => q.bind::<Timestamptz, _>(*t),
        };
    }
    q
}

fn json(s: &Scalar) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Number(n) => serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Scalar::String(v) => Value::String(v.clone()),
    }
}

fn metadata_sql(f: &MetadataFilter, w: &mut Writer) {
    match f {
        MetadataFilter::And(parts) | MetadataFilter::Or(parts) => {
            let op = if matches!(f, MetadataFilter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            w.sql.push('(');
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    w.sql.push_str(op);
                }
                metadata_sql(p, w);
            }
            w.sql.push(')');
        }
        MetadataFilter::Not(inner) => {
            w.sql.push_str("(NOT ");
            metadata_sql(inner, w);
            w.sql.push(')');
        }
        MetadataFilter::Field { key, condition } => {
            let k = w.param(Bind::Text(key.clone()));
            let v = format!("(metadata -> {k})");
            let sql = match condition {
                Condition::Exists(true) => format!("jsonb_exists(metadata, {k})"),
                Condition::Exists(false) => format!("(NOT jsonb_exists(metadata, {k}))"),
                // jsonb equality: same type, numbers by value.
                Condition::Eq(s) => {
                    let p = w.param(Bind::Jsonb(json(s)));
                    format!("COALESCE({v} = {p}, false)")
                }
                Condition::Ne(s) => {
                    let p = w.param(Bind::Jsonb(json(s)));
                    format!("COALESCE({v} <> {p}, false)")
                }
                Condition::In(list) | Condition::Nin(list) => {
                    let params: Vec<String> =
                        list.iter().map(|s| w.param(Bind::Jsonb(json(s)))).collect();
                    let not = if matches!(condition, Condition::Nin(_)) {
                        "NOT "
                    } else {
                        ""
                    };
                    format!("COALESCE({v} {not}IN ({}), false)", params.join(", "))
                }
                Condition::Compare(op, Bound::Number(b)) => {
                    let p = w.param(Bind::Double(*b));
                    format!(
                        "(CASE WHEN jsonb_typeof({v}) = 'number' \
                         THEN (metadata ->> {k})::float8 {} {p} ELSE false END)",
                        operator(*op)
                    )
                }
                Condition::Compare(op, Bound::String(b)) => {
                    // COLLATE "C": UTF-8 byte order, as the core compares.
                    let p = w.param(Bind::Text(b.clone()));
                    format!(
                        "(CASE WHEN jsonb_typeof({v}) = 'string' \
                         THEN (metadata ->> {k}) COLLATE \"C\" {} {p} ELSE false END)",
                        operator(*op)
                    )
                }
                Condition::Contains(s) => {
                    let array = w.param(Bind::Jsonb(Value::Array(vec![json(s)])));
                    let string = match s {
                        Scalar::String(needle) => {
                            let p = w.param(Bind::Text(needle.clone()));
                            format!(" WHEN 'string' THEN strpos(metadata ->> {k}, {p}) > 0")
                        }
                        _ => String::new(),
                    };
                    format!(
                        "(CASE jsonb_typeof({v}){string} WHEN 'array' THEN {v} @> {array} \
                         ELSE false END)"
                    )
                }
            };
            w.sql.push_str(&sql);
        }
    }
}

/// The SQL operator of a comparison.
fn operator(op: Comparison) -> &'static str {
    match op {
        Comparison::Gt => ">",
        Comparison::Gte => ">=",
        Comparison::Lt => "<",
        Comparison::Lte => "<=",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parameters_are_numbered_from_first() {
        let f = Filters::parse(
            Some(Utc::now() - chrono::Duration::days(1)),
            None,
            Some(&json!({"a": {"in": [1, "x"]}, "t": {"contains": "y"}})),
        )
        .expect("valid");
        let (sql, binds, next) = filters_sql(&f, 3);
        assert_eq!(next, 3 + binds.len());
        for n in 3..next {
            assert!(sql.contains(&format!("${n}")), "${n} in {sql}");
        }
        assert!(!sql.contains(&format!("${next}")));
    }
}
