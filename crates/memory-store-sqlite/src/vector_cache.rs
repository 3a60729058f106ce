//! The per-tenant vector indexes held in memory, within a byte budget: loading one.

use std::sync::{Arc, RwLock};
use std::time::Instant;

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use diesel::sql_types::Text;
use memory_core::domain::TenantId;

use crate::error::SqliteStoreError;
use crate::rows::{decode_vector_into, message_id};
use crate::tenant_cache::{Held, TenantCache};
use crate::vector_index::{TenantIndex, estimate_bytes};

#[derive(QueryableByName)]
pub(crate) struct VectorRow {
    #[diesel(sql_type = diesel::sql_types::Binary)]
    pub(crate) id: Vec<u8>,
    #[diesel(sql_type = Text)]
    pub(crate) conversation_id: String,
    #[diesel(sql_type = diesel::sql_types::Double)]
    pub(crate) importance_score: f64,
    #[diesel(sql_type = diesel::sql_types::Binary)]
    pub(crate) embedding: Vec<u8>,
}

/// The vector indexes held in memory.
pub(crate) type VectorCache = TenantCache<TenantIndex>;

impl Held for TenantIndex {
    fn bytes(&self) -> usize {
        TenantIndex::bytes(self)
    }
}

impl VectorCache {
    /// Loads the tenant's vectors (call with the writer held), evicting others to fit.
    pub(crate) fn load(
        &self,
        conn: &mut SqliteConnection,
        tenant: &TenantId,
        dim: usize,
        expected: usize,
    ) -> Result<Arc<RwLock<TenantIndex>>, SqliteStoreError> {
        if let Some(idx) = self.get(tenant) {
            return Ok(idx);
        }
        self.make_room(estimate_bytes(expected, dim));
        let started = Instant::now();
        let mut index = TenantIndex::with_capacity(dim, expected);
        let mut buf = Vec::with_capacity(dim);
        // In creation order, which follows insertion order: the table is read front to back
        // instead of hopping between pages in the order of another index.
        let rows = diesel::sql_query(
            "SELECT id, conversation_id, importance_score, embedding \
             FROM messages INDEXED BY messages_tenant_created \
             WHERE tenant_id = ? AND archived = 0 AND embedding_status = 'completed' \
             ORDER BY created_at",
        )
        .bind::<Text, _>(tenant.as_str())
        .load_iter::<VectorRow, DefaultLoadingMode>(conn)?;
        for row in rows {
            let row = row?;
            decode_vector_into(&row.embedding, dim, &mut buf)?;
            index.upsert(
                message_id(&row.id)?,
                &row.conversation_id,
                row.importance_score,
                &buf,
            );
        }
        tracing::debug!(
            tenant = %tenant,
            messages = index.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded tenant vectors into the index"
        );
        Ok(self.insert(tenant, index))
    }
}
