//! Which tenants' rows the HNSW index holds. Small scopes are searched exactly, so only the
//! rows of large tenants (at least `exact_scan_threshold` searchable rows, listed in
//! `large_tenants`) are put in the index: a small tenant's write costs no graph insertion.
//! New rows of a listed tenant are indexed at insert (the `messages_in_hnsw_trg` trigger);
//! the rows a tenant had when it became large are promoted here, in the background, a batch
//! at a time. Until then a large scope's search reads them exactly beside the index
//! ([`crate::vector`]), so nothing is ever missing from a search, only slower to find.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use diesel::sql_types::{Array, BigInt, Bool, Text};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use memory_core::domain::TenantId;
use memory_core::error::RepositoryError;
use memory_core::ports::MessageRecord;

use crate::error::PgStoreError;
use crate::open::PostgresStore;
use crate::rows::CountRow;
use crate::vector::{SEARCHABLE, UNINDEXED};

/// Rows moved into the index per statement: each is a graph insertion (about a millisecond
/// at a million rows), so a batch holds its row locks for well under a second.
const PROMOTE_BATCH: i64 = 500;

/// Most tenants whose last check is remembered; the map is cleared when it would grow past.
const CHECKED_MAX: usize = 100_000;

/// When each tenant was last checked after a write, so a busy tenant is counted at most
/// once per `scope_size_cache_ttl`.
#[derive(Default)]
pub(crate) struct Checked(Mutex<HashMap<String, Instant>>);

#[derive(diesel::QueryableByName)]
struct Marked {
    #[diesel(sql_type = Bool)]
    marked: bool,
}

async fn mark(conn: &mut AsyncPgConnection, tenants: &[&str]) -> Result<(), PgStoreError> {
    diesel::sql_query(
        "INSERT INTO large_tenants (tenant_id) SELECT DISTINCT unnest($1) \
         ON CONFLICT (tenant_id) DO NOTHING",
    )
    .bind::<Array<Text>, _>(tenants)
    .execute(conn)
    .await?;
    Ok(())
}

impl PostgresStore {
    /// With `exact_scan_threshold` 0 every scope is large: the tenants about to be written are
    /// listed first, so their rows go straight into the index.
    pub(crate) async fn mark_if_all_large(
        &self,
        conn: &mut AsyncPgConnection,
        records: &[MessageRecord],
    ) -> Result<(), PgStoreError> {
        if self.config().exact_scan_threshold == 0 {
            let mut tenants: Vec<&str> = records
                .iter()
                .map(|r| r.message.tenant_id.as_str())
                .collect();
            tenants.sort_unstable();
            tenants.dedup();
            mark(conn, &tenants).await?;
        }
        Ok(())
    }

    /// After a write of `tenants`: each one not checked within `scope_size_cache_ttl` is
    /// checked in the background, and promoted if it has become large (or a listed tenant
    /// has rows written while it was being listed). Never fails the write.
    pub(crate) fn after_write<'a>(&self, tenants: impl IntoIterator<Item = &'a TenantId>) {
        let threshold = self.config().exact_scan_threshold;
        if threshold == 0 || threshold == u64::MAX {
            return;
        }
        let ttl = self.config().scope_size_cache_ttl;
        let due: Vec<TenantId> = {
            let mut checked = self
                .checked()
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let mut due = Vec::new();
            for tenant in tenants {
                if checked
                    .get(tenant.as_str())
                    .is_some_and(|at| at.elapsed() < ttl)
                {
                    continue;
                }
                if checked.len() >= CHECKED_MAX {
                    checked.clear();
                }
                checked.insert(tenant.as_str().to_owned(), Instant::now());
                due.push(tenant.clone());
            }
            due
        };
        for tenant in due {
            let store = self.clone();
            tokio::spawn(async move {
                match store.promote_if_large(&tenant).await {
                    Ok(0) => {}
                    Ok(rows) => tracing::info!(%tenant, rows, "rows moved into the HNSW index"),
                    Err(e) => tracing::warn!(%tenant, error = %e, "cannot promote a large tenant"),
                }
            });
        }
    }

    /// Promotes `tenant` ([`PostgresStore::promote_tenant`]) if it is listed as large or has
    /// at least `exact_scan_threshold` searchable rows (counted up to that); returns the rows
    /// moved into the index.
    pub async fn promote_if_large(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        let threshold = i64::try_from(self.config().exact_scan_threshold).unwrap_or(i64::MAX);
        let large = self
            .with_conn("check large tenant", async |conn| {
                let marked: Marked = diesel::sql_query(
                    "SELECT EXISTS (SELECT 1 FROM large_tenants WHERE tenant_id = $1) AS marked",
                )
                .bind::<Text, _>(tenant.as_str())
                .get_result(conn)
                .await?;
                if marked.marked {
                    return Ok(true);
                }
                let count: CountRow = diesel::sql_query(format!(
                    "SELECT count(*) AS n FROM (SELECT 1 FROM messages \
                     WHERE tenant_id = $1 AND {SEARCHABLE} LIMIT $2) s"
                ))
                .bind::<Text, _>(tenant.as_str())
                .bind::<BigInt, _>(threshold)
                .get_result(conn)
                .await?;
                Ok(count.n >= threshold)
            })
            .await?;
        if large {
            self.promote_tenant(tenant).await
        } else {
            Ok(0)
        }
    }

    /// Lists `tenant` as large (its new rows are indexed at insert) and moves every row it
    /// already has into the HNSW index, [`PROMOTE_BATCH`] rows per statement (each its own
    /// transaction; rows another writer holds are left for the next round). Returns the rows
    /// moved. Idempotent; replicas may run it at once.
    pub async fn promote_tenant(&self, tenant: &TenantId) -> Result<u64, RepositoryError> {
        self.with_conn("mark large tenant", async |conn| {
            mark(conn, &[tenant.as_str()]).await
        })
        .await?;
        let mut moved = 0u64;
        loop {
            let n = self
                .with_conn("promote large tenant", async |conn| {
                    Ok(diesel::sql_query(format!(
                        "UPDATE messages SET in_hnsw = true WHERE tenant_id = $1 AND id IN \
                         (SELECT id FROM messages WHERE tenant_id = $1 AND {UNINDEXED} \
                          LIMIT $2 FOR UPDATE SKIP LOCKED)"
                    ))
                    .bind::<Text, _>(tenant.as_str())
                    .bind::<BigInt, _>(PROMOTE_BATCH)
                    .execute(conn)
                    .await?)
                })
                .await?;
            moved += n as u64;
            if (n as i64) < PROMOTE_BATCH {
                return Ok(moved);
            }
        }
    }
}
