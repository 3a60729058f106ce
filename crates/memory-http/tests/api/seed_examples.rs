//! The seed guide's curl examples, run as written with curl (only the port differs).

use std::process::Command;

use serde_json::Value;

use crate::helpers::{Options, TestApp, spawn_app, spawn_with};

/// Runs a shell command written for localhost:8000 against the test server; returns the
/// HTTP status and the body. On a blocking thread: the server's own task must keep running.
async fn curl(app: &TestApp, script: &str) -> (u16, Value) {
    let script = script.replace("localhost:8000", &format!("127.0.0.1:{}", app.port));
    tokio::task::spawn_blocking(move || run_curl(&script))
        .await
        .expect("curl thread")
}

fn run_curl(script: &str) -> (u16, Value) {
    // -s: quiet; -w: append the status on its own line.
    let script = script.replacen("curl ", "curl -s --max-time 20 -w '\\n%{http_code}' ", 1);
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("run curl");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let (body, status) = text.rsplit_once('\n').expect("status line");
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).expect(body)
    };
    (status.trim().parse().expect("status"), body)
}

fn has_curl() -> bool {
    Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test]
async fn the_usage_examples_work_as_written() {
    assert!(has_curl(), "these tests need curl");
    let app = spawn_with(Options {
        api_keys: "your-key",
        ..Options::default()
    })
    .await;
    let script = r#"curl -X POST http://localhost:8000/v1/messages \
  -H "Content-Type: application/json" \
  -H "x-api-key: your-key" \
  -d '{
    "tenant_id": "acme",
    "conversation_id": "conv-123",
    "role": "user",
    "content": "I love Python programming and machine learning",
    "metadata": {
      "source": "web",
      "user_id": "user-456"
    }
  }'"#;
    let (status, stored) = curl(&app, script).await;
    assert_eq!(status, 202, "{stored}");
    assert_eq!(stored["metadata"]["user_id"], "user-456");

    let (status, found) = curl(
        &app,
        r#"curl "http://localhost:8000/v1/memory/search?tenant_id=acme&query=Python&top_k=5" \
  -H "x-api-key: your-key""#,
    )
    .await;
    assert_eq!(status, 200, "{found}");
    assert_eq!(found["items"][0]["message_id"], stored["id"]);

    let (status, body) = curl(
        &app,
        r#"curl "http://localhost:8000/v1/messages/550e8400-e29b-41d4-a716-446655440000" \
  -H "x-api-key: your-key""#,
    )
    .await;
    assert_eq!((status, &body["code"]), (404, &Value::from("not_found")));
    let id = stored["id"].as_str().expect("id");
    let (status, body) = curl(
        &app,
        &format!(
            r#"curl "http://localhost:8000/v1/messages/{id}" \
  -H "x-api-key: your-key""#
        ),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["id"], stored["id"]);

    let (status, health) = curl(&app, "curl http://localhost:8000/v1/admin/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");

    let (status, report) = curl(
        &app,
        r#"curl -X POST http://localhost:8000/v1/admin/retention/run \
  -H "Content-Type: application/json" \
  -H "x-api-key: your-key" \
  -d '{
    "tenant_id": "acme",
    "dry_run": false,
    "actions": ["archive", "delete"]
  }'"#,
    )
    .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["dry_run"], false);
    assert!(report["archived"].is_u64() && report["deleted"].is_u64());

    let out = Command::new("curl")
        .arg("-s")
        .arg(format!("http://127.0.0.1:{}/metrics", app.port))
        .output()
        .expect("curl");
    let metrics = String::from_utf8(out.stdout).expect("utf-8");
    assert!(metrics.contains("http_requests_total"));
}

#[tokio::test]
async fn the_manual_testing_examples_work_without_keys() {
    assert!(has_curl(), "these tests need curl");
    let app = spawn_app().await;
    let (status, _) = curl(
        &app,
        r#"curl -X POST http://localhost:8000/v1/messages \
  -H "Content-Type: application/json" \
  -d '{
    "tenant_id": "test",
    "conversation_id": "conv-1",
    "role": "user",
    "content": "I love Python"
  }'"#,
    )
    .await;
    assert_eq!(status, 202);
    let (status, found) = curl(
        &app,
        r#"curl "http://localhost:8000/v1/memory/search?tenant_id=test&query=Python""#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(found["total"], 1);
    assert_eq!(found["items"][0]["content"], "I love Python");
}
