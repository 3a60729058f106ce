//! `memory-server export` and `import` with the real binary: a tenant's messages go from
//! SQLite to Postgres and back, and every export of the same data is the same file, with and
//! without embeddings. Re-running an import stores nothing twice.

use std::path::{Path, PathBuf};
use std::process::Command;

use memory_store_postgres::testkit::TestDatabase;
use serde_json::{Value, json};

mod support;

use support::{free_port, start_anywhere};

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary's `args` on database `db`; returns its stdout, failing on a non-zero exit.
fn cli(db: &str, args: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_memory-server"))
        .env("MEMORY_DATABASE_URL", db)
        .env("MEMORY_AUTO_MIGRATE", "true")
        .env("MEMORY_LOG_LEVEL", "warn")
        .args(args)
        .output()
        .expect("run memory-server");
    assert!(
        out.status.success(),
        "memory-server {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        args[0] != "import" || stderr.contains("imported"),
        "progress on stderr: {stderr}"
    );
    out.stdout
}

fn export(db: &str, dir: &Path, name: &str, embeddings: bool) -> (PathBuf, Vec<u8>) {
    let mut args = vec!["export", "--tenant", "acme"];
    if embeddings {
        args.push("--embeddings");
    }
    let bytes = cli(db, &args);
    let path = dir.join(name);
    std::fs::write(&path, &bytes).expect("write export");
    (path, bytes)
}

fn import(db: &str, file: &Path) -> Value {
    let out = cli(db, &["import", file.to_str().expect("utf-8 path")]);
    serde_json::from_slice(&out).expect("import prints its counts as JSON")
}

