//! Shard-readiness (docs/scale-out.md): every statement the server issues on tenant data
//! names the tenant, so that Citus, distributing the tables by `tenant_id`, can route it to
//! one shard. The test drives every endpoint against a fresh Postgres database, reads the
//! statements the database saw (`pg_stat_statements`, loaded by scripts/pg.sh), and fails on
//! any statement on a tenant table without a `tenant_id` predicate that is not one of the
//! documented exceptions below.

use serde_json::{Value, json};

use crate::helpers::{StoreKind, TestApp, spawn_app_with};

/// The tables distributed by `tenant_id` under Citus.
const TENANT_TABLES: [&str; 5] = [
    "messages",
    "archived_messages",
    "message_history",
    "idempotency_keys",
    "retention_policies",
];

/// Statements that may reach every shard, each with why (docs/scale-out.md lists them).
const EXCEPTIONS: [(&str, &str); 7] = [
    (
        r#"FROM "messages" WHERE ("messages"."id" = $1) LIMIT"#,
        "a message by id: GET/PATCH/DELETE /v1/messages/{id} name only the id; every \
         statement after this read names its tenant",
    ),
    (
        "WITH RECURSIVE t(tenant_id)",
        "every tenant (the retention scheduler, GET /v1/tenants for an admin key)",
    ),
    (
        "embedding_claimed_until = clock_timestamp()",
        "the catch-up worker's claim, over every tenant's backlog",
    ),
    (
        r#"UPDATE "messages" SET "embedding" = $1"#,
        "the catch-up worker's write, by id, of a message it claimed",
    ),
    (
        // No `$1` in the pattern: pg_stat_statements keeps the literal ('completed') when a
        // reset lands between the statement's parse and its end (seen once in CI).
        "FROM messages WHERE NOT archived AND embedding_status <> ",
        "the embeddings_pending gauge, over every tenant",
    ),
    (
        "FROM messages WHERE lexical_terms IS NULL",
        "the backfill of analysed text for rows an older binary wrote",
    ),
    (
        r#"DELETE FROM "idempotency_keys" WHERE ("idempotency_keys"."created_at" <"#,
        "the scheduler's purge of expired idempotency keys, over every tenant",
    ),
];

fn touches_tenant_data(sql: &str) -> bool {
    let words: Vec<&str> = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    TENANT_TABLES.iter().any(|t| words.contains(t))
}

/// Routable: an INSERT that writes the tenant column, or a statement whose predicate pins
/// the tenant to one value (`tenant_id = $n`; a range or a join is not routable).
fn names_the_tenant(sql: &str) -> bool {
    let lower = sql.to_ascii_lowercase().replace('"', "");
    if lower.trim_start().starts_with("insert") {
        let columns = lower.split(')').next().unwrap_or_default();
        return columns.contains("tenant_id");
    }
    let Some((_, predicate)) = lower.split_once("where") else {
        return false;
    };
    predicate.match_indices("tenant_id").any(|(i, _)| {
        let rest = predicate[i + "tenant_id".len()..].trim_start_matches([')', ' ']);
        rest.strip_prefix('=')
            .is_some_and(|v| v.trim_start().starts_with('$'))
    })
}

#[test]
fn the_routing_rule() {
    for routable in [
        "SELECT 1 FROM messages WHERE tenant_id = $1",
        r#"DELETE FROM "messages" WHERE (("messages"."id" = $1) AND ("messages"."tenant_id" = $2))"#,
        r#"INSERT INTO "messages" ("id", "tenant_id") VALUES ($1, $2)"#,
    ] {
        assert!(names_the_tenant(routable), "{routable}");
    }
    for not in [
        "SELECT 1 FROM messages WHERE id = $1",
        "SELECT m.tenant_id FROM messages m WHERE m.tenant_id > t.tenant_id",
        "INSERT INTO leases (name) VALUES ($1)",
        "SELECT tenant_id FROM messages",
    ] {
        assert!(!names_the_tenant(not), "{not}");
    }
}

