//! Durability: a 202 means the message is committed. The real binary is killed with
//! SIGKILL while 8 clients ingest; after a restart every acknowledged message is readable and
//! every embedding completes (the catch-up worker embeds what the crash left pending).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod support;

use support::{free_port, start};

async fn start_on(db: &str, port: u16) -> support::Server {
    start(db, port, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_messages_survive_sigkill_and_get_embedded() {
    let dir = std::env::temp_dir().join(format!(
        "memory-durability-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let db = format!("sqlite://{}/memory.db", dir.display());
    let port = free_port();
    let mut server = start_on(&db, port).await;
    let base = server.base.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(std::sync::Mutex::new(Vec::<(String, String)>::new()));
    let mut clients = Vec::new();
    for w in 0..8 {
        let (base, stop, acked) = (base.clone(), stop.clone(), acked.clone());
        clients.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let content = format!("client {w} message {i}: the quick brown fox");
                let r = client
                    .post(format!("{base}/v1/messages"))
                    .json(&json!({"tenant_id": "durable", "conversation_id": format!("c{w}"), "role": "user", "content": content}))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status().as_u16() == 202 => {
                        let body: Value = match r.json().await {
                            Ok(b) => b,
                            Err(_) => break, // killed mid-answer: not acknowledged
                        };
                        let id = body["id"].as_str().expect("id").to_owned();
                        acked.lock().expect("lock").push((id, content));
                    }
                    _ => break, // the server is gone
                }
                i += 1;
            }
        }));
    }
    // Let them ingest, then kill the server without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().expect("lock").len() < 40 {
        assert!(Instant::now() < deadline, "too few acknowledgements");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // std's Child::kill sends SIGKILL on Unix: no graceful shutdown.
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reaped");
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.await;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 40);

    let server = start_on(&db, port).await;
    let client = reqwest::Client::new();
    for (id, content) in &acked {
        let r = client
            .get(format!("{}/v1/messages/{id}", server.base))
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 200, "acknowledged message {id} lost");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["content"], content.as_str());
    }
    // Every embedding completes: nothing stays pending.
    support::wait_until_embedded(&client, &server.base, "durable", Duration::from_secs(60)).await;
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
