//! [`Leases`]: a row per lease, taken or renewed by one upsert, timed by the database's
//! clock (one clock for every replica).

use std::time::Duration;

use async_trait::async_trait;
use diesel::sql_types::{Double, Text};
use diesel_async::RunQueryDsl as _;
use memory_core::error::RepositoryError;
use memory_core::ports::Leases;

use crate::open::PostgresStore;
use crate::rows::CountRow;

/// Takes the lease when it is free or already the holder's: the upsert's WHERE runs under
/// the row lock, so two racing replicas cannot both succeed.
const TRY_LEASE_SQL: &str = "WITH taken AS ( \
       INSERT INTO leases (name, holder, expires_at) \
       VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3)) \
       ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, \
         expires_at = EXCLUDED.expires_at \
       WHERE leases.holder = EXCLUDED.holder OR leases.expires_at <= clock_timestamp() \
       RETURNING 1) \
     SELECT count(*) AS n FROM taken";

#[async_trait]
impl Leases for PostgresStore {
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, RepositoryError> {
        let row: CountRow = self
            .with_conn("try_lease", async |conn| {
                Ok(diesel::sql_query(TRY_LEASE_SQL)
                    .bind::<Text, _>(name)
                    .bind::<Text, _>(holder)
                    .bind::<Double, _>(ttl.as_secs_f64())
                    .get_result(conn)
                    .await?)
            })
            .await?;
        Ok(row.n == 1)
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), RepositoryError> {
        self.with_conn("release_lease", async |conn| {
            diesel::sql_query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind::<Text, _>(name)
                .bind::<Text, _>(holder)
                .execute(conn)
                .await?;
            Ok(())
        })
        .await?;
        Ok(())
    }
}
