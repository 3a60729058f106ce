#!/usr/bin/env python3
"""The service's index query on two HNSW indexes of one database, queries alternating.

docs/benchmarks.md, "Half precision and a denser graph". On a database the pg_search bench
kept (BENCH_KEEP=1) with its full-precision index, add the half-precision one beside it:

    CREATE INDEX messages_half ON messages USING hnsw ((embedding::halfvec(384))
        halfvec_cosine_ops) WITH (m = 24, ef_construction = 128) WHERE NOT archived AND in_hnsw;

then run (a venv with numpy and psycopg[binary]):

    python scripts/pg-ann-side-by-side.py DATABASE_URL [QUERIES=300] [EF=200] [LIMIT=200]

The planner picks the index by the ORDER BY expression: the column for the full-precision
index, its halfvec copy for the other, so each query runs on both, in alternating order.
Queries are stored rows of tenant "bench" plus gaussian noise (0.05 per component, then
normalised); the ground truth is exact, computed here over every row. Latency is the SQL
round trip from this client (a millisecond or so above the store's own).
"""
import os
import pickle
import sys
import time

import numpy as np
import psycopg

DB = sys.argv[1]
NQ = int(sys.argv[2]) if len(sys.argv) > 2 else 300
EF = sys.argv[3] if len(sys.argv) > 3 else '200'
LIMIT = int(sys.argv[4]) if len(sys.argv) > 4 else 200
CACHE = f"/tmp/pg-ann-side-by-side-{abs(hash(DB))}-{NQ}.pkl"
COLS = ("id, tenant_id, conversation_id, role, content, metadata, importance_score, "
        "importance_override, embedding_status, archived, created_at, updated_at")
SCOPE = "tenant_id = 'bench' AND NOT archived AND embedding_status = 'completed'"


def service_query(order):
    """crates/memory-store-postgres/src/vector.rs, fn ann, for tenant "bench"."""
    return (f"WITH nearest AS MATERIALIZED (SELECT {COLS}, embedding <=> %(q)s::vector AS distance "
            f"FROM messages WHERE {SCOPE} AND in_hnsw ORDER BY {order} LIMIT %(k)s), "
            f"rest AS MATERIALIZED (SELECT {COLS}, embedding <=> %(q)s::vector AS distance "
            f"FROM messages WHERE {SCOPE} AND NOT in_hnsw ORDER BY distance LIMIT %(k)s) "
            f"SELECT * FROM nearest UNION ALL SELECT * FROM rest ORDER BY distance, id LIMIT %(k)s")


SIDES = {
    'vector': service_query("embedding <=> %(q)s::vector"),
    'halfvec': service_query("embedding::halfvec(384) <=> %(q)s::vector::halfvec(384)"),
}


def queries(conn):
    if os.path.exists(CACHE):
        return pickle.load(open(CACHE, 'rb'))
    ids, vecs = [], []
    with conn.cursor() as cur:
        with cur.copy(f"COPY (SELECT id, embedding FROM messages WHERE {SCOPE}) TO STDOUT") as cp:
            for row in cp.rows():
                ids.append(str(row[0]))
                vecs.append(np.array(row[1][1:-1].split(','), dtype=np.float32))
    X = np.stack(vecs)
    rng = np.random.default_rng(7)
    Q = X[rng.choice(len(X), NQ, replace=False)]
    Q = Q + rng.normal(0, 0.05, Q.shape).astype(np.float32)
    Q /= np.linalg.norm(Q, axis=1, keepdims=True)
    truth = [set(ids[j] for j in np.argsort(-(X @ q))[:10]) for q in Q]
    warm = X[rng.choice(len(X), NQ, replace=False)]
    pickle.dump((Q, truth, warm), open(CACHE, 'wb'))
    return Q, truth, warm


def run(conn, cur, sql, q):
    lit = '[' + ','.join(f'{x:.7g}' for x in q) + ']'
    started = time.perf_counter()
    with conn.transaction():
        cur.execute("SELECT set_config('hnsw.ef_search', %s, true), "
                    "set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                    "set_config('hnsw.max_scan_tuples', '20000', true)", (EF,))
        cur.execute(sql, {'q': lit, 'k': LIMIT}, prepare=False)
        rows = cur.fetchall()
    return (time.perf_counter() - started) * 1000, [str(r[0]) for r in rows]


def main():
    conn = psycopg.connect(DB, autocommit=True)
    Q, truth, warm = queries(conn)
    lat = {k: [] for k in SIDES}
    rec = {k: [] for k in SIDES}
    with conn.cursor() as cur:
        for name, sql in SIDES.items():
            cur.execute("EXPLAIN " + sql, {'q': '[' + ','.join(['0.05'] * 384) + ']', 'k': LIMIT})
            index = [r[0].strip() for r in cur.fetchall() if 'Index Scan' in r[0]][:1]
            print(f"{name}: {index}")
        for q in warm:
            for sql in SIDES.values():
                run(conn, cur, sql, q)
        for i, q in enumerate(Q):
            order = list(SIDES.items())
            for name, sql in (order if i % 2 == 0 else order[::-1]):
                ms, got = run(conn, cur, sql, q)
                lat[name].append(ms)
                rec[name].append(len(truth[i] & set(got[:10])) / 10)
    for name in SIDES:
        a = np.array(lat[name])
        print(f"| {name} | {EF} | {LIMIT} | {np.percentile(a, 50):.2f} | {np.percentile(a, 90):.2f} "
              f"| {np.percentile(a, 99):.2f} | {np.mean(rec[name]):.3f} |")


if __name__ == '__main__':
    main()
