//! Per-tenant indexes held in memory (vectors, lexical postings), least recently used evicted
//! past a byte budget.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use memory_core::domain::TenantId;

/// What a cache holds per tenant: something that knows its size.
pub(crate) trait Held {
    /// Approximate heap bytes held.
    fn bytes(&self) -> usize;
}

pub(crate) fn read_lock<T>(idx: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    idx.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write_lock<T>(idx: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    idx.write().unwrap_or_else(PoisonError::into_inner)
}

/// Per-tenant indexes, least recently used evicted past the budget.
///
/// Consistency (kept by the callers): an index is loaded, and a cached tenant's rows are
/// written, only while the writer connection is held, and every write updates the cached
/// index before releasing it. So a cached index always equals the table (writes of other
/// processes are detected through `PRAGMA data_version` and drop every cache).
pub(crate) struct TenantCache<T> {
    pub(crate) budget: usize,
    tick: AtomicU64,
    tenants: Mutex<HashMap<TenantId, CacheEntry<T>>>,
}

struct CacheEntry<T> {
    index: Arc<RwLock<T>>,
    last_used: u64,
}

impl<T: Held> TenantCache<T> {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            tick: AtomicU64::new(0),
            tenants: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, CacheEntry<T>>> {
        self.tenants.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tenant's index, marking it used.
    pub(crate) fn get(&self, tenant: &TenantId) -> Option<Arc<RwLock<T>>> {
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        let mut map = self.map();
        let e = map.get_mut(tenant)?;
        e.last_used = tick;
        Some(e.index.clone())
    }

    /// The tenant's index, without marking it used.
    pub(crate) fn peek(&self, tenant: &TenantId) -> Option<Arc<RwLock<T>>> {
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

    /// Evicts the least recently used tenants until `need` more bytes fit the budget (or
    /// nothing is left to evict).
    pub(crate) fn make_room(&self, need: usize) {
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
                tracing::debug!(tenant = %victim, "evicted a tenant's index from memory");
            }
        }
    }

    /// Caches a freshly loaded index for `tenant` (call with the writer held).
    pub(crate) fn insert(&self, tenant: &TenantId, index: T) -> Arc<RwLock<T>> {
        let index = Arc::new(RwLock::new(index));
        let tick = self.tick.fetch_add(1, Ordering::Relaxed);
        self.map().insert(
            tenant.clone(),
            CacheEntry {
                index: index.clone(),
                last_used: tick,
            },
        );
        index
    }
}
