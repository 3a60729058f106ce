#!/usr/bin/env python3
"""Whole-server memory (RSS) on a big store, under the seed's load test plus searches
(issue 17, target 5; the figures are in docs/benchmarks.md, "Memory at scale").

Starts the server binary on an existing store, samples its resident memory (VmRSS, and the
kernel's peak VmHWM) every 50 ms, and runs, one phase after the other:

1. idle after start (the model loaded, nothing searched);
2. the seed's load test: 100 concurrent POSTs (all must be 202);
3. whole-tenant hybrid searches on the big tenant (the first one loads its vector and lexical
   indexes into memory), then conversation-scoped ones;
4. 8 concurrent search clients for --secs seconds.

    scripts/bench-memory.py --database-url sqlite:///tmp/store300k/memory.db --tenant bench
    MEMORY_SQLITE_VECTOR_CACHE_MB=0 scripts/bench-memory.py ...   # settings pass through

Prints one JSON object (and writes it to --out). Needs httpx (the Python client's venv has it:
.tools/python-client-venv/bin/python). Not run in CI: it needs a store of hundreds of
thousands of messages (see docs/benchmarks.md for how to make one).
"""
import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_mib(pid: int):
    """VmRSS, VmHWM, RssAnon (the process's own memory) and RssFile (pages of mapped files,
    such as the SQLite file under mmap: the kernel's page cache, reclaimable) in MiB."""
    try:
        fields = {}
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) / 1024
        return fields
    except OSError:
        return None


def rss_mib(pid: int):
    """(VmRSS, VmHWM) of `pid` in MiB, or None once it is gone."""
    fields = status_mib(pid)
    return (fields["VmRSS"], fields["VmHWM"]) if fields else None


