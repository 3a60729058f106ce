#!/usr/bin/env bash
# Headless Chromium and its WebDriver (Debian's chromium and chromium-driver) for the
# console's browser tests. Idempotent: does nothing when both are on PATH. Installing needs
# root (or passwordless sudo) and apt.
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
SUDO=()
if [[ "$(id -u)" != 0 ]]; then
    if sudo -n true 2>/dev/null; then
        SUDO=(sudo -n)
    else
        echo "scripts/browser.sh: chromium and chromium-driver are missing and installing them needs root: apt-get install chromium chromium-driver" >&2
        exit 1
    fi
fi
echo "==> installing chromium and chromium-driver (apt)" >&2
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium chromium-driver >/dev/null
command -v chromium >/dev/null && command -v chromedriver >/dev/null
