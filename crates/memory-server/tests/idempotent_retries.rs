//! Idempotent retries across a crash: the real binary is killed with SIGKILL while 8 clients
//! write with an `Idempotency-Key` each, so some writes are committed but never answered.
//! After a restart every client retries every key it sent (answered or not) with the same
//! body: each key's message is stored exactly once, and an answered key gets its original id.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use support::{free_port, start};

/// What one client sent: key, body, and the id of the answer if one came.
type Sent = (String, Value, Option<String>);

async fn post(client: &reqwest::Client, base: &str, key: &str, body: &Value) -> Option<Value> {
    let r = client
        .post(format!("{base}/v1/messages"))
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .ok()?;
    if r.status().as_u16() != 202 {
        return None;
    }
    r.json().await.ok()
}

/// Every message of a tenant, through the listing.
async fn list_all(client: &reqwest::Client, base: &str, tenant: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q = vec![("tenant_id", tenant.to_owned()), ("limit", "1000".into())];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let page: Value = client
            .get(format!("{base}/v1/messages"))
            .query(&q)
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        out.extend(page["messages"].as_array().expect("messages").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retried_keys_are_stored_once_after_sigkill() {
    let dir = std::env::temp_dir().join(format!("memory-idem-{}", uuid::Uuid::new_v4().simple()));
    let db = format!("sqlite://{}/memory.db", dir.display());
    let port = free_port();
    let mut server = start(&db, port, &[]).await;
    let base = server.base.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(std::sync::Mutex::new(Vec::<Sent>::new()));
    let mut clients = Vec::new();
    for w in 0..8 {
        let (base, stop, sent) = (base.clone(), stop.clone(), sent.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("client-{w}-write-{i}");
                let body = json!({"tenant_id": "idem", "conversation_id": format!("c{w}"), "role": "user",
                    "content": format!("client {w} write {i}: remember the red umbrella")});
                let index = {
                    let mut s = sent.lock().expect("lock");
                    s.push((key.clone(), body.clone(), None));
                    s.len() - 1
                };
                match post(&client, &base, &key, &body).await {
                    Some(answer) => {
                        sent.lock().expect("lock")[index].2 =
                            Some(answer["id"].as_str().expect("id").to_owned());
                    }
                    None => break, // the server is gone; this write may or may not be committed
                }
                i += 1;
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while sent.lock().expect("lock").iter().filter(|s| s.2.is_some()).count() < 40 {
        assert!(Instant::now() < deadline, "too few acknowledgements");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let sent = sent.lock().expect("lock").clone();

    let server = start(&db, port, &[]).await;
    let client = reqwest::Client::new();
    let before = list_all(&client, &server.base, "idem").await.len();
    let acked = sent.iter().filter(|s| s.2.is_some()).count();
    assert!(before >= acked, "every acknowledged write survived ({before} < {acked})");
    eprintln!(
        "{} keys sent, {acked} answered, {before} committed before the retries ({} committed without an answer)",
        sent.len(),
        before - acked
    );
    let mut ids = HashMap::new();
    for (key, body, answered) in &sent {
        let answer = post(&client, &server.base, key, body)
            .await
            .unwrap_or_else(|| panic!("retry of {key} failed"));
        let id = answer["id"].as_str().expect("id").to_owned();
        if let Some(original) = answered {
            assert_eq!(&id, original, "{key}: the retry returns the original message");
        }
        assert_eq!(answer["content"], body["content"]);
        ids.insert(key.clone(), id);
    }
    let stored = list_all(&client, &server.base, "idem").await;
    let contents: HashSet<&str> = stored.iter().map(|m| m["content"].as_str().expect("content")).collect();
    assert_eq!(stored.len(), sent.len(), "each key stored exactly once, none twice, none lost");
    assert_eq!(contents.len(), sent.len(), "no content stored twice");
    let distinct: HashSet<&String> = ids.values().collect();
    assert_eq!(distinct.len(), sent.len());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
