//! Black-box API tests, zero2prod style: every test starts the real application
//! (`memory_server::startup::Application`) on 127.0.0.1:0 with the real all-MiniLM-L6-v2
//! model and a real store, and talks to it over HTTP. Tests that depend on the store run
//! twice: on the embedded SQLite store (a fresh file) and on Postgres (a fresh database on
//! `MEMORY_TEST_DATABASE_URL`, which `./just test` starts; without it they fail loudly).

mod helpers;

mod auth;
mod client;
mod console;
mod erasure;
mod isolation;
mod lifecycle;
mod manage;
mod messages;
mod relevance;
mod retention;
mod search;
mod shard_ready;
mod standby;
