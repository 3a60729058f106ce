//! What the client sends on the wire when it retries, against a scripted fake server (a raw
//! TCP listener): the same `Idempotency-Key` on every attempt of a write, a fresh one per
//! call, and a delete whose first answer was lost counted as done.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use memory_client::types::RoleDto;
use memory_client::types::requests::CreateMessage;
use memory_client::{Error, MemoryClient, RetryPolicy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the fake server does with one request.
#[derive(Clone)]
enum Reply {
    /// Answer with this status, headers and body.
    Answer(u16, &'static str, String),
    /// Read the request, then close the connection without a word.
    Hang,
}

/// A server that answers the scripted replies in order and records each request's head.
async fn fake(script: Vec<Reply>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for reply in script {
            let (mut socket, _) = listener.accept().await.expect("accept");
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // The head, then as much body as Content-Length says.
            let head_end = loop {
                let n = socket.read(&mut chunk).await.expect("read");
                assert!(n > 0, "client closed early");
                buf.extend_from_slice(&chunk[..n]);
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    break i + 4;
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map(|v| v.trim().parse().expect("length"))
                .unwrap_or(0);
            while buf.len() < head_end + length {
                let n = socket.read(&mut chunk).await.expect("read body");
                buf.extend_from_slice(&chunk[..n]);
            }
            log.lock().expect("log").push(head);
            match reply {
                Reply::Hang => drop(socket),
                Reply::Answer(status, headers, body) => {
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n{headers}\r\n{body}",
                        body.len()
                    );
                    socket.write_all(answer.as_bytes()).await.expect("write");
                }
            }
        }
    });
    (address, seen)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::trim)
}

const MESSAGE: &str = r#"{"id":"0190c6a4-5c7e-7d3e-9a3b-6f1e2d4c5b6a","tenant_id":"acme",
    "conversation_id":"c","role":"user","content":"hi","metadata":{},"importance_score":0.5,
    "embedding_status":"completed","archived":false,"created_at":"2024-01-01T00:00:00Z",
    "updated_at":"2024-01-01T00:00:00Z"}"#;

fn quick() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(10),
        ..RetryPolicy::default()
    }
}

#[tokio::test]
async fn every_attempt_of_a_write_carries_the_same_idempotency_key() {
    let overloaded = r#"{"code":"overloaded","message":"busy","details":[]}"#.to_owned();
    let (address, seen) = fake(vec![
        Reply::Answer(503, "retry-after: 0\r\n", overloaded),
        Reply::Hang,
        Reply::Answer(202, "", MESSAGE.to_owned()),
        Reply::Answer(202, "", MESSAGE.to_owned()),
    ])
    .await;
    let c = MemoryClient::builder(&address)
        .retry(quick())
        .api_key("k1")
        .build()
        .expect("client");
    let msg = CreateMessage::new("acme", "c", RoleDto::User, "hi");
    let stored = c.add(&msg).await.expect("third attempt succeeds");
    assert_eq!(stored.content, "hi");
    assert_eq!(c.retries(), 2);
    c.add(&msg).await.expect("a second call");
    let heads = seen.lock().expect("log").clone();
    assert_eq!(heads.len(), 4);
    let keys: Vec<&str> = heads
        .iter()
        .map(|h| header(h, "idempotency-key").expect("every write has a key"))
        .collect();
    assert_eq!(keys[0], keys[1]);
    assert_eq!(keys[1], keys[2]);
    assert_ne!(keys[2], keys[3], "a new call, a new key");
    assert!(heads.iter().all(|h| header(h, "x-api-key") == Some("k1")));
}

#[tokio::test]
async fn a_delete_whose_answer_was_lost_is_done_when_the_retry_finds_nothing() {
    let not_found = r#"{"code":"not_found","message":"message not found","details":[]}"#;
    let (address, _) = fake(vec![
        Reply::Hang,
        Reply::Answer(404, "", not_found.to_owned()),
        Reply::Answer(404, "", not_found.to_owned()),
    ])
    .await;
    let c = MemoryClient::builder(&address)
        .retry(quick())
        .build()
        .expect("client");
    let id = uuid::Uuid::now_v7();
    c.delete(id).await.expect("the lost attempt deleted it");
    // Asked plainly, a missing message is a 404.
    let e = c.delete(id).await.expect_err("404");
    assert!(matches!(&e, Error::Api(a) if a.is_not_found()), "{e}");
}

#[tokio::test]
async fn no_answer_at_all_is_a_transport_error_after_the_retries() {
    let (address, seen) = fake(vec![Reply::Hang, Reply::Hang]).await;
    let c = MemoryClient::builder(&address)
        .retry(RetryPolicy {
            max_retries: 1,
            ..quick()
        })
        .build()
        .expect("client");
    let e = c.get(uuid::Uuid::now_v7()).await.expect_err("no answer");
    assert!(matches!(e, Error::Transport(_)), "{e}");
    assert_eq!(seen.lock().expect("log").len(), 2, "one retry");
}

#[test]
fn a_base_url_must_be_http() {
    for bad in ["ftp://example.com", "not a url", "mailto:a@b.c"] {
        let e = MemoryClient::new(bad).expect_err(bad);
        assert!(matches!(e, Error::Config(_)), "{bad}: {e}");
    }
    MemoryClient::new("http://127.0.0.1:8000/prefix/").expect("a prefix is fine");
}
