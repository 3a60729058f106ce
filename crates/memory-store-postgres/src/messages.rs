//! [`MessageStore`]: writing and reading messages, embedding outcomes, the embedding backlog,
//! tenants and health.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::sql_types::{BigInt, Text};
use diesel::{
    ExpressionMethods as _, OptionalExtension as _, QueryDsl as _, SelectableHelper as _,
};
use diesel_async::pooled_connection::deadpool::Object;
use diesel_async::{
    AnsiTransactionManager, AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _,
    TransactionManager as _,
};
use futures::{StreamExt as _, TryFutureExt as _};
use memory_core::domain::{ConversationId, IdempotencyRecord, Message, MessageId, TenantId};
use memory_core::error::RepositoryError;
use memory_core::ports::{EmbeddingUpdate, MessageRecord, MessageStore, RecordParts};
use pgvector::Vector;

use crate::error::PgStoreError;
use crate::idempotency::{find_key, purge_keys, put_key};
use crate::open::PostgresStore;
use crate::rows::{CountRow, MessageRow, NewMessageRow, TenantRow};
use crate::schema::messages;

/// The columns a message and its archive copy share.
pub(crate) const COPY_COLUMNS: &str = "id, tenant_id, conversation_id, role, content, metadata, \
     importance_score, importance_override, embedding, embedding_status, created_at, updated_at";

const PENDING_SQL: &str = "SELECT id, tenant_id, conversation_id, role, content, metadata, \
     importance_score, importance_override, embedding, embedding_status, archived, created_at, updated_at \
     FROM messages WHERE NOT archived AND embedding_status <> 'completed' \
     ORDER BY created_at, id LIMIT $1";

/// The catch-up worker's claim: the oldest unclaimed pending messages, locked with SKIP LOCKED
/// so that concurrent claims (other replicas) pass over each other's rows, marked claimed for
/// $2 seconds by the database's clock. Across tenants on purpose: a background job, not a
/// tenant's request (docs/scale-out.md).
const CLAIM_SQL: &str = "UPDATE messages SET \
       embedding_claimed_until = clock_timestamp() + make_interval(secs => $2) \
     WHERE id IN (SELECT id FROM messages WHERE NOT archived AND embedding_status <> 'completed' \
       AND (embedding_claimed_until IS NULL OR embedding_claimed_until < clock_timestamp()) \
       ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED) \
     RETURNING id, tenant_id, conversation_id, role, content, metadata, importance_score, \
       importance_override, embedding, embedding_status, archived, created_at, updated_at";

/// Distinct tenants by a loose index scan of messages_tenant_list_idx: one index probe per
/// tenant instead of reading every row.
const TENANTS_SQL: &str = "WITH RECURSIVE t(tenant_id) AS ( \
       (SELECT tenant_id FROM messages ORDER BY tenant_id LIMIT 1) \
       UNION ALL \
       SELECT (SELECT m.tenant_id FROM messages m WHERE m.tenant_id > t.tenant_id \
               ORDER BY m.tenant_id LIMIT 1) \
       FROM t WHERE t.tenant_id IS NOT NULL) \
     SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL";

/// The most rows one INSERT writes: Postgres takes at most 65,535 parameters per statement.
const ROWS_PER_STATEMENT: usize = 2000;

/// A duplicate id as the core names it.
fn conflict(e: PgStoreError) -> RepositoryError {
    match e {
        PgStoreError::Conflict { message, .. } => {
            RepositoryError::Conflict(format!("a message id exists: {message}"))
        }
        other => other.into(),
    }
}

/// Inserts records, with the archive copies of those inserted already archived (an import).
/// More than one statement (over [`ROWS_PER_STATEMENT`] rows, or archived ones) must run
/// inside the caller's transaction; one statement is atomic on its own.
async fn write_records(
    conn: &mut AsyncPgConnection,
    records: &[MessageRecord],
) -> Result<(), PgStoreError> {
    let rows: Vec<NewMessageRow<'_>> = records.iter().map(NewMessageRow::from_record).collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        diesel::insert_into(messages::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    let archived: Vec<uuid::Uuid> = records
        .iter()
        .filter(|r| r.message.archived)
        .map(|r| r.message.id.as_uuid())
        .collect();
    if !archived.is_empty() {
        diesel::sql_query(format!(
            "INSERT INTO archived_messages ({COPY_COLUMNS}, archived_at) \
             SELECT {COPY_COLUMNS}, archived_at FROM messages WHERE id = ANY($1)"
        ))
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(&archived)
        .execute(conn)
        .await?;
    }
    Ok(())
}

