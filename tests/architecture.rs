//! The architecture invariants of docs/ARCHITECTURE.md, checked: the dependency graph
//! (`cargo metadata`) and the sources. A change that breaks one fails here, with the rule.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// The platform this runs on (`rustc -vV`'s host).
fn host() -> String {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

/// `cargo metadata` of the workspace: packages by name, and the resolved graph. Offline and
/// for this platform only: the build before the tests fetched exactly those packages.
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--offline",
            "--filter-platform",
        ])
        .arg(host())
        .current_dir(workspace())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("metadata is JSON")
}

/// For each package id: its name, and the ids of its normal (non-dev, non-build)
/// dependencies.
fn normal_graph(meta: &Value) -> (BTreeMap<String, String>, BTreeMap<String, Vec<String>>) {
    let names = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id").to_owned(),
                p["name"].as_str().expect("name").to_owned(),
            )
        })
        .collect();
    let edges = meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve")
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .expect("deps")
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .expect("kinds")
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| d["pkg"].as_str().expect("pkg").to_owned())
                .collect();
            (n["id"].as_str().expect("id").to_owned(), deps)
        })
        .collect();
    (names, edges)
}

/// Every package `name` depends on (normal dependencies, transitively).
fn closure(meta: &Value, name: &str) -> BTreeSet<String> {
    let (names, edges) = normal_graph(meta);
    let root = names
        .iter()
        .find(|(_, n)| n.as_str() == name)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("no package {name}"));
    let mut seen = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        for d in edges.get(&id).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen.into_iter().map(|id| names[&id].clone()).collect()
}

/// Our crates `name` depends on directly (normal dependencies).
fn our_direct_deps(meta: &Value, name: &str) -> BTreeSet<String> {
    let (names, edges) = normal_graph(meta);
    let id = names
        .iter()
        .find(|(_, n)| n.as_str() == name)
        .map(|(id, _)| id.clone())
        .unwrap_or_else(|| panic!("no package {name}"));
    edges[&id]
        .iter()
        .map(|d| names[d].clone())
        .filter(|n| n.starts_with("memory-"))
        .collect()
}

const IO_CRATES: &[&str] = &[
    "tokio",
    "diesel",
    "diesel-async",
    "actix-web",
    "actix-rt",
    "candle-core",
    "tokenizers",
    "reqwest",
    "hyper",
    "libsqlite3-sys",
    "tokio-postgres",
    "mio",
];

#[test]
fn memory_core_depends_on_no_io_crate() {
    let deps = closure(&metadata(), "memory-core");
    let bad: Vec<&str> = IO_CRATES
        .iter()
        .copied()
        .filter(|c| deps.contains(*c))
        .collect();
    assert!(bad.is_empty(), "memory-core must stay free of I/O: {bad:?}");
    assert!(
        !deps.iter().any(|d| d.starts_with("memory-")),
        "memory-core depends on no crate of ours"
    );
}

#[test]
fn every_arrow_points_at_the_core() {
    let meta = metadata();
    let core: BTreeSet<String> = ["memory-core".to_owned()].into();
    for adapter in [
        "memory-embed-candle",
        "memory-store-postgres",
        "memory-store-sqlite",
    ] {
        assert_eq!(
            our_direct_deps(&meta, adapter),
            core,
            "{adapter} may depend on memory-core only (adapters never know each other)"
        );
    }
    // The HTTP frontend also speaks the wire types it shares with the client.
    let wire: BTreeSet<String> = ["memory-api-types".to_owned()].into();
    assert_eq!(
        our_direct_deps(&meta, "memory-http"),
        core.union(&wire).cloned().collect(),
        "memory-http may depend on memory-core and memory-api-types only"
    );
}

