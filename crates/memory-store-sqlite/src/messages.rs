//! [`MessageStore`]: insert, read, record embeddings, the backlog, tenants, health.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::sqlite::Sqlite;
use memory_core::domain::{
    ConversationId, EmbeddingStatus, IdempotencyRecord, Message, MessageId, TenantId,
};
use memory_core::error::RepositoryError;
use memory_core::ports::{EmbeddingUpdate, MessageRecord, MessageStore};

use crate::error::SqliteStoreError;
use crate::idempotency::{find_key, purge_keys, put_key};
use crate::lexical::next_lexical_doc;
use crate::open::{Inner, SqliteStore, Writer, id_bytes, limit_i64};
use crate::retention::copy_to_archive;
use crate::rows::{MessageRow, NewMessageRow, decode_embedding, to_micros};
use crate::schema::messages;
use crate::tenant_cache::write_lock;

#[derive(QueryableByName)]
pub(crate) struct TenantRow {
    #[diesel(sql_type = diesel::sql_types::Nullable<Text>)]
    tenant_id: Option<String>,
}

#[derive(QueryableByName)]
pub(crate) struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

impl Inner {
    pub(crate) fn insert_rows(
        &self,
        w: &mut Writer,
        batch: &[MessageRecord],
        key: Option<&IdempotencyRecord>,
    ) -> Result<(), SqliteStoreError> {
        w.conn.immediate_transaction(|c| {
            if let Some(key) = key {
                put_key(c, key)?;
            }
            for (doc, r) in (next_lexical_doc(c)?..).zip(batch) {
                let m = &r.message;
                let id = *m.id.as_uuid().as_bytes();
                let row = NewMessageRow::new(m, &id, doc, &r.terms)?;
                diesel::insert_into(messages::table)
                    .values(&row)
                    .execute(c)?;
                if m.archived {
                    copy_to_archive(
                        c,
                        Box::new(messages::id.eq(id.to_vec())),
                        to_micros(m.updated_at),
                    )?;
                }
            }
            Ok::<_, SqliteStoreError>(())
        })?;
        if let Some(cache) = &self.cache {
            for m in batch.iter().map(|r| &r.message) {
                if let (Some(e), EmbeddingStatus::Completed, false) =
                    (&m.embedding, m.embedding_status, m.archived)
                    && let Some(idx) = cache.peek(&m.tenant_id)
                {
                    write_lock(&idx).upsert(
                        m.id,
                        m.conversation_id.as_str(),
                        m.importance_score.value(),
                        e.as_slice(),
                    );
                }
            }
        }
        for r in batch {
            self.index_terms(&r.message, &r.terms);
        }
        Ok(())
    }
}

#[async_trait]
impl MessageStore for SqliteStore {
    async fn insert(&self, record: &MessageRecord) -> Result<(), RepositoryError> {
        if let Some(e) = &record.message.embedding {
            e.check_dimension(self.inner.dim)?;
        }
        self.insert_batch(std::slice::from_ref(record), None).await
    }

    async fn insert_batch(
        &self,
        records: &[MessageRecord],
        key: Option<IdempotencyRecord>,
    ) -> Result<(), RepositoryError> {
        for r in records {
            if let Some(e) = &r.message.embedding {
                e.check_dimension(self.inner.dim)?;
            }
        }
        if records.is_empty() && key.is_none() {
            return Ok(());
        }
        let batch = records.to_vec();
        self.write(move |w, inner| inner.insert_rows(w, &batch, key.as_ref()))
            .await
            .map_err(Into::into)
    }