impl PostgresStore {
    /// Every embedding has the store's dimension.
    fn check_dimensions(&self, records: &[MessageRecord]) -> Result<(), RepositoryError> {
        for r in records {
            if let Some(e) = &r.message.embedding {
                e.check_dimension(self.config().dimension)?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl MessageStore for PostgresStore {
    /// Concurrent calls are written together when they arrive faster than the database takes
    /// them (`coalesce.rs`); each caller still gets its own outcome.
    async fn insert(&self, record: &MessageRecord) -> Result<(), RepositoryError> {
        if record.message.archived {
            return self.insert_batch(std::slice::from_ref(record), None).await;
        }
        self.check_dimensions(std::slice::from_ref(record))?;
        self.insert_coalesced(record.clone()).await
    }

    async fn insert_batch(
        &self,
        records: &[MessageRecord],
        key: Option<IdempotencyRecord>,
    ) -> Result<(), RepositoryError> {
        self.check_dimensions(records)?;
        if records.is_empty() && key.is_none() {
            return Ok(());
        }
        let one_statement = records.len() <= ROWS_PER_STATEMENT
            && key.is_none()
            && records.iter().all(|r| !r.message.archived);
        self.with_conn("insert", async |conn| {
            self.mark_if_all_large(conn, records).await?;
            if one_statement {
                // One statement is its own transaction: no BEGIN/COMMIT round trips.
                return write_records(conn, records).await;
            }
            conn.transaction::<_, PgStoreError, _>(async |conn| {
                if let Some(key) = &key {
                    put_key(conn, key).await?;
                }
                write_records(conn, records).await
            })
            .await
        })
        .await
        .map_err(conflict)?;
        self.after_write(records.iter().map(|r| &r.message.tenant_id));
        Ok(())
    }

    /// One transaction, opened when the first part arrives and committed after the last:
    /// each part is written as it comes, so its index work (HNSW, GIN) runs while the service
    /// embeds the next part. Each step is bounded by the operation timeout, not the whole,
    /// which waits on the model; the connection is held until the commit, and discarded
    /// (rolling the transaction back) when anything fails.
    async fn insert_parts(
        &self,
        mut parts: RecordParts,
        key: Option<IdempotencyRecord>,
    ) -> Result<(), RepositoryError> {
        // No connection is held while the first part is embedded.
        let mut next = parts.next().await;
        let mut conn = self.checkout("insert_parts").await?;
        let mut tenants: std::collections::BTreeSet<TenantId> = std::collections::BTreeSet::new();
        let result: Result<(), RepositoryError> = async {
            self.step(
                "begin",
                AnsiTransactionManager::begin_transaction(&mut *conn).map_err(PgStoreError::from),
            )
            .await?;
            if let Some(key) = &key {
                self.step("insert_parts", put_key(&mut conn, key)).await?;
            }
            while let Some(records) = next {
                self.check_dimensions(&records)?;
                self.step("insert_parts", self.mark_if_all_large(&mut conn, &records))
                    .await?;
                self.step("insert_parts", write_records(&mut conn, &records))
                    .await
                    .map_err(conflict)?;
                tenants.extend(records.iter().map(|r| r.message.tenant_id.clone()));
                next = parts.next().await;
            }
            self.step(
                "commit",
                AnsiTransactionManager::commit_transaction(&mut *conn).map_err(PgStoreError::from),
            )
            .await?;
            Ok(())
        }
        .await;
        if result.is_err() {
            // Inside the transaction, or in an unknown state after a timeout: never reused.
            drop(Object::take(conn));
        } else {
            drop(conn);
            self.after_write(&tenants);
        }
        result
    }

    async fn find_idempotency(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, RepositoryError> {
        Ok(self
            .with_conn("find_idempotency", async |conn| {
                find_key(conn, tenant, key).await
            })
            .await?)
    }

    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        Ok(self
            .with_conn("purge_idempotency", async |conn| {
                purge_keys(conn, before).await
            })
            .await?)
    }

    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError> {
        let row: Option<MessageRow> = self
            .with_conn("get", async |conn| {
                Ok(messages::table
                    .find(id.as_uuid())
                    .select(MessageRow::as_select())
                    .first(conn)
                    .await
                    .optional()?)
            })
            .await?;
        Ok(row.map(Message::try_from).transpose()?)
    }

    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        read_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let (embedding, status) = match &update {
            EmbeddingUpdate::Completed(e) => {
                e.check_dimension(self.config().dimension)?;
                (Some(Vector::from(e.as_slice().to_vec())), "completed")
            }
            // The CHECK constraint: only a completed message has an embedding.
            EmbeddingUpdate::Failed => (None, "failed"),
        };
        let n = self
            .with_conn("set_embedding", async |conn| {
                Ok(diesel::update(
                    messages::table
                        .find(id.as_uuid())
                        .filter(messages::updated_at.eq(read_at)),
                )
                .set((
                    messages::embedding.eq(embedding),
                    messages::embedding_status.eq(status),
                    messages::updated_at.eq(at),
                ))
                .execute(conn)
                .await?)
            })
            .await?;
        Ok(n > 0)
    }

    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<MessageRow> = self
            .with_conn("pending_embeddings", async |conn| {
                Ok(diesel::sql_query(PENDING_SQL)
                    .bind::<BigInt, _>(limit)
                    .load(conn)
                    .await?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<_>, _>>()?)
    }

    async fn claim_pending(
        &self,
        limit: usize,
        claim: std::time::Duration,
    ) -> Result<Vec<Message>, RepositoryError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<MessageRow> = self
            .with_conn("claim_pending", async |conn| {
                Ok(diesel::sql_query(CLAIM_SQL)
                    .bind::<BigInt, _>(limit)
                    .bind::<diesel::sql_types::Double, _>(claim.as_secs_f64())
                    .load(conn)
                    .await?)
            })
            .await?;
        let mut messages = rows
            .into_iter()
            .map(Message::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING keeps no order: oldest first, as listed.
        messages.sort_by_key(|m| (m.created_at, m.id));
        Ok(messages)
    }

    async fn count_pending(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, RepositoryError> {
        let mut sql = String::from(
            "SELECT count(*) AS n FROM messages WHERE NOT archived AND embedding_status <> 'completed'",
        );
        let mut n = 1;
        if tenant.is_some() {
            sql.push_str(&format!(" AND tenant_id = ${n}"));
            n += 1;
        }
        if conversation.is_some() {
            sql.push_str(&format!(" AND conversation_id = ${n}"));
        }
        let row: CountRow = self
            .with_conn("count_pending", async |conn| {
                let mut q = diesel::sql_query(sql).into_boxed();
                if let Some(t) = &tenant {
                    q = q.bind::<Text, _>(t.as_str());
                }
                if let Some(c) = &conversation {
                    q = q.bind::<Text, _>(c.as_str());
                }
                Ok(q.get_result(conn).await?)
            })
            .await?;
        Ok(u64::try_from(row.n).unwrap_or(0))
    }

    async fn list_tenants(&self) -> Result<Vec<TenantId>, RepositoryError> {
        let rows: Vec<TenantRow> = self
            .with_conn("list_tenants", async |conn| {
                Ok(diesel::sql_query(TENANTS_SQL).load(conn).await?)
            })
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let message = format!("tenant {:?}", r.tenant_id);
                TenantId::parse(r.tenant_id).map_err(|e| PgStoreError::corrupt(message, e))
            })
            .collect::<Result<Vec<_>, _>>()?)
    }

    async fn health(&self) -> Result<(), RepositoryError> {
        self.with_conn("health", async |conn| {
            diesel::sql_query("SELECT 1").execute(conn).await?;
            Ok(())
        })
        .await?;
        Ok(())
    }
}
