//! A hot standby (`MEMORY_DATABASE_READ_URL`, docs/scale-out.md): searches run on the standby
//! (scripts/pg.sh standby-up, streaming replication of the project's Postgres) and find what
//! was written on the primary; reads by id see a write at once; a dead standby falls back to
//! the primary without an error.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use memory_store_postgres::testkit::{database_name, with_database};

use crate::helpers::{StoreKind, TestApp, spawn_app_with};

/// `url` with its database replaced by the one of `database_url`.
fn same_database(url: &str, database_url: &str) -> String {
    with_database(url, database_name(database_url))
}

fn standby_url() -> String {
    std::env::var("MEMORY_TEST_STANDBY_URL").expect(
        "MEMORY_TEST_STANDBY_URL must point at a standby of MEMORY_TEST_DATABASE_URL \
         (./just test sets it from scripts/pg.sh standby-up)",
    )
}

async fn statements_like(url: &str, database: &str, pattern: &str) -> i64 {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    client
        .query_one(
            "SELECT coalesce(sum(s.calls), 0)::bigint FROM pg_stat_statements s \
             JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1 AND s.query LIKE $2",
            &[&database, &pattern],
        )
        .await
        .expect("pg_stat_statements")
        .get(0)
}

async fn search(app: &TestApp, mode: &str, query: &str) -> Value {
    let r = app
        .search(&[("tenant_id", "acme"), ("query", query), ("mode", mode)])
        .await;
    assert_eq!(r.status().as_u16(), 200, "{mode}");
    r.json().await.expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn searches_run_on_the_standby_and_find_what_the_primary_wrote() {
    let standby = standby_url();
    let app = spawn_app_with(StoreKind::Postgres, |s| {
        s.database_read_url = Some(same_database(&standby, &s.database_url));
    })
    .await;
    let database = database_name(&app.settings.database_url).to_owned();
    let stored = app
        .store("acme", "c1", "My sister lives in Porto and teaches piano")
        .await;
    let id = stored["id"].as_str().expect("id");
    // A read by id sees the write at once: it goes to the primary.
    let r = app
        .client
        .get(app.url(&format!("/v1/messages/{id}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status().as_u16(), 200);
    // A search finds it once the standby has replayed it (milliseconds).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let found = search(&app, "vector", "where does my sister live").await;
        if found["items"][0]["message_id"] == json!(id) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never showed the write: {found}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let body = search(&app, "hybrid", "sister piano").await;
    assert_eq!(body["items"][0]["message_id"], json!(id), "{body}");
    // The vector search ran on the standby, and not on the primary.
    let primary = std::env::var("MEMORY_TEST_DATABASE_URL").expect("primary");
    let on_standby = statements_like(&standby, &database, "%embedding <=>%").await;
    let on_primary = statements_like(&primary, &database, "%embedding <=>%").await;
    assert!(on_standby > 0, "no vector search ran on the standby");
    assert_eq!(on_primary, 0, "a vector search ran on the primary");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_standby_falls_back_to_the_primary() {
    let dead = format!(
        "postgres://postgres@127.0.0.1:{}/postgres",
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a port")
            .port()
    );
    let app = spawn_app_with(StoreKind::Postgres, |s| {
        s.database_read_url = Some(same_database(&dead, &s.database_url));
    })
    .await;
    let stored = app
        .store("acme", "c1", "The boiler is serviced every October")
        .await;
    let id = stored["id"].as_str().expect("id");
    for mode in ["vector", "hybrid", "lexical"] {
        let body = search(&app, mode, "when is the boiler serviced").await;
        assert_eq!(body["items"][0]["message_id"], json!(id), "{mode}: {body}");
    }
    for path in [
        format!("/v1/messages/{id}"),
        "/v1/messages?tenant_id=acme".to_owned(),
        "/v1/conversations?tenant_id=acme".to_owned(),
    ] {
        let r = app.client.get(app.url(&path)).send().await.expect("get");
        assert_eq!(r.status().as_u16(), 200, "{path}");
    }
}
