//! Idempotency records: written inside the transaction of the write they belong to.

use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods as _, OptionalExtension as _, QueryDsl as _};
use diesel_async::{AsyncPgConnection, RunQueryDsl as _};
use memory_core::domain::{IdempotencyRecord, TenantId};

use crate::error::PgStoreError;
use crate::schema::idempotency_keys;

/// Stores `key`, or fails with [`PgStoreError::KeyTaken`] (call inside the write's
/// transaction, so the write rolls back with it). A concurrent transaction inserting the
/// same key makes this one wait for it, then see the key taken.
pub(crate) async fn put_key(
    conn: &mut AsyncPgConnection,
    key: &IdempotencyRecord,
) -> Result<(), PgStoreError> {
    let n = diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::tenant_id.eq(key.tenant_id.as_str()),
            idempotency_keys::key.eq(key.key.as_str()),
            idempotency_keys::fingerprint.eq(key.fingerprint.as_str()),
            idempotency_keys::created_at.eq(key.created_at),
            idempotency_keys::outcome.eq(key.outcome.as_str()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if n == 0 {
        return Err(PgStoreError::KeyTaken(key.key.clone()));
    }
    Ok(())
}

/// The record of a tenant's key.
pub(crate) async fn find_key(
    conn: &mut AsyncPgConnection,
    tenant: &TenantId,
    key: &str,
) -> Result<Option<IdempotencyRecord>, PgStoreError> {
    let row = idempotency_keys::table
        .find((tenant.as_str(), key))
        .select((
            idempotency_keys::fingerprint,
            idempotency_keys::created_at,
            idempotency_keys::outcome,
        ))
        .first::<(String, DateTime<Utc>, String)>(conn)
        .await
        .optional()?;
    Ok(
        row.map(|(fingerprint, created_at, outcome)| IdempotencyRecord {
            tenant_id: tenant.clone(),
            key: key.to_owned(),
            fingerprint,
            created_at,
            outcome,
        }),
    )
}

/// Deletes the records created before `before`.
pub(crate) async fn purge_keys(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
) -> Result<u64, PgStoreError> {
    let n = diesel::delete(idempotency_keys::table.filter(idempotency_keys::created_at.lt(before)))
        .execute(conn)
        .await?;
    Ok(n as u64)
}