/// The client is the API seen from outside: the wire types and an HTTP client, nothing of
/// the server (no core, no actix, no store, no model).
#[test]
fn the_client_knows_only_the_wire_types() {
    let meta = metadata();
    let wire: BTreeSet<String> = ["memory-api-types".to_owned()].into();
    assert_eq!(our_direct_deps(&meta, "memory-client"), wire);
    assert!(
        our_direct_deps(&meta, "memory-api-types").is_empty(),
        "memory-api-types depends on no crate of ours"
    );
    // `cargo metadata` resolves features for the whole workspace (memory-http turns on the
    // wire crate's `openapi` feature), so ask `cargo tree` about the client alone: what a
    // user who depends on it builds.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "memory-client",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--offline", "--target"])
        .arg(host())
        .current_dir(workspace())
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "cargo tree: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    let deps: BTreeSet<&str> = tree
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(deps.contains("reqwest"), "the tree was read: {deps:?}");
    for server_side in [
        "memory-core",
        "actix-web",
        "actix-http",
        "diesel",
        "candle-core",
        "tokenizers",
        "utoipa",
    ] {
        assert!(
            !deps.contains(server_side),
            "memory-client must not depend on {server_side}"
        );
    }
}

#[test]
fn each_outside_technology_lives_in_one_adapter() {
    let meta = metadata();
    let owner = |krate: &str, allowed: &[&str]| {
        for ours in [
            "memory-core",
            "memory-embed-candle",
            "memory-store-postgres",
            "memory-store-sqlite",
            "memory-http",
            "memory-api-types",
        ] {
            let uses = closure(&meta, ours).contains(krate);
            assert!(
                !uses || allowed.contains(&ours),
                "{ours} depends on {krate}: only {allowed:?} may"
            );
        }
    };
    owner("diesel", &["memory-store-postgres", "memory-store-sqlite"]);
    owner("candle-core", &["memory-embed-candle"]);
    owner("tokenizers", &["memory-embed-candle"]);
    owner("actix-web", &["memory-http"]);
    owner("utoipa", &["memory-http", "memory-api-types"]);
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).expect("read dir").flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn library_sources() -> Vec<(String, PathBuf)> {
    let crates = workspace().join("crates");
    let mut out = Vec::new();
    for e in std::fs::read_dir(&crates).expect("crates").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        for f in sources(&e.path().join("src")) {
            out.push((name.clone(), f));
        }
    }
    out
}

#[test]
fn only_memory_server_reads_the_environment() {
    let mut bad = Vec::new();
    for (krate, file) in library_sources() {
        // The Postgres testkit (a test-only feature) finds the test server this way.
        if krate == "memory-server" || file.ends_with("memory-store-postgres/src/testkit.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("env::var") || code.contains("dotenv") {
                bad.push(format!("{}:{}", file.display(), i + 1));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "environment read outside memory-server: {bad:?}"
    );
}

#[test]
fn only_the_edges_derive_wire_formats() {
    let mut bad = Vec::new();
    for (krate, file) in library_sources() {
        if !matches!(
            krate.as_str(),
            "memory-core" | "memory-store-postgres" | "memory-store-sqlite"
        ) {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        if text.contains("Serialize") || text.contains("Deserialize") {
            bad.push(file.display().to_string());
        }
    }
    assert!(
        bad.is_empty(),
        "serde derives belong to the wire (memory-api-types, memory-http, memory-client) and memory-server (CLI output): {bad:?}"
    );
}

#[test]
fn stores_never_analyse_text() {
    for (krate, file) in library_sources() {
        // The Postgres testkit's bulk loader (a test-only feature) writes rows as the service
        // would, analysed text included.
        if !krate.starts_with("memory-store-") || file.ends_with("testkit.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).expect("read");
        assert!(
            !text.contains("Analyzer"),
            "{}: the core analyses text; stores receive the terms",
            file.display()
        );
    }
}

/// Files that are one idea and may be long, with why.
const LONG_FILES: &[(&str, &str)] = &[];

#[test]
fn no_source_file_grows_past_600_lines() {
    let mut bad = Vec::new();
    for (_, file) in library_sources() {
        let lines = std::fs::read_to_string(&file)
            .expect("read")
            .lines()
            .count();
        let name = file.display().to_string();
        if lines > 600 && !LONG_FILES.iter().any(|(f, _)| name.ends_with(f)) {
            bad.push(format!("{name}: {lines} lines"));
        }
    }
    assert!(bad.is_empty(), "split these by feature: {bad:?}");
}
