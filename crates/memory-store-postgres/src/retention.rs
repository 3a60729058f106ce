//! [`RetentionStore`]: archiving and purging in batches, and per-tenant policies.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Double, Text, Timestamptz};
use diesel::{
    ExpressionMethods as _, OptionalExtension as _, QueryDsl as _, SelectableHelper as _,
};
use diesel_async::RunQueryDsl as _;
use memory_core::domain::TenantId;
use memory_core::error::RepositoryError;
use memory_core::ports::RetentionStore;
use memory_core::retention::{ArchiveRule, RetentionPolicy};

use crate::error::PgStoreError;
use crate::open::PostgresStore;
use crate::rows::{CountRow, PolicyRow};
use crate::schema::retention_policies;

/// Retention works in batches of this many rows, each its own statement, so one batch stays
/// well inside the operation timeout however large the tenant.
const RETENTION_BATCH: i64 = 5_000;

/// ArchiveRule::matches in SQL: not archived, and created before $2 or importance below $3.
const ARCHIVE_COUNT_SQL: &str = "SELECT count(*) AS n FROM messages \
     WHERE tenant_id = $1 AND NOT archived AND (created_at < $2 OR importance_score < $3)";

/// One batch of archiving: mark up to $5 matching messages archived at $4 and copy them to
/// archived_messages. The outer WHERE re-checks the rule, so a concurrent run cannot count a
/// message twice.
const ARCHIVE_BATCH_SQL: &str = "WITH moved AS ( \
       UPDATE messages SET archived = true, archived_at = $4, updated_at = $4 \
       WHERE id IN (SELECT id FROM messages WHERE tenant_id = $1 AND NOT archived \
                    AND (created_at < $2 OR importance_score < $3) LIMIT $5) \
         AND tenant_id = $1 AND NOT archived AND (created_at < $2 OR importance_score < $3) \
       RETURNING id, tenant_id, conversation_id, role, content, metadata, importance_score, \
                 importance_override, embedding, embedding_status, created_at, updated_at, archived_at), \
     copied AS ( \
       INSERT INTO archived_messages (id, tenant_id, conversation_id, role, content, metadata, \
                 importance_score, importance_override, embedding, embedding_status, created_at, \
                 updated_at, archived_at) \
       SELECT * FROM moved \
       ON CONFLICT (tenant_id, id) DO UPDATE SET archived_at = EXCLUDED.archived_at, \
                 updated_at = EXCLUDED.updated_at \
       RETURNING 1) \
     SELECT count(*) AS n FROM moved";

const PURGE_COUNT_SQL: &str = "SELECT count(*) AS n FROM archived_messages a \
     JOIN messages m ON m.id = a.id AND m.tenant_id = $1 \
     WHERE a.tenant_id = $1 AND a.archived_at < $2";

/// One batch of purging: delete up to $3 messages archived before $2; the foreign key's
/// ON DELETE CASCADE deletes their archive copies.
const PURGE_BATCH_SQL: &str = "WITH doomed AS ( \
       SELECT id FROM archived_messages WHERE tenant_id = $1 AND archived_at < $2 LIMIT $3), \
     gone AS ( \
       DELETE FROM messages m USING doomed d WHERE m.id = d.id AND m.tenant_id = $1 \
       RETURNING 1) \
     SELECT count(*) AS n FROM gone";

impl PostgresStore {
    /// Runs a retention statement batch after batch until a batch comes back short.
    async fn batched(
        &self,
        what: &'static str,
        sql: &'static str,
        tenant: &str,
        cutoff: DateTime<Utc>,
        extra: Option<(f64, DateTime<Utc>)>,
    ) -> Result<u64, PgStoreError> {
        let mut total = 0u64;
        loop {
            let n = self
                .with_conn(what, async |conn| {
                    let mut q = diesel::sql_query(sql)
                        .into_boxed()
                        .bind::<Text, _>(tenant)
                        .bind::<Timestamptz, _>(cutoff);
                    if let Some((importance, now)) = extra {
                        q = q.bind::<Double, _>(importance).bind::<Timestamptz, _>(now);
                    }
                    let row: CountRow = q
                        .bind::<BigInt, _>(RETENTION_BATCH)
                        .get_result(conn)
                        .await?;
                    Ok(row.n)
                })
                .await?;
            total += u64::try_from(n).unwrap_or(0);
            if n < RETENTION_BATCH {
                return Ok(total);
            }
        }
    }

    /// A dry run's count.
    async fn count(
        &self,
        what: &'static str,
        sql: &'static str,
        tenant: &str,
        cutoff: DateTime<Utc>,
        importance: Option<f64>,
    ) -> Result<u64, PgStoreError> {
        let n = self
            .with_conn(what, async |conn| {
                let mut q = diesel::sql_query(sql)
                    .into_boxed()
                    .bind::<Text, _>(tenant)
                    .bind::<Timestamptz, _>(cutoff);
                if let Some(importance) = importance {
                    q = q.bind::<Double, _>(importance);
                }
                let row: CountRow = q.get_result(conn).await?;
                Ok(row.n)
            })
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn archive(
        &self,
        tenant: &TenantId,
        rule: &ArchiveRule,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        let importance = rule.importance_below.value();
        let (tenant, cutoff) = (tenant.as_str(), rule.created_before);
        Ok(if dry_run {
            self.count(
                "archive (dry run)",
                ARCHIVE_COUNT_SQL,
                tenant,
                cutoff,
                Some(importance),
            )
            .await?
        } else {
            self.batched(
                "archive",
                ARCHIVE_BATCH_SQL,
                tenant,
                cutoff,
                Some((importance, now)),
            )
            .await?
        })
    }

    async fn purge_archived(
        &self,
        tenant: &TenantId,
        archived_before: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        let tenant = tenant.as_str();
        Ok(if dry_run {
            self.count(
                "purge (dry run)",
                PURGE_COUNT_SQL,
                tenant,
                archived_before,
                None,
            )
            .await?
        } else {
            self.batched("purge", PURGE_BATCH_SQL, tenant, archived_before, None)
                .await?
        })
    }

    async fn get_policy(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<RetentionPolicy>, RepositoryError> {
        let tenant = tenant.as_str();
        let row: Option<PolicyRow> = self
            .with_conn("get_policy", async |conn| {
                Ok(retention_policies::table
                    .find(tenant)
                    .select(PolicyRow::as_select())
                    .first(conn)
                    .await
                    .optional()?)
            })
            .await?;
        Ok(row.map(RetentionPolicy::try_from).transpose()?)
    }

    async fn put_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        let days = |d: u32| i32::try_from(d).unwrap_or(i32::MAX);
        let row = PolicyRow {
            tenant_id: tenant.as_str().to_owned(),
            max_age_days: days(policy.max_age_days()),
            importance_threshold: policy.importance_threshold().value(),
            delete_after_days: days(policy.delete_after_days()),
            updated_at: at,
        };
        self.with_conn("put_policy", async |conn| {
            diesel::insert_into(retention_policies::table)
                .values(&row)
                .on_conflict(retention_policies::tenant_id)
                .do_update()
                .set((
                    retention_policies::max_age_days.eq(row.max_age_days),
                    retention_policies::importance_threshold.eq(row.importance_threshold),
                    retention_policies::delete_after_days.eq(row.delete_after_days),
                    retention_policies::updated_at.eq(row.updated_at),
                ))
                .execute(conn)
                .await?;
            Ok(())
        })
        .await?;
        Ok(())
    }
}
