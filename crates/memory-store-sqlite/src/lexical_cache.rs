//! The per-tenant lexical indexes held in memory: loading one, and keeping the in-memory
//! indexes (vectors and postings) in step with the writes that remove or rewrite rows.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Double, Nullable, Text};
use memory_core::domain::{Message, TenantId};
use memory_core::text::AnalyzedText;

use crate::error::SqliteStoreError;
use crate::lexical_index::{IndexedDoc, LexicalIndex, estimate_bytes};
use crate::open::Inner;
use crate::rows::{message_id, to_micros};
use crate::tenant_cache::{TenantCache, write_lock};

/// The lexical indexes held in memory.
pub(crate) type LexicalCache = TenantCache<LexicalIndex>;

#[derive(QueryableByName)]
struct IndexRow {
    #[diesel(sql_type = Binary)]
    id: Vec<u8>,
    #[diesel(sql_type = Text)]
    conversation_id: String,
    #[diesel(sql_type = Double)]
    importance_score: f64,
    #[diesel(sql_type = BigInt)]
    created_at: i64,
    #[diesel(sql_type = Nullable<Text>)]
    lexical_terms: Option<String>,
    #[diesel(sql_type = Nullable<BigInt>)]
    lexical_length: Option<i64>,
}

#[derive(QueryableByName)]
struct TenantSize {
    #[diesel(sql_type = BigInt)]
    documents: i64,
    #[diesel(sql_type = BigInt)]
    terms: i64,
}

impl LexicalCache {
    /// The tenant's lexical index, loaded if need be (call with the writer held, so no write
    /// slips between the read and the caching); `None` when it does not fit the budget.
    pub(crate) fn load(
        &self,
        conn: &mut SqliteConnection,
        tenant: &TenantId,
    ) -> Result<Option<Arc<RwLock<LexicalIndex>>>, SqliteStoreError> {
        if let Some(idx) = self.get(tenant) {
            return Ok(Some(idx));
        }
        let size = diesel::sql_query(
            "SELECT coalesce(sum(documents), 0) AS documents, coalesce(sum(terms), 0) AS terms \
             FROM lexical_scopes WHERE tenant_id = ?",
        )
        .bind::<Text, _>(tenant.as_str())
        .get_result::<TenantSize>(conn)?;
        let need = estimate_bytes(
            u64::try_from(size.documents).unwrap_or(0),
            u64::try_from(size.terms).unwrap_or(0),
        );
        if need > self.budget {
            return Ok(None);
        }
        self.make_room(need);
        let started = Instant::now();
        let mut index = LexicalIndex::default();
        let rows = diesel::sql_query(
            "SELECT id, conversation_id, importance_score, created_at, lexical_terms, lexical_length \
             FROM messages INDEXED BY messages_tenant_created \
             WHERE tenant_id = ? AND archived = 0 ORDER BY created_at",
        )
        .bind::<Text, _>(tenant.as_str())
        .load_iter::<IndexRow, DefaultLoadingMode>(conn)?;
        for row in rows {
            let row = row?;
            index.upsert(&IndexedDoc {
                id: message_id(&row.id)?,
                conversation: &row.conversation_id,
                importance: row.importance_score,
                created_at: row.created_at,
                terms: row.lexical_terms.as_deref(),
                stat_length: row
                    .lexical_length
                    .and_then(|l| u64::try_from(l).ok())
                    .unwrap_or(0),
            });
        }
        tracing::debug!(
            tenant = %tenant,
            messages = index.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded the tenant's lexical index"
        );
        Ok(Some(self.insert(tenant, index)))
    }
}

impl Inner {
    /// Whether `tenant` has an index in memory: then a write that removes rows of it must
    /// say which (see [`Inner::forget`]).
    pub(crate) fn indexed(&self, tenant: &TenantId) -> bool {
        self.cache
            .as_ref()
            .is_some_and(|c| c.peek(tenant).is_some())
            || self
                .lexical
                .as_ref()
                .is_some_and(|c| c.peek(tenant).is_some())
    }

    /// Takes the rows `ids` (message ids as stored) out of the tenant's in-memory indexes:
    /// after a commit that removed them from search (archive, erasure, delete). Call with the
    /// writer held.
    pub(crate) fn forget(
        &self,
        tenant: &TenantId,
        ids: &[Vec<u8>],
    ) -> Result<(), SqliteStoreError> {
        let ids = ids
            .iter()
            .map(|id| message_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(idx) = self.cache.as_ref().and_then(|c| c.peek(tenant)) {
            let mut idx = write_lock(&idx);
            ids.iter().for_each(|id| idx.remove(id));
        }
        if let Some(idx) = self.lexical.as_ref().and_then(|c| c.peek(tenant)) {
            let mut idx = write_lock(&idx);
            ids.iter().for_each(|id| idx.remove(id));
        }
        Ok(())
    }

    /// Puts `m`, stored with analysed `terms`, in its tenant's lexical index (or takes it
    /// out, when archived): after the commit that wrote it, with the writer held.
    pub(crate) fn index_terms(&self, m: &Message, terms: &AnalyzedText) {
        let Some(idx) = self.lexical.as_ref().and_then(|c| c.peek(&m.tenant_id)) else {
            return;
        };
        let mut idx = write_lock(&idx);
        if m.archived {
            idx.remove(&m.id);
        } else {
            idx.upsert(&IndexedDoc {
                id: m.id,
                conversation: m.conversation_id.as_str(),
                importance: m.importance_score.value(),
                created_at: to_micros(m.created_at),
                terms: Some(terms.terms()),
                stat_length: terms.length() as u64,
            });
        }
    }

    /// Drops the tenant's in-memory indexes (its messages are gone).
    pub(crate) fn drop_indexes(&self, tenant: &TenantId) {
        if let Some(cache) = &self.cache {
            cache.remove(tenant);
        }
        if let Some(cache) = &self.lexical {
            cache.remove(tenant);
        }
    }
}
