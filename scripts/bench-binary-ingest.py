#!/usr/bin/env python3
"""Batch import through the real `memory-server` binary, with its process's CPU and memory.

The in-process benchmarks (`just bench-batch`) run the server inside the benchmark's own
process; this one starts the binary users run, once per side and round, sides alternating,
and posts the dev split's messages (../shared/bench-data/locomo-dev/messages.jsonl, read in
place: the data is CC BY-NC) to `POST /v1/messages/batch`, 1,000 per request, one request at
a time (or, with `--clients N`, to `POST /v1/messages` from N clients), into a fresh tenant. Reported per side: messages per second (median of the rounds),
the server's CPU (% of one core), the Postgres processes' CPU (when the store is Postgres),
the server's peak RSS.

A side is a name and environment settings, e.g. the allocator comparison of
docs/benchmarks.md ("Allocator"): `glibc.malloc.perturb=0` is glibc's own default, and any
`glibc.malloc.` tunable makes the server leave malloc as glibc configures it.

    cargo build --release -p memory-server
    scripts/bench-binary-ingest.py --rounds 3 \\
        --side 'glibc-defaults:GLIBC_TUNABLES=glibc.malloc.perturb=0' --side tuned:
    scripts/bench-binary-ingest.py --store sqlite --side ...
    scripts/bench-binary-ingest.py --side before@/tmp/old/memory-server: --side after:
    scripts/bench-binary-ingest.py --clients 32 --side ...   # single messages, 32 clients
    # into a large tenant (its rows in the HNSW graph) against a fresh, small one:
    scripts/bench-binary-ingest.py --clients 8 --large-tenant big \\
        --side small: --side large:BENCH_TENANT=big

`BENCH_TENANT=NAME` in a side's settings is read here, not passed to the server: that side
ingests into NAME every round instead of a fresh tenant. `--large-tenant NAME` (Postgres)
first imports the messages three times into NAME (10,305 rows, above the store's
`exact_scan_threshold`), then lists it in `large_tenants` and moves its rows into the index,
as the store's promotion does, so every row a side then writes there is a graph insertion.

The clients are Python threads on the same machine: their CPU is taken from the server's, the
same for every side, so compare sides of one run, not these figures with the Rust clients of
`just bench-batch`. Not run in CI.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "bench-data" / "locomo-dev" / "messages.jsonl"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pids) -> float:
    """utime + stime of these processes, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def postgres_pids():
    out = subprocess.run(["pgrep", "-x", "postgres"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def peak_rss_mib(pid) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def post(url, body, timeout=600):
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def wait_ready(base, proc, secs=120):
    deadline = time.time() + secs
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(base + "/v1/admin/health", timeout=2).read()
            return
        except Exception:
            time.sleep(0.5)
    sys.exit("the server did not become ready")


def ingest_batches(base, tenant, messages):
    """POST /v1/messages/batch, 1,000 per request, one at a time; returns how many pending."""
    pending = 0
    for i in range(0, len(messages), 1000):
        items = []
        for m in messages[i : i + 1000]:
            b = {k: v for k, v in m.items() if k != "message_id"}
            b["tenant_id"] = tenant
            items.append(b)
        answer = post(base + "/v1/messages/batch", {"tenant_id": tenant, "messages": items})
        pending += sum(
            1 for item in answer["results"] if item.get("embedding_status") != "completed"
        )
    return pending


def ingest_singles(base, tenant, messages, clients):
    """POST /v1/messages from `clients` threads, each sending its next message when its last
    is answered; returns how many pending."""
    lock = threading.Lock()
    state = {"next": 0, "pending": 0}

    def client():
        while True:
            with lock:
                i = state["next"]
                state["next"] += 1
            if i >= len(messages):
                return
            b = {k: v for k, v in messages[i].items() if k != "message_id"}
            b["tenant_id"] = tenant
            if post(base + "/v1/messages", b).get("embedding_status") != "completed":
                with lock:
                    state["pending"] += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return state["pending"]


def start_server(binary, database_url, env):
    """The binary serving `database_url` on a free port: (process, base URL)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    full_env = dict(os.environ)
    full_env.pop("GLIBC_TUNABLES", None)
    full_env.update(
        MEMORY_DATABASE_URL=database_url,
        MEMORY_PORT=str(port),
        MEMORY_LOG_LEVEL="warn",
        MEMORY_AUTO_MIGRATE="true",
        MEMORY_GLOBAL_RATE_LIMIT="1000000/second",
        MEMORY_RETENTION_SCHEDULE_SECONDS="0",
    )
    full_env.update(env)
    proc = subprocess.Popen([binary, "serve"], env=full_env, stdout=subprocess.DEVNULL)
    return proc, base


def make_large(binary, database_url, tenant, messages):
    """Imports `messages` three times into `tenant`, then lists it as large and indexes its
    rows (what the store's promotion does in the background)."""
    proc, base = start_server(binary, database_url, {})
    try:
        wait_ready(base, proc)
        for _ in range(3):
            ingest_batches(base, tenant, messages)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    statements = [
        f"INSERT INTO large_tenants (tenant_id) VALUES ('{tenant}') ON CONFLICT DO NOTHING",
        f"UPDATE messages SET in_hnsw = true WHERE tenant_id = '{tenant}' AND NOT in_hnsw",
        "VACUUM ANALYZE messages",
    ]
    command = ["psql", "-q", database_url]
    for sql in statements:
        command += ["-c", sql]
    subprocess.run(command, check=True)


def run_side(binary, database_url, env, messages, tag, clients):
    env = dict(env)
    fixed = env.pop("BENCH_TENANT", None)
    proc, base = start_server(binary, database_url, env)
    try:
        wait_ready(base, proc)
        tenant = fixed or f"bench-{tag}-{time.time_ns()}"
        is_pg = database_url.startswith("postgres")
        # Per process: the server's pool opens most of its backends during the run, so
        # processes that appear meanwhile count from zero.
        pg0 = {p: cpu_seconds([p]) for p in postgres_pids()} if is_pg else {}
        server0, t0 = cpu_seconds([proc.pid]), time.time()
        if clients:
            pending = ingest_singles(base, tenant, messages, clients)
        else:
            pending = ingest_batches(base, tenant, messages)
        wall = time.time() - t0
        return {
            "per_s": len(messages) / wall,
            "server_cpu_pct": 100 * (cpu_seconds([proc.pid]) - server0) / wall,
            "postgres_cpu_pct": 100
            * sum(cpu_seconds([p]) - pg0.get(p, 0.0) for p in (postgres_pids() if is_pg else []))
            / wall,
            "peak_rss_mib": peak_rss_mib(proc.pid),
            "pending": pending,
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=str(REPO / "target" / "release" / "memory-server"))
    ap.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--clients",
        type=int,
        default=0,
        help="single-message ingest from this many clients instead of batches",
    )
    ap.add_argument(
        "--side",
        action="append",
        required=True,
        help="NAME[@BINARY]:VAR=VALUE,VAR=VALUE (that side's binary, default --binary, and "
        "environment, may be empty)",
    )
    ap.add_argument(
        "--large-tenant",
        help="Postgres: first make this tenant large (see the module's doc)",
    )
    args = ap.parse_args()
    sides = []
    for spec in args.side:
        head, _, settings = spec.partition(":")
        name, _, binary = head.partition("@")
        env = dict(kv.split("=", 1) for kv in settings.split(",") if kv)
        sides.append((name, binary or args.binary, env))
    messages = [json.loads(line) for line in DATA.open() if line.strip()]
    scratch = tempfile.mkdtemp(prefix="bench-binary-ingest-")
    if args.store == "postgres":
        url = subprocess.run(
            [str(REPO / "scripts" / "pg.sh"), "url"], capture_output=True, text=True, check=True
        ).stdout.strip()
    if args.large_tenant:
        if args.store != "postgres":
            sys.exit("--large-tenant is for Postgres")
        make_large(args.binary, url, args.large_tenant, messages)
    results = {name: [] for name, _, _ in sides}
    for r in range(args.rounds):
        for name, binary, env in sides:
            db = url if args.store == "postgres" else f"sqlite://{scratch}/{name}-{r}.db"
            res = run_side(binary, db, env, messages, name, args.clients)
            results[name].append(res)
            print(
                f"round {r} {name}: {res['per_s']:.0f} msg/s, server CPU "
                f"{res['server_cpu_pct']:.0f}%, postgres CPU {res['postgres_cpu_pct']:.0f}%, "
                f"peak RSS {res['peak_rss_mib']:.0f} MiB, {res['pending']} pending",
                flush=True,
            )
    print("\n| side | msg/s (median) | per round | server CPU | postgres CPU | peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for name, _, _ in sides:
        rs = results[name]
        med = statistics.median(x["per_s"] for x in rs)
        rounds = ", ".join(f"{x['per_s']:.0f}" for x in rs)
        cpu = statistics.median(x["server_cpu_pct"] for x in rs)
        pg = statistics.median(x["postgres_cpu_pct"] for x in rs)
        rss = max(x["peak_rss_mib"] for x in rs)
        print(f"| {name} | {med:.0f} | {rounds} | {cpu:.0f}% | {pg:.0f}% | {rss:.0f} |")


if __name__ == "__main__":
    main()
