//! The scope predicate the vector and the lexical queries share: mandatory tenant, optional
//! conversation, importance floor and filters (time range, metadata: [`crate::filter`]).

use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{Double, Text};
use memory_core::domain::{ConversationId, Filters, Importance, TenantId};

use crate::filter::{bind_all, filters_sql};

/// A raw SQL query whose parameters are bound one by one.
pub(crate) type Query<'a> = BoxedSqlQuery<'a, Pg, SqlQuery>;

/// A query's scope. The vector and the lexical queries differ only in their fixed predicate.
#[derive(Clone, Copy)]
pub(crate) struct Scope<'a> {
    pub tenant: &'a TenantId,
    pub conversation: Option<&'a ConversationId>,
    pub importance_min: Option<Importance>,
    pub filters: Option<&'a Filters>,
}

impl<'a> Scope<'a> {
    /// `tenant_id = $first AND <fixed> [AND conversation_id = ..] [AND importance_score >= ..]`,
    /// and the next free parameter number. `fixed` is literal SQL so that it matches the
    /// partial indexes' predicates (a bind parameter there would hide them from the planner).
    pub(crate) fn where_clause(&self, first: usize, fixed: &str) -> (String, usize) {
        let mut n = first;
        let mut sql = format!("tenant_id = ${n} AND {fixed}");
        n += 1;
        if self.conversation.is_some() {
            sql.push_str(&format!(" AND conversation_id = ${n}"));
            n += 1;
        }
        if self.importance_min.is_some() {
            sql.push_str(&format!(" AND importance_score >= ${n}"));
            n += 1;
        }
        if let Some(f) = self.filters {
            let (filters, _, next) = filters_sql(f, n);
            sql.push_str(&filters);
            n = next;
        }
        (sql, n)
    }

    /// Binds the parameters of [`Scope::where_clause`], in its order.
    pub(crate) fn bind(&self, mut query: Query<'a>) -> Query<'a> {
        query = query.bind::<Text, _>(self.tenant.as_str());
        if let Some(c) = self.conversation {
            query = query.bind::<Text, _>(c.as_str());
        }
        if let Some(min) = self.importance_min {
            query = query.bind::<Double, _>(min.value());
        }
        if let Some(f) = self.filters {
            // The same numbering as in where_clause: only the values matter here.
            let (_, binds, _) = filters_sql(f, 1);
            query = bind_all(query, &binds);
        }
        query
    }
}
