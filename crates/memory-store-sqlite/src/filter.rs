//! Search filters in SQLite's dialect: the time range on `created_at`, and metadata
//! conditions through `json_each` (any key, no JSON-path quoting), every value a bound
//! parameter. Each condition is written so that it is never NULL (a type test guards every
//! value comparison), so NOT means what [`MetadataFilter::matches`] means.

use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Double, Text};
use diesel::sqlite::Sqlite;
use memory_core::domain::{Bound, Comparison, Condition, Filters, MetadataFilter, Scalar};

use crate::rows::to_micros;

/// A parameter of a filter, in the order its `?` appears.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Bind {
    Text(String),
    Double(f64),
    BigInt(i64),
}

/// `" AND ..."` for each filter (empty when there is none), and its parameters. `table` is
/// the alias columns are qualified with (`"m."`, or `""`).
pub(crate) fn filters_sql(f: &Filters, table: &str) -> (String, Vec<Bind>) {
    let mut sql = String::new();
    let mut binds = Vec::new();
    if let Some(t) = f.created_after {
        sql.push_str(&format!(" AND {table}created_at >= ?"));
        binds.push(Bind::BigInt(to_micros(t)));
    }
    if let Some(t) = f.created_before {
        sql.push_str(&format!(" AND {table}created_at < ?"));
        binds.push(Bind::BigInt(to_micros(t)));
    }
    if let Some(m) = &f.metadata {
        sql.push_str(" AND ");
        metadata_sql(m, &format!("{table}metadata"), &mut sql, &mut binds);
    }
    (sql, binds)
}

/// Binds `binds` in order.
pub(crate) fn bind_all<'a>(
    mut q: BoxedSqlQuery<'a, Sqlite, SqlQuery>,
    binds: &[Bind],
) -> BoxedSqlQuery<'a, Sqlite, SqlQuery> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind::<Text, _>(s.clone()),
            Bind::Double(d) => q.bind::<Double, _>(*d),
            Bind::BigInt(i) => q.bind::<BigInt, _>(*i),
        };
    }
    q
}

fn metadata_sql(f: &MetadataFilter, column: &str, sql: &mut String, binds: &mut Vec<Bind>) {
    match f {
        MetadataFilter::And(parts) | MetadataFilter::Or(parts) => {
            let op = if matches!(f, MetadataFilter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push('(');
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    sql.push_str(op);
                }
                metadata_sql(p, column, sql, binds);
            }
            sql.push(')');
        }
        MetadataFilter::Not(inner) => {
            sql.push_str("(NOT ");
            metadata_sql(inner, column, sql, binds);
            sql.push(')');
        }
        MetadataFilter::Field { key, condition } => {
            let negated_exists = matches!(condition, Condition::Exists(false));
            sql.push_str(if negated_exists {
                "(NOT EXISTS ("
            } else {
                "(EXISTS ("
            });
            sql.push_str(&format!(
                "SELECT 1 FROM json_each({column}) AS j WHERE j.key = ?"
            ));
            binds.push(Bind::Text(key.clone()));
            if !matches!(condition, Condition::Exists(_)) {
                sql.push_str(" AND ");
                condition_sql(condition, sql, binds);
            }
            sql.push_str("))");
        }
    }
}

/// Equality of the `json_each` row `alias` with `s`: same JSON type, numbers by value.
fn eq_sql(alias: &str, s: &Scalar, sql: &mut String, binds: &mut Vec<Bind>) {
    match s {
        Scalar::Null => sql.push_str(&format!("{alias}.type = 'null'")),
        Scalar::Bool(true) => sql.push_str(&format!("{alias}.type = 'true'")),
        Scalar::Bool(false) => sql.push_str(&format!("{alias}.type = 'false'")),
        Scalar::Number(n) => {
            sql.push_str(&format!(
                "({alias}.type IN ('integer', 'real') AND {alias}.value = ?)"
            ));
            binds.push(Bind::Double(*n));
        }
        Scalar::String(v) => {
            sql.push_str(&format!("({alias}.type = 'text' AND {alias}.value = ?)"));
            binds.push(Bind::Text(v.clone()));
        }
    }
}

fn any_eq_sql(alias: &str, list: &[Scalar], sql: &mut String, binds: &mut Vec<Bind>) {
    sql.push('(');
    for (i, s) in list.iter().enumerate() {
        if i > 0 {
            sql.push_str(" OR ");
        }
        eq_sql(alias, s, sql, binds);
    }
    sql.push(')');
}

/// The condition on the field's `json_each` row `j` (the key matched already).
fn condition_sql(c: &Condition, sql: &mut String, binds: &mut Vec<Bind>) {
    match c {
        Condition::Eq(s) => eq_sql("j", s, sql, binds),
        Condition::Ne(s) => {
            sql.push_str("NOT ");
            eq_sql("j", s, sql, binds);
        }
        Condition::In(list) => any_eq_sql("j", list, sql, binds),
        Condition::Nin(list) => {
            sql.push_str("NOT ");
            any_eq_sql("j", list, sql, binds);
        }
        Condition::Compare(op, Bound::Number(b)) => {
            sql.push_str(&format!(
                "(j.type IN ('integer', 'real') AND j.value {} ?)",
                operator(*op)
            ));
            binds.push(Bind::Double(*b));
        }
        Condition::Compare(op, Bound::String(b)) => {
            // BINARY collation: UTF-8 byte order, as the core compares.
            sql.push_str(&format!(
                "(j.type = 'text' AND j.value {} ?)",
                operator(*op)
            ));
            binds.push(Bind::Text(b.clone()));
        }
        Condition::Contains(s) => {
            sql.push('(');
            if let Scalar::String(needle) = s {
                sql.push_str("(j.type = 'text' AND instr(j.value, ?) > 0) OR ");
                binds.push(Bind::Text(needle.clone()));
            }
            sql.push_str(
                "(j.type = 'array' AND EXISTS (SELECT 1 FROM json_each(j.value) AS e WHERE ",
            );
            eq_sql("e", s, sql, binds);
            sql.push_str(")))");
        }
        Condition::Exists(_) => sql.push('1'),
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
    fn placeholders_and_binds_line_up() {
        let f = Filters::parse(
            None,
            None,
            Some(&json!({"a": {"in": [1, "x", null]}, "NOT": {"t": {"contains": "y"}}})),
        )
        .expect("valid");
        let (sql, binds) = filters_sql(&f, "m.");
        assert_eq!(sql.matches('?').count(), binds.len(), "{sql}");
        assert!(sql.contains("json_each(m.metadata)"), "{sql}");
    }
}
