//! Idempotent retries across a crash: 8 clients write with an `Idempotency-Key` each, then 5
//! more keyed writes are committed whose answers the client never reads (a timeout, a lost
//! connection: the case a retry is for), and the real binary is killed with SIGKILL.
//! After a restart every key sent (answered or not) is retried with the same body: each
//! key's message is stored exactly once, and an answered key gets its original id.

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
        out.extend(
            page["messages"]
                .as_array()
                .expect("messages")
                .iter()
                .cloned(),
        );
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
    while sent
        .lock()
        .expect("lock")
        .iter()
        .filter(|s| s.2.is_some())
        .count()
        < 40
    {
        assert!(Instant::now() < deadline, "too few acknowledgements");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    // Writes committed but never answered: the request goes out on a raw connection whose
    // answer is never read; once the listing shows the message, the server is killed.
    let mut unanswered = Vec::new();
    let mut sockets = Vec::new();
    for i in 0..5 {
        let key = format!("unanswered-{i}");
        let body = json!({"tenant_id": "idem", "conversation_id": "lost", "role": "user",
            "content": format!("unanswered write {i}: remember the red umbrella")});
        let text = body.to_string();
        let request = format!(
            "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
             Idempotency-Key: {key}\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        let mut socket = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
        std::io::Write::write_all(&mut socket, request.as_bytes()).expect("send");
        sockets.push(socket);
        unanswered.push((key, body, None));
    }
    let client = reqwest::Client::new();
    let acked_before = sent
        .lock()
        .expect("lock")
        .iter()
        .filter(|s| s.2.is_some())
        .count();
    let deadline = Instant::now() + Duration::from_secs(30);
    let sent_so_far = sent.lock().expect("lock").len();
    while list_all(&client, &base, "idem").await.len() < acked_before + 5 {
        assert!(
            Instant::now() < deadline,
            "the unanswered writes were not committed ({sent_so_far} sent)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    drop(sockets);
    let mut sent = sent.lock().expect("lock").clone();
    sent.extend(unanswered);

    let server = start(&db, port, &[]).await;
    let before = list_all(&client, &server.base, "idem").await.len();
    let acked = sent.iter().filter(|s| s.2.is_some()).count();
    assert!(
        before >= acked + 5,
        "every acknowledged write survived ({before} < {acked} + 5)"
    );
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
            assert_eq!(
                &id, original,
                "{key}: the retry returns the original message"
            );
        }
        assert_eq!(answer["content"], body["content"]);
        ids.insert(key.clone(), id);
    }
    let stored = list_all(&client, &server.base, "idem").await;
    let contents: HashSet<&str> = stored
        .iter()
        .map(|m| m["content"].as_str().expect("content"))
        .collect();
    assert_eq!(
        stored.len(),
        sent.len(),
        "each key stored exactly once, none twice, none lost"
    );
    assert_eq!(contents.len(), sent.len(), "no content stored twice");
    let distinct: HashSet<&String> = ids.values().collect();
    assert_eq!(distinct.len(), sent.len());
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
