#!/usr/bin/env bash
# The Python client (clients/python, package memory-layer-client) and its tests against the
# real release binary: unit tests of the retry rules (no server), then every verb, API keys,
# rate limits and load shedding against servers the tests start themselves (fresh SQLite
# stores in temporary directories, the real embedding model); and the server's MCP endpoint
# driven by the official MCP Python SDK (tests/test_mcp.py).
#
#   scripts/test-python-client.sh                      # builds the release binary first
#   MEMORY_SERVER_BIN=/path/to/memory-server scripts/test-python-client.sh   # no build
#   scripts/test-python-client.sh -k idempotent        # extra arguments go to pytest
#
# Idempotent: the venv (.tools/python-client-venv, git-ignored) is created on the first run
# and its test dependencies installed then; the client itself is reinstalled on every run so
# that changes to it are tested.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${PY_CLIENT_VENV:-$ROOT/.tools/python-client-venv}"
PY="$VENV/bin/python"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# --- the venv, the test dependencies and the client -------------------------------------------
if [[ ! -x "$PY" ]]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
fi
PIP=("$PY" -m pip install --quiet --disable-pip-version-check)
# The build backend lives in the venv (no isolated build environment to set up each run).
if ! "$PY" -c 'import hatchling' 2>/dev/null; then
    log "installing hatchling into $VENV"
    "${PIP[@]}" "hatchling>=1.18"
fi
# The client's dependency (httpx) and the test ones (pytest, pytest-asyncio, and the official
# MCP SDK for the server's /mcp endpoint): a no-op once they are there.
"${PIP[@]}" --no-build-isolation "./clients/python[test]"
# The client itself, afresh: the same version number would otherwise keep an old copy.
"${PIP[@]}" --no-build-isolation --force-reinstall --no-deps ./clients/python

# --- the model and the server binary ---------------------------------------------------------
"$ROOT/scripts/fetch-model.sh" >/dev/null
if [[ -z "${MEMORY_SERVER_BIN:-}" ]]; then
    log "building the release binary"
    cargo build --release -p memory-server
    export MEMORY_SERVER_BIN="$ROOT/target/release/memory-server"
fi

# --- the tests -------------------------------------------------------------------------------
log "pytest clients/python/tests (server: $MEMORY_SERVER_BIN)"
set +e
"$PY" -m pytest clients/python/tests -q "$@"
STATUS=$?
set -e
if [[ "$STATUS" == 5 ]]; then
    log "FAILED: pytest collected no tests"
    exit 1
fi
exit "$STATUS"
