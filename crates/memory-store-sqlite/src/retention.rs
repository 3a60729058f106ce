//! [`RetentionStore`]: archive (a copy in `archived_messages`), purge, policies.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use diesel::sqlite::Sqlite;
use memory_core::domain::TenantId;
use memory_core::error::RepositoryError;
use memory_core::ports::RetentionStore;
use memory_core::retention::{ArchiveRule, RetentionPolicy};

use crate::error::SqliteStoreError;
use crate::open::{Inner, SqliteStore, Writer};
use crate::rows::to_micros;
use crate::schema::{archived_messages, messages, retention_policies};

impl Inner {
    pub(crate) fn archive_blocking(
        &self,
        w: &mut Writer,
        tenant: &TenantId,
        rule: &ArchiveRule,
        now: DateTime<Utc>,
    ) -> Result<u64, SqliteStoreError> {
        let before = to_micros(rule.created_before);
        let below = rule.importance_below.value();
        let now = to_micros(now);
        let cached = self.indexed(tenant);
        let matching = || -> MessageFilter {
            Box::new(
                messages::tenant_id
                    .eq(tenant.as_str().to_owned())
                    .and(messages::archived.eq(false))
                    .and(
                        messages::created_at
                            .lt(before)
                            .or(messages::importance_score.lt(below)),
                    ),
            )
        };
        let (n, ids) = w.conn.immediate_transaction(|c| {
            let ids: Vec<Vec<u8>> = if cached {
                messages::table
                    .filter(matching())
                    .select(messages::id)
                    .load(c)?
            } else {
                Vec::new()
            };
            copy_to_archive(c, matching(), now)?;
            let n = diesel::update(messages::table.filter(matching()))
                .set((
                    messages::archived.eq(true),
                    messages::archived_at.eq(Some(now)),
                    messages::updated_at.eq(now),
                ))
                .execute(c)?;
            Ok::<_, SqliteStoreError>((n, ids))
        })?;
        self.forget(tenant, &ids)?;
        Ok(n as u64)
    }
}

/// A condition on `messages`.
pub(crate) type MessageFilter = Box<dyn BoxableExpression<messages::table, Sqlite, SqlType = Bool>>;

/// Copies the messages matching `filter` into the archive, archived at `archived_at`.
pub(crate) fn copy_to_archive(
    c: &mut SqliteConnection,
    filter: MessageFilter,
    archived_at: i64,
) -> Result<usize, diesel::result::Error> {
    let select = messages::table.filter(filter).select((
        messages::id,
        messages::tenant_id,
        messages::conversation_id,
        messages::role,
        messages::content,
        messages::metadata,
        messages::importance_score,
        messages::importance_override,
        messages::embedding,
        messages::embedding_status,
        messages::created_at,
        archived_at.into_sql::<BigInt>(),
        archived_at.into_sql::<BigInt>(),
    ));
    diesel::replace_into(archived_messages::table)
        .values(select)
        .into_columns((
            archived_messages::id,
            archived_messages::tenant_id,
            archived_messages::conversation_id,
            archived_messages::role,
            archived_messages::content,
            archived_messages::metadata,
            archived_messages::importance_score,
            archived_messages::importance_override,
            archived_messages::embedding,
            archived_messages::embedding_status,
            archived_messages::created_at,
            archived_messages::updated_at,
            archived_messages::archived_at,
        ))
        .execute(c)
}

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn archive(
        &self,
        tenant: &TenantId,
        rule: &ArchiveRule,
        now: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        let (tenant, rule) = (tenant.clone(), rule.clone());
        if dry_run {
            return self
                .read(move |c, _| {
                    let n: i64 = messages::table
                        .filter(messages::tenant_id.eq(tenant.as_str()))
                        .filter(messages::archived.eq(false))
                        .filter(
                            messages::created_at
                                .lt(to_micros(rule.created_before))
                                .or(messages::importance_score.lt(rule.importance_below.value())),
                        )
                        .count()
                        .get_result(c)?;
                    Ok(n as u64)
                })
                .await
                .map_err(Into::into);
        }
        self.write(move |w, inner| inner.archive_blocking(w, &tenant, &rule, now))
            .await
            .map_err(Into::into)
    }

    async fn purge_archived(
        &self,
        tenant: &TenantId,
        archived_before: DateTime<Utc>,
        dry_run: bool,
    ) -> Result<u64, RepositoryError> {
        let tenant = tenant.clone();
        let cutoff = to_micros(archived_before);
        if dry_run {
            return self
                .read(move |c, _| {
                    let n: i64 = archived_messages::table
                        .filter(archived_messages::tenant_id.eq(tenant.as_str()))
                        .filter(archived_messages::archived_at.lt(cutoff))
                        .count()
                        .get_result(c)?;
                    Ok(n as u64)
                })
                .await
                .map_err(Into::into);
        }
        self.write(move |w, _| {
            w.conn.immediate_transaction(|c| {
                let doomed = archived_messages::table
                    .filter(archived_messages::tenant_id.eq(tenant.as_str()))
                    .filter(archived_messages::archived_at.lt(cutoff))
                    .select(archived_messages::id);
                // The archive copies go with their messages (ON DELETE CASCADE).
                // Driven by the archive's index, then one primary-key delete per copy.
                let n = diesel::delete(messages::table.filter(messages::id.eq_any(doomed)))
                    .execute(c)?;
                diesel::delete(
                    archived_messages::table
                        .filter(archived_messages::tenant_id.eq(tenant.as_str()))
                        .filter(archived_messages::archived_at.lt(cutoff)),
                )
                .execute(c)?;
                Ok::<_, SqliteStoreError>(n as u64)
            })
        })
        .await
        .map_err(Into::into)
    }

    async fn get_policy(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<RetentionPolicy>, RepositoryError> {
        let tenant = tenant.clone();
        self.read(move |c, _| {
            let row = retention_policies::table
                .find(tenant.as_str())
                .select((
                    retention_policies::max_age_days,
                    retention_policies::importance_threshold,
                    retention_policies::delete_after_days,
                ))
                .first::<(i32, f64, i32)>(c)
                .optional()?;
            row.map(|(age, threshold, delete)| {
                let days = |v: i32| {
                    u32::try_from(v)
                        .map_err(|_| SqliteStoreError::Corrupt(format!("policy days {v}")))
                };
                RetentionPolicy::new(days(age)?, threshold, days(delete)?)
                    .map_err(|e| SqliteStoreError::Corrupt(e.to_string()))
            })
            .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn put_policy(
        &self,
        tenant: &TenantId,
        policy: &RetentionPolicy,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        let (tenant, policy) = (tenant.clone(), policy.clone());
        self.write(move |w, _| {
            let days = |v: u32| {
                i32::try_from(v).map_err(|_| SqliteStoreError::Corrupt(format!("policy days {v}")))
            };
            let values = (
                retention_policies::tenant_id.eq(tenant.as_str()),
                retention_policies::max_age_days.eq(days(policy.max_age_days())?),
                retention_policies::importance_threshold.eq(policy.importance_threshold().value()),
                retention_policies::delete_after_days.eq(days(policy.delete_after_days())?),
                retention_policies::updated_at.eq(to_micros(at)),
            );
            diesel::insert_into(retention_policies::table)
                .values(values)
                .on_conflict(retention_policies::tenant_id)
                .do_update()
                .set(values)
                .execute(&mut w.conn)?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }
}
