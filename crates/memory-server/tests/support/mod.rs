//! Shared by the tests (and benches) that run the real `memory-server` binary as a process.

#![allow(dead_code)] // Each test binary uses its own part.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `memory-server` process, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Starts the binary on `port` with the database `db` and test defaults (loopback, no API
/// keys, no rate limit to speak of, no retention schedule, warnings only), then `env`
/// (which may override any of them), and waits up to 60 s for its health check.
pub async fn start(db: &str, port: u16, env: &[(&str, &str)]) -> Server {
    match try_start(db, port, env).await {
        Ok(server) => server,
        Err(e) => panic!("{e}"),
    }
}

/// `n` distinct ports nobody listens on right now (held together while they are chosen, so
/// no two are the same).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<std::net::TcpListener> = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("a free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("bound").port())
        .collect()
}

/// [`start`] on `port`, or on another free port when the binary exits before it is healthy:
/// a free port can be taken by another test's process between [`free_ports`] and the bind.
pub async fn start_anywhere(db: &str, port: u16, env: &[(&str, &str)]) -> Server {
    let mut last = String::new();
    let mut port = port;
    for _ in 0..5 {
        match try_start(db, port, env).await {
            Ok(server) => return server,
            Err(e) => last = e,
        }
        port = free_port();
    }
    panic!("no port worked: {last}");
}

/// [`start`], or why the binary exited before its health check passed (e.g. its port was
/// taken), checked before and after each health check, so that a server that has already
/// exited is not taken for whichever process answers on its port.
pub async fn try_start(db: &str, port: u16, env: &[(&str, &str)]) -> Result<Server, String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_memory-server"));
    cmd.env("MEMORY_DATABASE_URL", db)
        .env("MEMORY_PORT", port.to_string())
        .env("MEMORY_HOST", "127.0.0.1")
        .env("MEMORY_GLOBAL_RATE_LIMIT", "100000/second")
        .env("MEMORY_RETENTION_SCHEDULE_SECONDS", "0")
        .env("MEMORY_LOG_LEVEL", "warn")
        .env("MEMORY_API_KEYS", "")
        .stdout(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("start memory-server");
    let mut server = Server {
        child,
        port,
        base: format!("http://127.0.0.1:{port}"),
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!(
                "memory-server on port {port} exited with {status} before it was healthy"
            ));
        }
        if let Ok(r) = client
            .get(format!("{}/v1/admin/health", server.base))
            .send()
            .await
            && r.status().is_success()
        {
            // Answered by our process, not by one that took the port first: it is still up.
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "memory-server on port {port} exited with {status}; another process answers there"
                ));
            }
            return Ok(server);
        }
        assert!(
            Instant::now() < deadline,
            "the server did not come up within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls a tenant-wide search until it reports nothing pending (the catch-up worker has
/// embedded everything), failing after `within`.
pub async fn wait_until_embedded(
    client: &reqwest::Client,
    base: &str,
    tenant: &str,
    within: Duration,
) {
    let deadline = Instant::now() + within;
    loop {
        let r = client
            .get(format!("{base}/v1/memory/search"))
            .query(&[("tenant_id", tenant), ("query", "quick brown fox")])
            .send()
            .await
            .expect("request");
        assert_eq!(r.status().as_u16(), 200);
        let body: serde_json::Value = r.json().await.expect("json");
        if body["pending_embeddings"] == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "embeddings still pending after {within:?}: {}",
            body["pending_embeddings"]
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
