#!/usr/bin/env bash
# The offline ranking experiments behind docs/scoring.md, "Sessions, dates and speakers":
# each lever alone and a joint grid on the LoCoMo dev split, every weight checked by
# leave-one-conversation-out, final.py, a stand-alone reference of the chosen formula, and
# beyond.py, the levers tried on top of it and not kept.
# Python + numpy, about 10 minutes on one core after the embeddings. Not run in CI.
#
#   cargo build --release -p memory-server
#   scripts/recall-levers/run.sh [DATA_DIR]      # default ../shared/bench-data/locomo-dev
#   scripts/recall-levers/run.sh --final-only    # only final.py (after one full run)
#
# Outputs in target/recall-levers/. The data is read in place (CC BY-NC: never copied here).
set -euo pipefail
cd "$(dirname "$0")/../.."
final_only=false
if [ "${1:-}" = "--final-only" ]; then final_only=true; shift; fi
export LEVERS_DATA="$(realpath "${1:-../shared/bench-data/locomo-dev}")"
export LEVERS_OUT="$PWD/target/recall-levers"
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
mkdir -p "$LEVERS_OUT"
venv="$LEVERS_OUT/venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import numpy, snowballstemmer" 2>/dev/null ||
    "$venv/bin/pip" install --quiet numpy snowballstemmer
PY="$venv/bin/python"
here=scripts/recall-levers
if [ ! -s "$LEVERS_OUT/embeddings.jsonl" ]; then
    # One text per line: the contents in file order, then the queries (newlines as spaces).
    # f32, the exact model: the levers were chosen on exact vectors.
    "$PY" -c '
import json, sys
d = sys.argv[1]
for f, k in (("messages.jsonl", "content"), ("queries.jsonl", "query")):
    for line in open(f"{d}/{f}"):
        if line.strip():
            print(" ".join(json.loads(line)[k].split()))
' "$LEVERS_DATA" | MEMORY_EMBEDDING_PRECISION=f32 target/release/memory-server embed \
        > "$LEVERS_OUT/embeddings.jsonl"
fi
[ -s "$LEVERS_OUT/cache.pkl" ] || "$PY" "$here/prep.py"
if [ ! -s "$LEVERS_OUT/context_embeddings.jsonl" ]; then
    # beyond.py's contextual lever: each turn with the turn before it in its session, in
    # prep.py's order (conversation, then created_at and id).
    "$PY" -c '
import json, sys
convs = {}
for line in open(sys.argv[1] + "/messages.jsonl"):
    if line.strip():
        m = json.loads(line)
        convs.setdefault(m["conversation_id"], []).append(m)
for cid in sorted(convs):
    ms = sorted(convs[cid], key=lambda m: (m["created_at"], m["message_id"]))
    for k, m in enumerate(ms):
        same = k > 0 and ms[k - 1]["metadata"]["session"] == m["metadata"]["session"]
        print(" ".join(((ms[k - 1]["content"] if same else "") + " " + m["content"]).split()))
' "$LEVERS_DATA" | MEMORY_EMBEDDING_PRECISION=f32 target/release/memory-server embed \
        > "$LEVERS_OUT/context_embeddings.jsonl"
fi
if ! $final_only; then
    "$PY" "$here/exp.py" > "$LEVERS_OUT/single.txt"   # each lever alone, leave-one-out
    "$PY" "$here/single_table.py"
    "$PY" "$here/combo2.py"                           # the joint grid (432 settings)
    "$PY" "$here/combo2_report.py"                    # combinations, leave-one-out
fi
"$PY" "$here/final.py"
$final_only || "$PY" "$here/beyond.py" | tee "$LEVERS_OUT/beyond.txt"   # levers tried on top, not kept
$final_only || "$PY" "$here/relevance_cut.py" | tee "$LEVERS_OUT/relevance_cut.txt"   # what min_relevance costs
