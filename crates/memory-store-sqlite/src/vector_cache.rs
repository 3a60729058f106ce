//! The per-tenant vector indexes held in memory, within a byte budget.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;

use diesel::connection::DefaultLoadingMode;
use diesel::prelude::*;
use diesel::sql_types::Text;
use memory_core::domain::TenantId;

use crate::error::SqliteStoreError;
use crate::rows::{decode_vector_into, message_id};
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

pub(crate) fn read_lock(idx: &RwLock<TenantIndex>) -> std::sync::RwLockReadGuard<'_, TenantIndex> {
    idx.read().unwrap_or_else(PoisonError::into_inner)
}

/// Takes the rows `ids` (message ids as stored) out of a cached tenant index, if the tenant
/// has one: after a commit that removed them from search (archive, erasure).
pub(crate) fn forget(
    cached: Option<Arc<RwLock<TenantIndex>>>,
    ids: &[Vec<u8>],
) -> Result<(), SqliteStoreError> {
    if let Some(idx) = cached {
        let mut idx = write_lock(&idx);
        for id in ids {
            idx.remove(&message_id(id)?);
        }
    }
    Ok(())
}

pub(crate) fn write_lock(
    idx: &RwLock<TenantIndex>,
) -> std::sync::RwLockWriteGuard<'_, TenantIndex> {
    idx.write().unwrap_or_else(PoisonError::into_inner)
}

/// Per-tenant vector indexes, least recently used evicted past the budget.
///
/// Consistency: an index is loaded, and a cached tenant's rows are written, only while the
/// writer connection is held, and every write updates the cached index before releasing it.
/// So a cached index always equals the table (writes of other processes are detected through
/// `PRAGMA data_version` and drop the whole cache).
pub(crate) struct VectorCache {
    pub(crate) budget: usize,
    tick: AtomicU64,
    tenants: Mutex<HashMap<TenantId, CacheEntry>>,
}

struct CacheEntry {
    index: Arc<RwLock<TenantIndex>>,
    last_used: u64,
}

impl VectorCache {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            tick: AtomicU64::new(0),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, CacheEntry>> {
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tenant's index, marking it used.
    pub(crate) fn get(&self, tenant: &TenantId) -> Option<Arc<RwLock<TenantIndex>>> {
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut map = self.map();
        let e = map.get_mut(tenant)?;
        e.last_used = tick;
        Some(e.index.clone())
    }

    /// The tenant's index, without marking it used.
    pub(crate) fn peek(&self, tenant: &TenantId) -> Option<Arc<RwLock<TenantIndex>>> {
        self.map().get(tenant).map(|e| e.index.clone())
    }

    pub(crate) fn clear(&self) {
        self.map().clear();
    }

    pub(crate) fn remove(&self, tenant: &TenantId) {
        self.map().remove(tenant);
    }

    pub(crate) fn bytes(&self) -> usize {
        self.map()
            .values()
            .map(|e| read_lock(&e.index).bytes())
            .sum()
    }

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
        let need = estimate_bytes(expected, dim);
        {
            let mut map = self.map();
            let mut held: usize = map.values().map(|e| read_lock(&e.index).bytes()).sum();
            while held + need > self.budget {
                let Some(victim) = map
                    .iter()
                    .min_by_key(|(_, e)| e.last_used)
                    .map(|(t, _)| t.clone())
                else {
                    break;
                };
                if let Some(e) = map.remove(&victim) {
                    held = held.saturating_sub(read_lock(&e.index).bytes());
                    tracing::debug!(tenant = %victim, "evicted tenant vectors from the index");
                }
            }
        }
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
        let index = Arc::new(RwLock::new(index));
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        self.map().insert(
            tenant.clone(),
            CacheEntry {
                index: index.clone(),
                last_used: tick,
            },
        );
        Ok(index)
    }
}
