#!/usr/bin/env python3
"""Side-by-side throughput: sentence-transformers on PyTorch vs memory-embed-candle.

Not run in CI. Needs a venv with torch and sentence-transformers, e.g.

    python3 -m venv /tmp/st-venv
    /tmp/st-venv/bin/pip install torch sentence-transformers
    scripts/fetch-model.sh
    /tmp/st-venv/bin/python scripts/bench-pytorch.py            # PyTorch fp32 vs ours f32
    /tmp/st-venv/bin/python scripts/bench-pytorch.py --torch fp32,bf16 --candle f32,bf16
    /tmp/st-venv/bin/python scripts/bench-pytorch.py --no-rust  # PyTorch only

Both sides embed the same texts (the `content` field of
../shared/bench-data/locomo-dev/messages.jsonl, read in place: the data is CC BY-NC) in the
same chunks: one `encode` call per chunk of `batch` texts, which sentence-transformers sorts
by length just as the Rust side does. Rounds alternate PyTorch and Rust so both see the
same machine state; the table reports each side's best round and the ratio.
"""

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MESSAGES = REPO.parent / "shared" / "bench-data" / "locomo-dev" / "messages.jsonl"
MODEL_REPO_DIR = "models--sentence-transformers--all-MiniLM-L6-v2"


def model_dir() -> Path:
    explicit = os.environ.get("MEMORY_EMBEDDING_MODEL_PATH")
    if explicit:
        return Path(explicit)
    if os.environ.get("HF_HUB_CACHE"):
        cache = Path(os.environ["HF_HUB_CACHE"])
    elif os.environ.get("HF_HOME"):
        cache = Path(os.environ["HF_HOME"]) / "hub"
    else:
        cache = Path.home() / ".cache" / "huggingface" / "hub"
    repo = cache / MODEL_REPO_DIR
    ref = (repo / "refs" / "main").read_text().strip()
    return repo / "snapshots" / ref


def corpus(path: Path, limit: int) -> list[str]:
    texts = []
    with path.open() as f:
        for line in f:
            if len(texts) >= limit:
                break
            texts.append(json.loads(line)["content"])
    return texts


def bench_pytorch(texts: list[str], batches: list[int], threads: int, dtype: str = "fp32") -> dict[int, float]:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(str(model_dir()), device="cpu")
    if dtype == "bf16":
        model = model.to(torch.bfloat16)  # PyTorch's own bf16 path (oneDNN on AVX-512 BF16)
    model.encode(texts[:64], batch_size=32)  # warm-up
    results = {}
    for batch in batches:
        subset = texts[: (len(texts) + 3) // 4] if batch == 1 else texts
        start = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(subset), batch):
                model.encode(subset[i : i + batch], batch_size=batch)
        results[batch] = len(subset) / (time.perf_counter() - start)
    return results


def bench_rust(n_texts: int, batches: list[int], threads: int, precision: str) -> dict[int, float]:
    backend = {"f32": "packed", "bf16": "bf16"}[precision]
    env = dict(os.environ, BENCH_TEXTS=str(n_texts), BENCH_BATCHES=",".join(map(str, batches)),
               BENCH_LATENCY_SAMPLES="20", RAYON_NUM_THREADS=str(threads), BENCH_BACKEND=backend)
    out = subprocess.run(["cargo", "bench", "-q", "-p", "memory-embed-candle", "--bench", "embed"],
                         cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout
    results = {}
    for m in re.finditer(r"^\| Packed\(\w+\) \| (\d+) \| ([\d.]+) \|", out, re.M):
        results[int(m.group(1))] = float(m.group(2))
    if not results:
        sys.exit(f"no figures in the Rust bench's output:\n{out}")
    return results


def fmt(results: dict[int, float]) -> str:
    return ", ".join(f"batch {b}: {v:.1f}/s" for b, v in results.items())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--messages", type=Path, default=Path(os.environ.get("BENCH_MESSAGES", DEFAULT_MESSAGES)))
    p.add_argument("--texts", type=int, default=1000)
    p.add_argument("--batches", default="1,8,32,64")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--torch", default="fp32", help="PyTorch precisions to run: fp32, bf16 or fp32,bf16")
    p.add_argument("--candle", default="f32", help="our precisions to run: f32, bf16 or f32,bf16")
    p.add_argument("--no-rust", action="store_true", help="measure PyTorch only")
    args = p.parse_args()

    batches = [int(b) for b in args.batches.split(",")]
    texts = corpus(args.messages, args.texts)
    # Every side is one column; rounds alternate the sides so all see the same machine.
    sides = [("pytorch", d) for d in args.torch.split(",")]
    if not args.no_rust:
        sides += [("candle", d) for d in args.candle.split(",")]
    best: dict[tuple[str, str], dict[int, float]] = {side: {} for side in sides}
    for r in range(args.rounds):
        for side in sides:
            kind, dtype = side
            if kind == "pytorch":
                measured = bench_pytorch(texts, batches, args.threads, dtype)
            else:
                measured = bench_rust(len(texts), batches, args.threads, dtype)
            print(f"round {r + 1}: {kind} {dtype} {fmt(measured)}", file=sys.stderr, flush=True)
            for b, v in measured.items():
                best[side][b] = max(v, best[side].get(b, 0.0))

    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{len(texts)} texts, {args.threads} threads, best of {args.rounds} alternating rounds (sentences/s)")
    base = ("pytorch", "fp32")
    header = [f"{k} {d}" for k, d in sides]
    ratios = [s for s in sides if s != base and base in best]
    print("| batch | " + " | ".join(header) + "".join(f" | {k} {d} / PyTorch fp32" for k, d in ratios) + " |")
    print("|---:|" + "---:|" * (len(header) + len(ratios)))
    for b in batches:
        row = [f"{best[s].get(b, float('nan')):.1f}" for s in sides]
        row += [f"{best[s].get(b, float('nan')) / best[base].get(b, float('nan')):.2f}x" for s in ratios]
        print(f"| {b} | " + " | ".join(row) + " |")
    print(f"PyTorch process peak RSS: {rss_mib:.0f} MiB")


if __name__ == "__main__":
    main()
