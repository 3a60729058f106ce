//! Three real `memory-server` processes on one Postgres, as behind a load balancer
//! (docs/scale-out.md): they migrate an empty database together, share the catch-up backlog
//! without embedding a message twice, run the retention scheduler once per interval across
//! the fleet, serve 16 clients round-robin (writes, searches, retention runs, erasures) while one is
//! killed with SIGKILL, and every acknowledged write stays readable from every survivor.
//! Then a fleet-wide rate limit held by per-replica shares.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::join_all;
use memory_core::ports::{MessageRecord, MessageStore};
use memory_core::testkit::Fixture;
use memory_store_postgres::testkit::TestDatabase;
use memory_store_postgres::{PostgresConfig, PostgresStore, pending_migrations};
use serde_json::{Value, json};

mod support;

use support::{Server, free_ports, start_anywhere};

const BACKLOG: usize = 120;

/// A metric without labels, from `/metrics` (0 when absent).
async fn metric(client: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    text.lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum()
}

async fn fleet(db: &str, env: &[(&str, &str)]) -> Vec<Server> {
    // All at the same moment: each one migrates the empty database at startup.
    // Distinct ports, and a replica that cannot bind is restarted elsewhere: in one CI run a
    // replica exited with "address in use" while the health check of its port was answered
    // by another server, which the backlog count then saw twice (176 of 120).
    join_all(
        free_ports(3)
            .into_iter()
            .map(|port| start_anywhere(db, port, env)),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_share_one_postgres() {
    let db = TestDatabase::create().await.expect("database");
    let mut servers = fleet(&db.url, &[("MEMORY_RETENTION_SCHEDULE_SECONDS", "1")]).await;
    assert!(
        pending_migrations(&db.url)
            .await
            .expect("pending")
            .is_empty(),
        "migrated once, by one of the three, the others waiting on the lock"
    );
    let bases: Vec<String> = servers.iter().map(|s| s.base.clone()).collect();
    let client = reqwest::Client::new();

    // The catch-up backlog, as a crash or an import would leave it: every replica's worker
    // takes part, and the texts the model saw add up to the backlog exactly.
    let store = PostgresStore::connect(&db.url, PostgresConfig::default())
        .await
        .expect("store");
    for i in 0..BACKLOG {
        let m = Fixture::new("backlog", &format!("c{}", i % 7), 384)
            .content(&format!(
                "backlog message number {i} about topic {}",
                i % 11
            ))
            // Written now: the scheduler (every 1 s) archives what is older than 30 days.
            .created(chrono::Utc::now())
            .build();
        store.insert(&MessageRecord::new(m)).await.expect("insert");
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while store.count_pending(None, None).await.expect("count") > 0 {
        assert!(Instant::now() < deadline, "backlog not embedded in 120 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut embedded = 0.0;
    for base in &bases {
        embedded += metric(&client, base, "embedding_batch_size_sum").await;
    }
    assert_eq!(
        embedded as usize, BACKLOG,
        "every backlog message embedded exactly once across the fleet"
    );

    // An erasure through one replica is seen by all.
    for (i, base) in bases.iter().enumerate() {
        let r = client
            .post(format!("{base}/v1/messages"))
            .json(
                &json!({"tenant_id": "erase-me", "conversation_id": "c", "role": "user",
                "content": format!("secret number {i}")}),
            )
            .send()
            .await
            .expect("post");
        assert_eq!(r.status().as_u16(), 202);
    }
    let r = client
        .delete(format!("{}/v1/tenants/erase-me/messages", bases[1]))
        .send()
        .await
        .expect("erase");
    let erased: Value = r.json().await.expect("json");
    assert_eq!(erased["deleted"], 3, "{erased}");

    // 16 clients round-robin over the replicas; replica 2 is killed half way.
    let acknowledged = Arc::new(Mutex::new(Vec::<(String, String)>::new()));
    let erased_conversations = Arc::new(Mutex::new(Vec::<(String, usize)>::new()));
    let stop_at = Instant::now() + Duration::from_secs(6);
    let clients = (0..16).map(|c| {
        let (bases, acknowledged, client) = (bases.clone(), acknowledged.clone(), client.clone());
        let erased_conversations = erased_conversations.clone();
        tokio::spawn(async move {
            let mut errors = 0;
            for n in 0usize.. {
                if Instant::now() > stop_at {
                    break;
                }
                let base = &bases[(c + n) % bases.len()];
                let tenant = format!("load-{}", c % 4);
                if n % 8 == 5 {
                    // Retention through the API, while the scheduler runs too.
                    let r = client
                        .post(format!("{base}/v1/admin/retention/run"))
                        .json(&json!({"tenant_id": tenant, "actions": ["archive", "delete"]}))
                        .send()
                        .await;
                    match r {
                        Ok(r) => assert!(r.status().as_u16() < 500, "retention {}", r.status()),
                        Err(_) => errors += 1,
                    }
                    continue;
                }
                if n == 6 {
                    // A conversation written through one replica, erased through the next.
                    let body = json!({"tenant_id": tenant, "conversation_id": format!("gone-{c}"),
                        "role": "user", "content": format!("client {c} forgets this")});
                    let next = &bases[(c + n + 1) % bases.len()];
                    let written = client
                        .post(format!("{base}/v1/messages"))
                        .json(&body)
                        .send()
                        .await;
                    let erased = client
                        .delete(format!("{next}/v1/conversations/gone-{c}"))
                        .query(&[("tenant_id", tenant.as_str())])
                        .send()
                        .await;
                    match (written, erased) {
                        (Ok(w), Ok(e)) if w.status().as_u16() == 202 => {
                            assert_eq!(e.status().as_u16(), 200, "erasure");
                            erased_conversations.lock().expect("lock").push((tenant, c));
                        }
                        _ => errors += 1,
                    }
                    continue;
                }
                if n % 4 == 3 {
                    let r = client
                        .get(format!("{base}/v1/memory/search"))
                        .query(&[
                            ("tenant_id", tenant.as_str()),
                            ("query", "what did client say"),
                        ])
                        .send()
                        .await;
                    match r {
                        Ok(r) => assert!(r.status().as_u16() < 500, "search {}", r.status()),
                        Err(_) => errors += 1,
                    }
                    continue;
                }
                let body = json!({"tenant_id": tenant, "conversation_id": format!("c{c}"),
                    "role": "user", "content": format!("client {c} says hello number {n}")});
                match client
                    .post(format!("{base}/v1/messages"))
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(r) if r.status().as_u16() == 202 => {
                        let v: Value = r.json().await.expect("json");
                        let id = v["id"].as_str().expect("id").to_owned();
                        acknowledged.lock().expect("lock").push((tenant, id));
                    }
                    Ok(r) => assert!(r.status().as_u16() < 500, "ingest {}", r.status()),
                    Err(_) => errors += 1,
                }
            }
            errors
        })
    });
    let clients: Vec<_> = clients.collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let killed = servers.remove(2);
    drop(killed); // SIGKILL (Child::kill), then reaped
    let mut connection_errors = 0;
    for c in clients {
        connection_errors += c.await.expect("client");
    }
    let survivors = &bases[..2];
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(acknowledged.len() > 100, "load ran: {}", acknowledged.len());
    // Only requests sent to the dead replica may fail, and none of them was acknowledged.
    assert!(
        connection_errors < acknowledged.len(),
        "{connection_errors} errors"
    );
    for base in survivors {
        for (_, id) in &acknowledged {
            let r = client
                .get(format!("{base}/v1/messages/{id}"))
                .send()
                .await
                .expect("get");
            assert_eq!(
                r.status().as_u16(),
                200,
                "acknowledged {id} not readable at {base}"
            );
        }
        let r = client
            .get(format!("{base}/v1/messages"))
            .query(&[("tenant_id", "erase-me")])
            .send()
            .await
            .expect("list");
        let page: Value = r.json().await.expect("json");
        assert_eq!(page["messages"], json!([]), "the erasure holds at {base}");
        let erased = erased_conversations.lock().expect("lock").clone();
        assert!(!erased.is_empty(), "conversations were erased under load");
        for (tenant, c) in erased {
            let r = client
                .get(format!("{base}/v1/messages"))
                .query(&[
                    ("tenant_id", tenant.as_str()),
                    ("conversation_id", &format!("gone-{c}")),
                ])
                .send()
                .await
                .expect("list");
            let page: Value = r.json().await.expect("json");
            assert_eq!(
                page["messages"],
                json!([]),
                "gone-{c} erased, seen at {base}"
            );
        }
    }
    let ids: HashSet<&str> = acknowledged.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), acknowledged.len(), "no id acknowledged twice");

    // The scheduler: once per 1 s interval across the survivors (the dead replica's lease
    // runs out and another takes over), not once per replica.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let runs = |bases: &[String]| {
        let (bases, client) = (bases.to_vec(), client.clone());
        async move {
            let mut total = 0.0;
            for b in &bases {
                total += metric(&client, b, "retention_scheduler_runs_total").await;
            }
            total
        }
    };
    let before = runs(survivors).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let rounds = runs(survivors).await - before;
    assert!(
        (4.0..=8.0).contains(&rounds),
        "{rounds} scheduled rounds in 6 s with a 1 s interval on 2 replicas"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_wide_rate_limit_holds_across_replicas() {
    let db = TestDatabase::create().await.expect("database");
    let servers = fleet(
        &db.url,
        &[
            ("MEMORY_GLOBAL_RATE_LIMIT", "30/second"),
            ("MEMORY_RATE_LIMIT_REPLICAS", "3"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    // Wait for every replica's budget to be full (the health checks are exempt anyway).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let window = Duration::from_secs(3);
    let started = Instant::now();
    let (mut ok, mut limited) = (0_u32, 0_u32);
    for n in 0usize.. {
        if started.elapsed() >= window {
            break;
        }
        let base = &servers[n % 3].base;
        let r = client
            .get(format!("{base}/v1/messages"))
            .query(&[("tenant_id", "sprayed")])
            .send()
            .await
            .expect("request");
        match r.status().as_u16() {
            200 => ok += 1,
            429 => limited += 1,
            other => panic!("unexpected {other}"),
        }
    }
    // The fleet's burst (30) plus 30 per second over the window.
    let expected = 30.0 + 30.0 * window.as_secs_f64();
    let got = f64::from(ok);
    assert!(limited > 0, "the sprayer was limited");
    assert!(
        (got - expected).abs() <= 0.2 * expected,
        "{ok} accepted in {window:?}, expected {expected} ± 20% (429s: {limited})"
    );
}