class Sampler(threading.Thread):
    """The highest VmRSS seen since the last `take`."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, False

    def run(self) -> None:
        while not self.stop:
            now = rss_mib(self.pid)
            if now is None:
                return
            self.peak = max(self.peak, now[0])
            time.sleep(0.05)

    def take(self) -> dict:
        fields = status_mib(self.pid) or {}
        rss = fields.get("VmRSS", 0.0)
        peak, self.peak = max(self.peak, rss), rss
        return {"rss_mib": round(rss), "phase_peak_mib": round(peak),
                "hwm_mib": round(fields.get("VmHWM", 0.0)),
                "anon_mib": round(fields.get("RssAnon", 0.0)),
                "file_mib": round(fields.get("RssFile", 0.0))}


def percentile(times, p):
    times = sorted(times)
    return round(times[round((len(times) - 1) * p)] * 1000, 1) if times else None


async def seed_load(client: httpx.AsyncClient, base: str) -> list:
    posts = [
        client.post(
            f"{base}/v1/messages",
            json={"tenant_id": "test", "conversation_id": f"conv-{i}", "role": "user",
                  "content": f"Message {i}"},
        )
        for i in range(100)
    ]
    return sorted({r.status_code for r in await asyncio.gather(*posts)})


MODE = "hybrid"
# Answers other than 200 by status: 503/504 are load shedding (the store's connections all
# busy past their timeout), counted; anything else stops the run.
REFUSED = {}


async def search(client, base, tenant, query, conversation=None):
    params = {"tenant_id": tenant, "query": query, "top_k": "10", "mode": MODE}
    if conversation:
        params["conversation_id"] = conversation
    started = time.perf_counter()
    r = await client.get(f"{base}/v1/memory/search", params=params)
    elapsed = time.perf_counter() - started
    if r.status_code in (503, 504):
        REFUSED[r.status_code] = REFUSED.get(r.status_code, 0) + 1
    elif r.status_code != 200:
        raise SystemExit(f"search answered {r.status_code}: {r.text[:300]}")
    return elapsed


async def main(args) -> dict:
    port = free_port()
    env = dict(os.environ)
    env.update({
        "MEMORY_DATABASE_URL": args.database_url,
        "MEMORY_HOST": "127.0.0.1",
        "MEMORY_PORT": str(port),
        "MEMORY_GLOBAL_RATE_LIMIT": "100000/second",
        "MEMORY_RETENTION_SCHEDULE_SECONDS": "0",
        "MEMORY_LOG_LEVEL": "warn",
        "MEMORY_API_KEYS": "",
        "MEMORY_EMBEDDING_ALLOW_DOWNLOAD": "false",
        "MEMORY_AUTO_MIGRATE": "true",
    })
    # The server's logs go to stderr: stdout carries only the report.
    server = subprocess.Popen([args.server], env=env, stdout=sys.stderr)
    base = f"http://127.0.0.1:{port}"
    report = {"database": args.database_url.split("@")[-1], "tenant": args.tenant,
              "mode": MODE, "words": args.words or "the tenant's own",
              "settings": {k: v for k, v in os.environ.items() if k.startswith("MEMORY_")},
              "phases": {}}
    try:
        async with httpx.AsyncClient(timeout=120) as client:
            for _ in range(600):
                try:
                    if (await client.get(f"{base}/v1/admin/health")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None:
                    raise SystemExit(f"the server exited with {server.returncode}")
                await asyncio.sleep(0.2)
            sampler = Sampler(server.pid)
            sampler.start()
            await asyncio.sleep(1)
            report["phases"]["idle"] = sampler.take()

            codes = await seed_load(client, base)
            report["phases"]["seed_load_test"] = {"status_codes": codes, **sampler.take()}
            if codes != [202]:
                raise SystemExit(f"seed load test: status codes {codes}")

            # Words the big tenant uses, from its own messages, for queries of 3 words.
            page = (await client.get(f"{base}/v1/messages",
                                     params={"tenant_id": args.tenant, "limit": "200"})).json()
            items = page["messages"]
            if not items:
                raise SystemExit(f"tenant {args.tenant!r} holds no messages")
            words = (args.words.split(",") if args.words
                     else sorted({w for m in items for w in m["content"].split()}))
            conversations = sorted({m["conversation_id"] for m in items})
            rng = random.Random(7)

            def query():
                return " ".join(rng.choice(words) for _ in range(3))

            started = time.perf_counter()
            first = await search(client, base, args.tenant, query())
            whole = [await search(client, base, args.tenant, query()) for _ in range(args.searches)]
            report["phases"]["whole_tenant_searches"] = {
                "first_ms": round(first * 1000), "searches": len(whole),
                "p50_ms": percentile(whole, 0.5), "p99_ms": percentile(whole, 0.99),
                **sampler.take()}
            scoped = [await search(client, base, args.tenant, query(), rng.choice(conversations))
                      for _ in range(args.searches)]
            report["phases"]["conversation_searches"] = {
                "searches": len(scoped), "p50_ms": percentile(scoped, 0.5),
                "p99_ms": percentile(scoped, 0.99), **sampler.take()}

            deadline = time.perf_counter() + args.secs
            times = []

            async def client_loop():
                while time.perf_counter() < deadline:
                    times.append(await search(client, base, args.tenant, query()))

            await asyncio.gather(*(client_loop() for _ in range(8)))
            report["phases"]["concurrent_searches"] = {
                "clients": 8, "secs": args.secs, "searches": len(times),
                "p50_ms": percentile(times, 0.5), "p99_ms": percentile(times, 0.99),
                **sampler.take()}
            report["searches_refused"] = REFUSED
            report["elapsed_s"] = round(time.perf_counter() - started, 1)
            sampler.stop = True
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    return report


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--database-url", required=True)
    p.add_argument("--tenant", default="bench")
    p.add_argument("--server", default=os.environ.get(
        "MEMORY_SERVER_BIN", str(ROOT / "target/release/memory-server")))
    p.add_argument("--searches", type=int, default=50)
    p.add_argument("--secs", type=float, default=20)
    p.add_argument("--words", help="comma-separated query words (default: the tenant's own)")
    p.add_argument("--mode", default="hybrid", choices=["hybrid", "vector", "lexical"])
    p.add_argument("--out")
    a = p.parse_args()
    MODE = a.mode
    result = asyncio.run(main(a))
    text = json.dumps(result, indent=2)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")
    sys.exit(0)