/// Fills a fresh SQLite store through the API: a back-dated batch (some of it archived by
/// retention), an update with metadata, a pending-free state.
async fn seed(db: &str) {
    let server = start_anywhere(db, free_port(), &[]).await;
    let client = reqwest::Client::new();
    let messages: Vec<Value> = (0..40)
        .map(|i| json!({"conversation_id": format!("c{}", i % 4), "role": if i % 2 == 0 { "user" } else { "assistant" },
            "content": format!("memory {i}: the café on Rua Augusta opens at {} o'clock", 7 + i % 5),
            "created_at": if i < 10 { "2023-01-01T10:00:00.123456Z".to_owned() } else { format!("2026-11-{:02}T08:00:00Z", 1 + i % 28) },
            "metadata": {"i": i, "tags": ["x", i % 3], "nested": {"deep": [1, {"k": "v"}]}}}))
        .collect();
    let r = client
        .post(format!("{}/v1/messages/batch", server.base))
        .json(&json!({"tenant_id": "acme", "messages": messages}))
        .send()
        .await
        .expect("batch");
    assert_eq!(r.status().as_u16(), 207);
    let out: Value = r.json().await.expect("json");
    assert_eq!(out["created"], 40);
    let id = out["results"][12]["id"].as_str().expect("id").to_owned();
    let r = client
        .patch(format!("{}/v1/messages/{id}", server.base))
        .json(&json!({"content": "memory 12, corrected", "metadata": {"edited": true}, "metadata_mode": "merge"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status().as_u16(), 200);
    let r = client
        .post(format!("{}/v1/admin/retention/run", server.base))
        .json(&json!({"tenant_id": "acme", "actions": ["archive"]}))
        .send()
        .await
        .expect("retention");
    assert_eq!(r.status().as_u16(), 200, "{:?}", r.text().await);
    // Another tenant is not exported.
    client
        .post(format!("{}/v1/messages", server.base))
        .json(&json!({"tenant_id": "globex", "conversation_id": "c", "role": "user", "content": "not mine"}))
        .send()
        .await
        .expect("post");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_import_round_trips_between_sqlite_and_postgres() {
    let dir = TempDir(
        std::env::temp_dir().join(format!("memory-transfer-{}", uuid::Uuid::new_v4().simple())),
    );
    std::fs::create_dir_all(&dir.0).expect("dir");
    let sqlite_a = format!("sqlite://{}/a.db", dir.0.display());
    seed(&sqlite_a).await;
    let (file_a, bytes_a) = export(&sqlite_a, &dir.0, "a.jsonl", false);
    let lines: Vec<Value> = bytes_a
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).expect("a JSON line"))
        .collect();
    assert_eq!(
        lines.len(),
        40,
        "every message of the tenant, archived ones included"
    );
    assert!(
        lines.iter().any(|l| l["archived"] == true),
        "retention archived the old ones"
    );
    assert!(
        lines
            .iter()
            .all(|l| l["tenant_id"] == "acme" && l.get("embedding").is_none())
    );

    // SQLite -> Postgres -> export: the same file. A second import stores nothing.
    let pg = TestDatabase::create().await.expect("database");
    assert_eq!(
        import(&pg.url, &file_a),
        json!({"stored": 40, "skipped": 0})
    );
    let (file_pg, bytes_pg) = export(&pg.url, &dir.0, "pg.jsonl", false);
    assert_eq!(
        String::from_utf8_lossy(&bytes_pg),
        String::from_utf8_lossy(&bytes_a)
    );
    assert_eq!(
        import(&pg.url, &file_a),
        json!({"stored": 0, "skipped": 40}),
        "re-run"
    );
    assert_eq!(export(&pg.url, &dir.0, "pg2.jsonl", false).1, bytes_a);

    // Postgres -> a fresh SQLite -> export: the same file again.
    let sqlite_b = format!("sqlite://{}/b.db", dir.0.display());
    assert_eq!(
        import(&sqlite_b, &file_pg),
        json!({"stored": 40, "skipped": 0})
    );
    assert_eq!(export(&sqlite_b, &dir.0, "b.jsonl", false).1, bytes_a);

    // With embeddings, both ways.
    let (file_e, bytes_e) = export(&sqlite_a, &dir.0, "a-emb.jsonl", true);
    assert!(String::from_utf8_lossy(&bytes_e).contains("\"embedding\":["));
    let pg_e = TestDatabase::create().await.expect("database");
    assert_eq!(import(&pg_e.url, &file_e)["stored"], 40);
    let (file_pe, bytes_pe) = export(&pg_e.url, &dir.0, "pg-emb.jsonl", true);
    assert_eq!(
        bytes_pe, bytes_e,
        "embeddings survive SQLite -> Postgres exactly"
    );
    let sqlite_c = format!("sqlite://{}/c.db", dir.0.display());
    assert_eq!(import(&sqlite_c, &file_pe)["stored"], 40);
    assert_eq!(
        export(&sqlite_c, &dir.0, "c-emb.jsonl", true).1,
        bytes_e,
        "and back"
    );

    // An interrupted import (the file cut in the middle of a line) fails naming the line,
    // keeps what came before it, and a re-run of the whole file stores only the rest.
    let cut = bytes_a.len() / 2;
    let partial = dir.0.join("partial.jsonl");
    std::fs::write(&partial, &bytes_a[..cut]).expect("write");
    let sqlite_d = format!("sqlite://{}/d.db", dir.0.display());
    let out = Command::new(env!("CARGO_BIN_EXE_memory-server"))
        .env("MEMORY_DATABASE_URL", &sqlite_d)
        .env("MEMORY_LOG_LEVEL", "warn")
        .args(["import", partial.to_str().expect("path")])
        .output()
        .expect("run");
    assert!(!out.status.success(), "a truncated line is an error");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("line "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let complete_lines = bytes_a[..cut].iter().filter(|b| **b == b'\n').count() as u64;
    let again = import(&sqlite_d, &file_a);
    assert_eq!(
        again,
        json!({"stored": 40 - complete_lines, "skipped": complete_lines})
    );
    assert_eq!(
        export(&sqlite_d, &dir.0, "d.jsonl", false).1,
        bytes_a,
        "nothing twice, nothing lost"
    );
}
