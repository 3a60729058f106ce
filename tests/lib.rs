//! Black-box API tests live in `api/`; see `api/main.rs`.