    async fn find_idempotency(
        &self,
        tenant: &TenantId,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, RepositoryError> {
        let (tenant, key) = (tenant.clone(), key.to_owned());
        self.read(move |c, _| find_key(c, &tenant, &key))
            .await
            .map_err(Into::into)
    }

    async fn purge_idempotency(&self, before: DateTime<Utc>) -> Result<u64, RepositoryError> {
        self.write(move |w, _| purge_keys(&mut w.conn, before))
            .await
            .map_err(Into::into)
    }

    async fn get(&self, id: MessageId) -> Result<Option<Message>, RepositoryError> {
        self.read(move |c, inner| {
            let row = messages::table
                .find(id_bytes(id))
                .select((MessageRow::as_select(), messages::embedding))
                .first::<(MessageRow, Option<Vec<u8>>)>(c)
                .optional()?;
            row.map(|(r, e)| {
                let e = e.map(|b| decode_embedding(&b, inner.dim)).transpose()?;
                r.into_message(e)
            })
            .transpose()
        })
        .await
        .map_err(Into::into)
    }

    async fn set_embedding(
        &self,
        id: MessageId,
        update: EmbeddingUpdate,
        read_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        if let EmbeddingUpdate::Completed(e) = &update {
            e.check_dimension(self.inner.dim)?;
        }
        self.write(move |w, inner| {
            let key = id_bytes(id);
            let (read_at, at) = (to_micros(read_at), to_micros(at));
            let found = w.conn.immediate_transaction(|c| {
                let row = messages::table
                    .find(&key)
                    .filter(messages::updated_at.eq(read_at))
                    .select((
                        messages::tenant_id,
                        messages::conversation_id,
                        messages::importance_score,
                        messages::archived,
                    ))
                    .first::<(String, String, f64, bool)>(c)
                    .optional()?;
                if row.is_some() {
                    let target = messages::table.find(&key);
                    match &update {
                        EmbeddingUpdate::Completed(e) => diesel::update(target)
                            .set((
                                messages::embedding
                                    .eq(Some(crate::rows::encode_vector(e.as_slice()))),
                                messages::embedding_status.eq(EmbeddingStatus::Completed.as_str()),
                                messages::updated_at.eq(at),
                            ))
                            .execute(c)?,
                        EmbeddingUpdate::Failed => diesel::update(target)
                            .set((
                                messages::embedding_status.eq(EmbeddingStatus::Failed.as_str()),
                                messages::updated_at.eq(at),
                            ))
                            .execute(c)?,
                    };
                }
                Ok::<_, SqliteStoreError>(row)
            })?;
            let Some((tenant, conversation, importance, archived)) = found else {
                return Ok(false);
            };
            if let Some(cache) = &inner.cache {
                let tenant = TenantId::parse(tenant)
                    .map_err(|e| SqliteStoreError::Corrupt(e.to_string()))?;
                if let Some(idx) = cache.peek(&tenant) {
                    let mut idx = write_lock(&idx);
                    match &update {
                        EmbeddingUpdate::Completed(e) if !archived => {
                            idx.upsert(id, &conversation, importance, e.as_slice());
                        }
                        _ => idx.remove(&id),
                    }
                }
            }
            Ok(true)
        })
        .await
        .map_err(Into::into)
    }

    async fn pending_embeddings(&self, limit: usize) -> Result<Vec<Message>, RepositoryError> {
        self.read(move |c, inner| {
            // Literal terms, so SQLite picks the partial index `messages_pending`.
            let rows = messages::table
                .filter(sql::<Bool>(
                    "archived = 0 AND embedding_status <> 'completed'",
                ))
                .order((messages::created_at.asc(), messages::id.asc()))
                .limit(limit_i64(limit))
                .select((MessageRow::as_select(), messages::embedding))
                .load::<(MessageRow, Option<Vec<u8>>)>(c)?;
            rows.into_iter()
                .map(|(r, e)| {
                    let e = e.map(|b| decode_embedding(&b, inner.dim)).transpose()?;
                    r.into_message(e)
                })
                .collect()
        })
        .await
        .map_err(Into::into)
    }

    async fn count_pending(
        &self,
        tenant: Option<TenantId>,
        conversation: Option<ConversationId>,
    ) -> Result<u64, RepositoryError> {
        self.read(move |c, _| {
            // `IN` rather than `<> 'completed'`: two seeks into the scope's index, which then
            // answers alone. Without a tenant, the partial index `messages_pending`.
            let n: i64 = match (&tenant, &conversation) {
                (None, conv) => {
                    // The partial index holds exactly the backlog (the planner would rather
                    // walk a whole covering index).
                    let mut sql = String::from(
                        "SELECT count(*) AS n FROM messages INDEXED BY messages_pending \
                         WHERE archived = 0 AND embedding_status <> 'completed'",
                    );
                    if conv.is_some() {
                        sql.push_str(" AND conversation_id = ?");
                    }
                    let mut query = diesel::sql_query(sql).into_boxed::<Sqlite>();
                    if let Some(conv) = conv {
                        query = query.bind::<Text, _>(conv.as_str().to_owned());
                    }
                    query.get_result::<Count>(c)?.n
                }
                (Some(t), None) => messages::table
                    .filter(messages::tenant_id.eq(t.as_str()))
                    .filter(messages::archived.eq(false))
                    .filter(messages::embedding_status.eq_any(["pending", "failed"]))
                    .count()
                    .get_result(c)?,
                (Some(t), Some(conv)) => messages::table
                    .filter(messages::tenant_id.eq(t.as_str()))
                    .filter(messages::conversation_id.eq(conv.as_str()))
                    .filter(messages::archived.eq(false))
                    .filter(messages::embedding_status.eq_any(["pending", "failed"]))
                    .count()
                    .get_result(c)?,
            };
            Ok(u64::try_from(n).unwrap_or(0))
        })
        .await
        .map_err(Into::into)
    }

    async fn list_tenants(&self) -> Result<Vec<TenantId>, RepositoryError> {
        self.read(|c, _| {
            // A skip scan over the index on tenant_id: one seek per tenant, not one per row.
            let rows = diesel::sql_query(
                "WITH RECURSIVE t(tenant_id) AS ( \
                   SELECT MIN(tenant_id) FROM messages \
                   UNION ALL \
                   SELECT (SELECT MIN(tenant_id) FROM messages WHERE tenant_id > t.tenant_id) \
                   FROM t WHERE t.tenant_id IS NOT NULL) \
                 SELECT tenant_id FROM t WHERE tenant_id IS NOT NULL",
            )
            .load::<TenantRow>(c)?;
            rows.into_iter()
                .filter_map(|r| r.tenant_id)
                .map(|t| TenantId::parse(t).map_err(|e| SqliteStoreError::Corrupt(e.to_string())))
                .collect()
        })
        .await
        .map_err(Into::into)
    }

    async fn health(&self) -> Result<(), RepositoryError> {
        self.read(|c, _| {
            diesel::select(1.into_sql::<diesel::sql_types::Integer>()).get_result::<i32>(c)?;
            Ok(())
        })
        .await
        .map_err(Into::into)
    }
}
