//! Every query shape the store runs is answered through an index, never a scan of `messages`.

use diesel::prelude::*;
use diesel::sql_types::Text;
use memory_store_sqlite::SqliteStore;

#[derive(QueryableByName)]
struct PlanRow {
    #[diesel(sql_type = Text)]
    detail: String,
}

fn plan(conn: &mut SqliteConnection, sql: &str) -> String {
    diesel::sql_query(format!("EXPLAIN QUERY PLAN {sql}"))
        .load::<PlanRow>(conn)
        .expect("explain")
        .into_iter()
        .map(|r| r.detail)
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn every_query_uses_an_index() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("plans.db");
    let store = SqliteStore::open(path.to_str().expect("utf-8"), 8).expect("open");
    drop(store);
    let mut conn = SqliteConnection::establish(path.to_str().expect("utf-8")).expect("connect");
    let cases = [
        (
            "get by id",
            "SELECT * FROM messages WHERE id = ?",
            "sqlite_autoindex_messages_1",
        ),
        (
            "search a tenant / load its vectors",
            "SELECT id, embedding FROM messages WHERE tenant_id = ? AND archived = ? \
             AND embedding_status = ?",
            "messages_tenant_search",
        ),
        (
            "search with importance_min",
            "SELECT id, embedding FROM messages WHERE tenant_id = ? AND archived = ? \
             AND embedding_status = ? AND importance_score >= ?",
            "messages_tenant_search",
        ),
        (
            "search a conversation",
            "SELECT id, embedding FROM messages WHERE tenant_id = ? AND archived = ? \
             AND embedding_status = ? AND conversation_id = ?",
            "messages_tenant_conversation",
        ),
        (
            "fetch search results",
            "SELECT * FROM messages WHERE id IN (?, ?, ?) AND archived = ?",
            "sqlite_autoindex_messages_1",
        ),
        (
            "archive (and its dry run)",
            "SELECT count(*) FROM messages WHERE tenant_id = ? AND archived = ? \
             AND (created_at < ? OR importance_score < ?)",
            "messages_tenant_",
        ),
        (
            "pending embeddings, oldest first",
            "SELECT * FROM messages WHERE archived = 0 AND embedding_status <> 'completed' \
             ORDER BY created_at, id LIMIT ?",
            "messages_pending",
        ),
        (
            "purge",
            "DELETE FROM messages WHERE id IN \
             (SELECT id FROM archived_messages WHERE tenant_id = ? AND archived_at < ?)",
            "archived_messages_tenant_archived_at",
        ),
        (
            "purge dry run",
            "SELECT count(*) FROM archived_messages WHERE tenant_id = ? AND archived_at < ?",
            "archived_messages_tenant_archived_at",
        ),
        (
            "list tenants (skip scan)",
            "WITH RECURSIVE t(tenant_id) AS ( SELECT MIN(tenant_id) FROM messages UNION ALL \
             SELECT (SELECT MIN(tenant_id) FROM messages WHERE tenant_id > t.tenant_id) \
             FROM t WHERE t.tenant_id IS NOT NULL) SELECT tenant_id FROM t",
            "COVERING INDEX",
        ),
        (
            "pending count, every tenant",
            "SELECT count(*) FROM messages INDEXED BY messages_pending \
             WHERE archived = 0 AND embedding_status <> 'completed'",
            "messages_pending",
        ),
        (
            "pending count, one tenant",
            "SELECT count(*) FROM messages WHERE tenant_id = ? AND archived = ? \
             AND embedding_status IN (?, ?)",
            "COVERING INDEX messages_tenant_search",
        ),
        (
            "pending count, one conversation",
            "SELECT count(*) FROM messages WHERE tenant_id = ? AND conversation_id = ? \
             AND archived = ? AND embedding_status IN (?, ?)",
            "COVERING INDEX messages_tenant_conversation",
        ),
        (
            "lexical scope statistics",
            "SELECT coalesce(sum(documents), 0), coalesce(sum(terms), 0) FROM lexical_scopes \
             WHERE tenant_id = ?",
            "PRIMARY KEY",
        ),
        (
            "lexical scope statistics under importance_min",
            "SELECT count(*), coalesce(sum(lexical_length), 0) \
             FROM messages INDEXED BY messages_lexical_scope \
             WHERE tenant_id = ? AND archived = 0 AND conversation_id = ? \
             AND importance_score >= ?",
            "COVERING INDEX messages_lexical_scope",
        ),
        (
            "next lexical doc number",
            "SELECT max(lexical_doc) FROM messages",
            "messages_lexical_doc",
        ),
        (
            "rows to analyze",
            "SELECT id, content FROM messages WHERE lexical_doc IS NULL LIMIT 1000",
            "messages_lexical_doc",
        ),
        (
            "erase a conversation",
            "DELETE FROM messages WHERE tenant_id = ? AND conversation_id = ?",
            "messages_",
        ),
        (
            "erase a tenant",
            "DELETE FROM messages WHERE tenant_id = ?",
            "messages_",
        ),
        (
            "list a tenant, first page",
            "SELECT * FROM messages WHERE tenant_id = ? ORDER BY created_at ASC, id ASC LIMIT ?",
            "messages_tenant_list",
        ),
        (
            "list a tenant, next page (keyset)",
            "SELECT * FROM messages WHERE tenant_id = ? AND (created_at, id) > (?, ?) \
             ORDER BY created_at ASC, id ASC LIMIT ?",
            "messages_tenant_list (tenant_id=? AND (created_at,id)>(?,?))",
        ),
        (
            "list a tenant newest first, next page",
            "SELECT * FROM messages WHERE tenant_id = ? AND archived = ? \
             AND (created_at, id) < (?, ?) ORDER BY created_at DESC, id DESC LIMIT ?",
            "messages_tenant_list (tenant_id=? AND (created_at,id)<(?,?))",
        ),
        (
            "a conversation's time line (hybrid search's neighbours)",
            "SELECT id FROM messages WHERE tenant_id = ? AND conversation_id = ? \
             AND archived = ? ORDER BY created_at ASC, id ASC LIMIT ?",
            "messages_conversation_time (tenant_id=? AND conversation_id=?)",
        ),
        (
            "list a conversation, next page",
            "SELECT * FROM messages WHERE tenant_id = ? AND conversation_id = ? \
             AND (created_at, id) > (?, ?) ORDER BY created_at ASC, id ASC LIMIT ?",
            "messages_conversation_time (tenant_id=? AND conversation_id=? AND (created_at,id)>(?,?))",
        ),
        (
            "list a conversation newest first, archived only",
            "SELECT * FROM messages WHERE tenant_id = ? AND conversation_id = ? \
             AND archived = ? ORDER BY created_at DESC, id DESC LIMIT ?",
            "messages_conversation_time (tenant_id=? AND conversation_id=?)",
        ),
        (
            "a message's history",
            "SELECT * FROM message_history WHERE message_id = ? ORDER BY at, id",
            "message_history_message",
        ),
        (
            "an idempotency record",
            "SELECT * FROM idempotency_keys WHERE tenant_id = ? AND key = ?",
            "PRIMARY KEY",
        ),
        (
            "purge idempotency records",
            "DELETE FROM idempotency_keys WHERE created_at < ?",
            "idempotency_keys_created",
        ),
        (
            "a tenant's policy",
            "SELECT * FROM retention_policies WHERE tenant_id = ?",
            "sqlite_autoindex_retention_policies_1",
        ),
    ];
    for (what, sql, index) in cases {
        let p = plan(&mut conn, sql);
        assert!(p.contains(index), "{what}: expected {index}, plan: {p}");
        assert!(
            !p.split(" | ")
                .any(|step| step.starts_with("SCAN messages") && !step.contains("INDEX")),
            "{what}: full table scan: {p}"
        );
        assert!(!p.contains("TEMP B-TREE"), "{what}: sorts: {p}");
    }

    // Lexical search: the full-text index alone ranks (a sort of its matches, which its
    // scope token bounds), then the winners are read by lexical_doc.
    let p = plan(
        &mut conn,
        "SELECT rowid AS doc FROM messages_fts WHERE messages_fts MATCH ? \
         ORDER BY bm25(messages_fts, 0.0, 1.0), rowid LIMIT ?",
    );
    assert!(p.contains("VIRTUAL TABLE"), "lexical ranking: {p}");
    let p = plan(
        &mut conn,
        "SELECT * FROM messages WHERE lexical_doc IN (?, ?) AND tenant_id = ? AND archived = 0",
    );
    assert!(p.contains("messages_lexical_doc"), "lexical rows: {p}");
}
