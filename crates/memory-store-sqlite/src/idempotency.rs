//! Idempotency records: written inside the transaction of the write they belong to.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use memory_core::domain::{IdempotencyRecord, TenantId};

use crate::error::SqliteStoreError;
use crate::rows::{from_micros, to_micros};
use crate::schema::idempotency_keys;

/// Stores `key`, or fails with [`SqliteStoreError::KeyTaken`] (call inside the write's
/// transaction, so the write rolls back with it).
pub(crate) fn put_key(
    c: &mut SqliteConnection,
    key: &IdempotencyRecord,
) -> Result<(), SqliteStoreError> {
    let taken = idempotency_keys::table
        .find((key.tenant_id.as_str(), key.key.as_str()))
        .select(idempotency_keys::created_at)
        .first::<i64>(c)
        .optional()?
        .is_some();
    if taken {
        return Err(SqliteStoreError::KeyTaken(key.key.clone()));
    }
    diesel::insert_into(idempotency_keys::table)
        .values((
            idempotency_keys::tenant_id.eq(key.tenant_id.as_str()),
            idempotency_keys::key.eq(key.key.as_str()),
            idempotency_keys::fingerprint.eq(key.fingerprint.as_str()),
            idempotency_keys::created_at.eq(to_micros(key.created_at)),
            idempotency_keys::outcome.eq(key.outcome.as_str()),
        ))
        .execute(c)?;
    Ok(())
}

/// The record of a tenant's key.
pub(crate) fn find_key(
    c: &mut SqliteConnection,
    tenant: &TenantId,
    key: &str,
) -> Result<Option<IdempotencyRecord>, SqliteStoreError> {
    let row = idempotency_keys::table
        .find((tenant.as_str(), key))
        .select((
            idempotency_keys::fingerprint,
            idempotency_keys::created_at,
            idempotency_keys::outcome,
        ))
        .first::<(String, i64, String)>(c)
        .optional()?;
    row.map(|(fingerprint, created_at, outcome)| {
        Ok(IdempotencyRecord {
            tenant_id: tenant.clone(),
            key: key.to_owned(),
            fingerprint,
            created_at: from_micros(created_at)?,
            outcome,
        })
    })
    .transpose()
}

/// Deletes the records created before `before`.
pub(crate) fn purge_keys(
    c: &mut SqliteConnection,
    before: DateTime<Utc>,
) -> Result<u64, SqliteStoreError> {
    let n = diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::created_at.lt(to_micros(before))),
    )
    .execute(c)?;
    Ok(n as u64)
}
