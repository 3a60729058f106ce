//! [`Leases`]: a row per lease, taken or renewed by one upsert on the writer connection,
//! timed by this machine's clock (every process sharing the file runs on it).

use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text};
use memory_core::error::RepositoryError;
use memory_core::ports::Leases;

use crate::open::SqliteStore;
use crate::rows::to_micros;

#[async_trait]
impl Leases for SqliteStore {
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, RepositoryError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        let ttl = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX / 2);
        self.write(move |w, _| {
            let now = to_micros(Utc::now());
            // The upsert's WHERE decides: a free (expired) lease or the holder's own.
            let taken = diesel::sql_query(
                "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                   expires_at = excluded.expires_at \
                 WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
            )
            .bind::<Text, _>(&name)
            .bind::<Text, _>(&holder)
            .bind::<BigInt, _>(now.saturating_add(ttl))
            .bind::<BigInt, _>(now)
            .execute(&mut w.conn)?;
            Ok(taken == 1)
        })
        .await
        .map_err(Into::into)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), RepositoryError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.write(move |w, _| {
            diesel::sql_query("DELETE FROM leases WHERE name = ? AND holder = ?")
                .bind::<Text, _>(&name)
                .bind::<Text, _>(&holder)
                .execute(&mut w.conn)?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }
}
