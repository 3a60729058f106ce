//! Database URLs: `sqlite://path`, `sqlite:path` or a plain path.

use std::path::PathBuf;

use crate::error::SqliteStoreError;

/// The file a database URL names.
///
/// - `sqlite://./data/memory.db`, `sqlite:./data/memory.db` and `./data/memory.db` all name
///   `./data/memory.db`; `sqlite:///var/lib/memory.db` names `/var/lib/memory.db`.
/// - In-memory databases (`:memory:`) and URI parameters (`?mode=...`) are refused: the store
///   keeps a pool of connections to one file, in WAL mode.
pub fn database_path(url: &str) -> Result<PathBuf, SqliteStoreError> {
    let invalid = |reason: &str| SqliteStoreError::InvalidUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = url.trim();
    let path = if let Some(rest) = trimmed.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = trimmed.strip_prefix("sqlite:") {
        rest
    } else if trimmed.contains("://") {
        return Err(invalid(
            "not a SQLite URL (expected sqlite://path, sqlite:path or a file path)",
        ));
    } else {
        trimmed
    };
    if path.is_empty() {
        return Err(invalid("no file path"));
    }
    if path == ":memory:" || path.starts_with("file:") || path.contains("mode=memory") {
        return Err(invalid(
            "in-memory and file: URI databases are not supported; use a file path",
        ));
    }
    if path.contains('?') {
        return Err(invalid("URL parameters are not supported"));
    }
    if path.contains('\0') {
        return Err(invalid("the path contains a NUL character"));
    }
    Ok(PathBuf::from(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        let p = |u: &str| database_path(u).expect(u);
        assert_eq!(
            p("sqlite://./data/memory.db"),
            PathBuf::from("./data/memory.db")
        );
        assert_eq!(
            p("sqlite:./data/memory.db"),
            PathBuf::from("./data/memory.db")
        );
        assert_eq!(p("./data/memory.db"), PathBuf::from("./data/memory.db"));
        assert_eq!(p("sqlite:///var/lib/m.db"), PathBuf::from("/var/lib/m.db"));
        assert_eq!(p("sqlite://memory.db"), PathBuf::from("memory.db"));
        assert_eq!(p("/tmp/x.db"), PathBuf::from("/tmp/x.db"));
    }

    #[test]
    fn refused_forms() {
        for u in [
            "",
            "sqlite://",
            "sqlite::memory:",
            ":memory:",
            "postgres://localhost/db",
            "sqlite://x.db?mode=ro",
            "file:x.db",
        ] {
            assert!(
                matches!(database_path(u), Err(SqliteStoreError::InvalidUrl { .. })),
                "{u:?} must be refused"
            );
        }
    }
}
