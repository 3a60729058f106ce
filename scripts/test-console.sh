#!/usr/bin/env bash
# The console's browser tests (tests/browser): headless Chromium, driven over WebDriver by
# Selenium, against the real release binary with real data. Screenshots of each page go to
# target/console/.
#
#   scripts/test-console.sh                        # builds the release binary first
#   MEMORY_SERVER_BIN=/path/to/memory-server scripts/test-console.sh
#   scripts/test-console.sh -k bound               # extra arguments go to pytest
#
# Idempotent: installs Chromium and its driver when missing (scripts/browser.sh) and Selenium
# into the Python client's venv (.tools/python-client-venv, git-ignored).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${PY_CLIENT_VENV:-$ROOT/.tools/python-client-venv}"
PY="$VENV/bin/python"

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

"$ROOT/scripts/browser.sh"
if [[ ! -x "$PY" ]]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
fi
if ! "$PY" -c 'import selenium, httpx, pytest' 2>/dev/null; then
    log "installing selenium, httpx and pytest into $VENV"
    "$PY" -m pip install --quiet --disable-pip-version-check "selenium>=4.20,<5" "httpx>=0.25" "pytest>=7"
fi
"$ROOT/scripts/fetch-model.sh" >/dev/null
if [[ -z "${MEMORY_SERVER_BIN:-}" ]]; then
    log "building the release binary"
    cargo build --release -p memory-server
    export MEMORY_SERVER_BIN="$ROOT/target/release/memory-server"
fi
# Selenium must not try to download a driver: the Debian one is used.
export SE_OFFLINE=true
log "pytest tests/browser (server: $MEMORY_SERVER_BIN; screenshots: target/console/)"
set +e
"$PY" -m pytest tests/browser -q -p no:cacheprovider -p no:asyncio "$@"
STATUS=$?
set -e
if [[ "$STATUS" == 5 ]]; then
    log "FAILED: pytest collected no tests"
    exit 1
fi
exit "$STATUS"
