#!/usr/bin/env bash
# Bad input at scale: schemathesis, driven by the OpenAPI document the real server serves,
# against the real release binary (embedded SQLite store in a temporary directory, the real
# embedding model, API keys on). Checks every response for 5xx, for conformance to the
# documented schema, status codes, content types and headers, and that invalid input is
# rejected (negative_data_rejection). Exits non-zero on any failure; prints the totals.
#
#   scripts/schemathesis.sh                 # ~150 examples per operation and phase
#   ST_MAX_EXAMPLES=500 scripts/schemathesis.sh
#   ST_SEED=42 scripts/schemathesis.sh      # reproduce a run
#
# Idempotent: the venv (.tools/schemathesis-venv, git-ignored) is created and the pinned
# schemathesis installed on the first run only. Reports (JUnit, NDJSON) and the server log go
# to target/schemathesis/.
set -euo pipefail

ST_VERSION="4.32.5"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ST_VENV:-$ROOT/.tools/schemathesis-venv}"
OUT="$ROOT/target/schemathesis"
MAX_EXAMPLES="${ST_MAX_EXAMPLES:-150}"
# One worker: with two threads, hypothesis' source parsing trips a CPython 3.11 bug ("AST
# constructor recursion depth mismatch", ast is not thread-safe there) on random operations.
WORKERS="${ST_WORKERS:-1}"
API_KEY="schemathesis-admin-key"
BIN="$ROOT/target/release/memory-server"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# --- schemathesis, pinned, in a private venv -------------------------------------------
if ! "$VENV/bin/st" --version 2>/dev/null | grep -q "version $ST_VERSION\$"; then
    log "installing schemathesis $ST_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$ST_VERSION"
fi

# --- the real server ----------------------------------------------------------------------
if [[ "${ST_SKIP_BUILD:-0}" != 1 ]]; then
    log "building the release binary"
    (cd "$ROOT" && cargo build --release -p memory-server)
fi
"$ROOT/scripts/fetch-model.sh" >/dev/null

mkdir -p "$OUT"
TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"

log "starting memory-server on $BASE (store: $TMP/memory.db)"
# Run from the temporary directory so that no .env of the working tree is read.
(
    cd "$TMP"
    exec env MEMORY_HOST=127.0.0.1 \
        MEMORY_PORT="$PORT" \
        MEMORY_DATABASE_URL="sqlite://$TMP/memory.db" \
        MEMORY_API_KEYS="$API_KEY" \
        MEMORY_GLOBAL_RATE_LIMIT="1000000/second" \
        MEMORY_REQUEST_TIMEOUT_SECONDS=30 \
        MEMORY_EMBEDDING_ALLOW_DOWNLOAD=false \
        MEMORY_RETENTION_SCHEDULE_SECONDS=0 \
        MEMORY_ENVIRONMENT=schemathesis \
        MEMORY_LOG_LEVEL=warn \
        "$BIN" serve
) >"$OUT/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 120); do
    if curl -fsS "$BASE/v1/admin/health" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        log "the server exited; its log:"
        cat "$OUT/server.log" >&2
        exit 1
    fi
    sleep 0.5
done
curl -fsS "$BASE/v1/admin/health" >/dev/null || {
    log "the server did not become healthy"
    exit 1
}

# --- the run ------------------------------------------------------------------------------
# Every check but positive_data_acceptance, use_after_free, ensure_resource_availability and
# object_level_authorization. positive_data_acceptance expects every schema-valid request to
# succeed, but two rules cannot be written in JSON Schema (candidate_limit >= top_k, created_at
# not in the future): run it with ST_CHECKS=all to see exactly those. The other three need
# links between operations that the document does not declare, or several users.
DEFAULT_CHECKS="not_a_server_error,status_code_conformance,content_type_conformance"
DEFAULT_CHECKS+=",response_headers_conformance,response_schema_conformance,negative_data_rejection"
DEFAULT_CHECKS+=",missing_required_header,ignored_auth,unsupported_method"
CHECKS="${ST_CHECKS:-$DEFAULT_CHECKS}"
SEED_ARGS=()
if [[ -n "${ST_SEED:-}" ]]; then
    SEED_ARGS=(--seed "$ST_SEED")
fi

log "schemathesis $ST_VERSION: $BASE/openapi.json, checks $CHECKS, up to $MAX_EXAMPLES examples per operation"
set +e
(
    cd "$OUT"
    "$VENV/bin/st" --config-file "$ROOT/scripts/schemathesis.toml" run "$BASE/openapi.json" \
        --checks "$CHECKS" \
        --max-examples "$MAX_EXAMPLES" \
        --workers "$WORKERS" \
        --header "x-api-key: $API_KEY" \
        --request-timeout 60 \
        --generation-database none \
        --continue-on-failure \
        --no-color \
        --report junit,ndjson \
        --report-dir "$OUT" \
        "${SEED_ARGS[@]}"
) 2>&1 | tee "$OUT/run.log"
ST_STATUS=${PIPESTATUS[0]}
set -e

# Every 5xx the server answered, from its own log (it logs each at error level).
SERVER_ERRORS="$(grep -c 'request failed' "$OUT/server.log" || true)"
log "schemathesis exit status: $ST_STATUS; 5xx logged by the server: $SERVER_ERRORS"
grep -A1 -E '^(Test cases|Failures|Errors):' "$OUT/run.log" | grep -v -- '^--' >&2 || true
grep -E '^Seed:' "$OUT/run.log" >&2 || true
if [[ "$SERVER_ERRORS" != 0 ]]; then
    grep 'request failed' "$OUT/server.log" | head -20 >&2
fi
if [[ "$ST_STATUS" != 0 || "$SERVER_ERRORS" != 0 ]]; then
    log "FAILED (reports in $OUT)"
    exit 1
fi
log "PASSED (reports in $OUT)"