async fn exercise_every_endpoint(app: &TestApp) {
    let c = &app.client;
    let post = |body: Value, key: Option<&'static str>| {
        let mut r = c.post(app.url("/v1/messages")).json(&body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send()
    };
    let msg = |content: &str| {
        json!({"tenant_id": "acme", "conversation_id": "c1", "role": "user", "content": content,
            "metadata": {"topic": "travel"}})
    };
    let first: Value = post(msg("We fly to Lisbon in May"), Some("k1"))
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    post(msg("We fly to Lisbon in May"), Some("k1"))
        .await
        .expect("retry");
    post(msg("Book the hotel by the river"), None)
        .await
        .expect("post");
    let id = first["id"].as_str().expect("id").to_owned();
    let batch = json!({"tenant_id": "acme", "messages": [
        {"conversation_id": "c2", "role": "user", "content": "My cat is called Miso",
         "created_at": "2025-01-01T00:00:00Z"},
        {"conversation_id": "c2", "role": "assistant", "content": "Noted: Miso"}]});
    c.post(app.url("/v1/messages/batch"))
        .header("Idempotency-Key", "b1")
        .json(&batch)
        .send()
        .await
        .expect("batch");
    let gets = [
        format!("/v1/messages/{id}"),
        format!("/v1/messages/{id}/history"),
        "/v1/messages?tenant_id=acme&order=desc&limit=2".to_owned(),
        "/v1/messages?tenant_id=acme&conversation_id=c1&archived=false&role=user".to_owned(),
        "/v1/conversations?tenant_id=acme".to_owned(),
        "/v1/tenants".to_owned(),
        "/v1/admin/retention/preview?tenant_id=acme".to_owned(),
        "/v1/admin/health".to_owned(),
    ];
    for path in &gets {
        let r = c.get(app.url(path)).send().await.expect("get");
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
    for mode in ["hybrid", "vector", "lexical"] {
        for conversation in [None, Some("c2")] {
            let mut body = json!({"tenant_id": "acme", "query": "what is my cat called",
                "mode": mode, "created_after": "2024-01-01T00:00:00Z",
                "filters": {"topic": {"ne": "work"}}});
            if let Some(conv) = conversation {
                body["conversation_id"] = json!(conv);
            }
            let r = c
                .post(app.url("/v1/memory/search"))
                .json(&body)
                .send()
                .await
                .expect("search");
            assert_eq!(r.status().as_u16(), 200, "{mode}");
        }
    }
    let r = c
        .patch(app.url(&format!("/v1/messages/{id}")))
        .json(
            &json!({"content": "We fly to Porto in May", "metadata": {"topic": "trips"},
            "importance_override": 0.8}),
        )
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status().as_u16(), 200);
    for dry_run in [true, false] {
        let r = c
            .post(app.url("/v1/admin/retention/run"))
            .json(
                &json!({"tenant_id": "acme", "dry_run": dry_run, "actions": ["archive", "delete"]}),
            )
            .send()
            .await
            .expect("retention");
        assert_eq!(r.status().as_u16(), 200);
    }
    let r = c
        .delete(app.url(&format!("/v1/messages/{id}")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status().as_u16(), 204);
    let r = c
        .delete(app.url("/v1/conversations/c2?tenant_id=acme"))
        .send()
        .await
        .expect("erase conversation");
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .delete(app.url("/v1/tenants/acme/messages"))
        .send()
        .await
        .expect("erase tenant");
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_statement_on_tenant_data_names_the_tenant() {
    let app = spawn_app_with(StoreKind::Postgres, |_| {}).await;
    let database =
        memory_store_postgres::testkit::database_name(&app.settings.database_url).to_owned();
    let admin_url = std::env::var("MEMORY_TEST_DATABASE_URL").expect("MEMORY_TEST_DATABASE_URL");
    let (admin, conn) = tokio_postgres::connect(&admin_url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    let oid: u32 = admin
        .query_one(
            "SELECT oid FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .await
        .expect("oid")
        .get(0);
    // What the migrations ran is not the server's traffic.
    admin
        .execute("SELECT pg_stat_statements_reset(0, $1, 0)", &[&oid])
        .await
        .expect("reset (scripts/pg.sh loads pg_stat_statements)");
    exercise_every_endpoint(&app).await;
    // Let the background workers (catch-up, analysed text, metrics: every 5 s) run a round.
    tokio::time::sleep(std::time::Duration::from_secs(6)).await;
    let rows = admin
        .query(
            "SELECT query FROM pg_stat_statements WHERE dbid = $1",
            &[&oid],
        )
        .await
        .expect("statements");
    let statements: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
    let on_tenant_data: Vec<&String> = statements
        .iter()
        .filter(|s| touches_tenant_data(s))
        .collect();
    assert!(
        on_tenant_data.len() > 20,
        "the traffic was recorded: {statements:#?}"
    );
    let unroutable: Vec<&&String> = on_tenant_data
        .iter()
        .filter(|s| !names_the_tenant(s))
        .filter(|s| !EXCEPTIONS.iter().any(|(pattern, _)| s.contains(pattern)))
        .collect();
    assert!(
        unroutable.is_empty(),
        "statements on tenant data without a tenant_id predicate: {unroutable:#?}"
    );
}
