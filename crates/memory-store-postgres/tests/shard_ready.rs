//! The schema is ready to be distributed by tenant (Citus, docs/scale-out.md): every primary
//! key, unique constraint and foreign key of a tenant table includes `tenant_id`, no foreign
//! key crosses tenants, and no table takes its ids from a sequence.

use diesel::sql_types::{Array, BigInt, Text};
use diesel_async::{AsyncConnection as _, AsyncPgConnection, RunQueryDsl as _};
use memory_store_postgres::testkit::TestDatabase;

/// Distributed by `tenant_id`, colocated.
const TENANT_TABLES: [&str; 5] = [
    "messages",
    "archived_messages",
    "message_history",
    "idempotency_keys",
    "retention_policies",
];

#[derive(diesel::QueryableByName, Debug)]
struct Constraint {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Array<Text>)]
    columns: Vec<String>,
    #[diesel(sql_type = Array<Text>)]
    referenced: Vec<String>,
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[tokio::test]
async fn every_key_of_a_tenant_table_includes_the_tenant() {
    let db = TestDatabase::migrated().await.expect("database");
    let mut conn = AsyncPgConnection::establish(&db.url)
        .await
        .expect("connect");
    let constraints: Vec<Constraint> = diesel::sql_query(
        "SELECT c.conrelid::regclass::text AS table_name, c.conname::text AS name, \
           c.contype::text AS kind, \
           ARRAY(SELECT a.attname::text FROM unnest(c.conkey) k \
                 JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k) AS columns, \
           ARRAY(SELECT a.attname::text FROM unnest(coalesce(c.confkey, '{}')) k \
                 JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k) AS referenced \
         FROM pg_constraint c WHERE c.contype IN ('p', 'u', 'f') \
           AND c.conrelid::regclass::text = ANY($1)",
    )
    .bind::<Array<Text>, _>(TENANT_TABLES.to_vec())
    .load(&mut conn)
    .await
    .expect("constraints");
    let primary_keys = constraints.iter().filter(|c| c.kind == "p").count();
    assert_eq!(primary_keys, TENANT_TABLES.len(), "{constraints:#?}");
    for c in &constraints {
        assert!(
            c.columns.iter().any(|col| col == "tenant_id"),
            "{}.{} ({}) leaves out tenant_id: {:?}",
            c.table_name,
            c.name,
            c.kind,
            c.columns
        );
        if c.kind == "f" {
            let at = c.columns.iter().position(|col| col == "tenant_id");
            assert_eq!(
                at.map(|i| c.referenced[i].as_str()),
                Some("tenant_id"),
                "{}.{} must match tenant to tenant",
                c.table_name,
                c.name
            );
        }
    }
    let sequences: Count =
        diesel::sql_query("SELECT count(*) AS n FROM pg_sequences WHERE schemaname = 'public'")
            .get_result(&mut conn)
            .await
            .expect("sequences");
    assert_eq!(
        sequences.n, 0,
        "ids come from the server (UUID v7), not a sequence"
    );
}
