"""Stand-alone reference of the recommended ranking (independent of lib.rank), for porting.

run by scripts/recall-levers/run.sh (final.py)
Prints R@5 / MRR / per category for the baseline and the recommended variants.
"""
import re
import numpy as np
import lib   # only for the cached data, query_period and the metrics helpers

C = lib.C


def idf(n, df):
    return np.log(1.0 + (n - df + 0.5) / (df + 0.5))


def minmax(x):
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi - lo > 1e-12 else (x > 0).astype(float)


PREFIX = re.compile(r"^\s*([^:\n]{1,40}):")


def candidates(c, q):
    """BM25 (b = 0) of every turn, and the candidates: the 200 nearest by cosine U the best
    300 lexical matches. Returns (bm25, in-candidates mask, candidate positions in time order)."""
    n = len(c['ids'])
    T = q['tf']
    w = idf(n, q['df'])
    bm = (w[:, None] * T * 2.2 / (T + 1.2)).sum(0) if len(w) else np.zeros(n)
    inC = np.zeros(n, bool)
    inC[np.argsort(-q['cos'], kind='stable')[:200]] = True
    m = np.nonzero(bm > 0)[0]
    inC[m[np.argsort(-bm[m], kind='stable')[:300]]] = True
    return bm, inC, np.nonzero(inC)[0]


def rank(c, q, nw=0.2, sess_a=0.0, sess_gap=3600.0, date_b=0.0, date_after=7, spk_b=0.0):
    n = len(c['ids'])
    cos = q['cos']
    bm, inC, idx = candidates(c, q)
    f = np.zeros(n)
    f[idx] = 0.5 * minmax(bm[idx]) + 0.5 * minmax(cos[idx])
    # neighbours: candidates at most 2 places away on the time line
    g = f.copy()
    for d in (1, 2):
        g[d:] += nw * f[:-d]
        g[:-d] += nw * f[d:]
    g *= inC
    h = g.copy()
    # session prior: chains of candidates (time order) split where created_at gaps > sess_gap
    if sess_a:
        t = c['tsec'][idx]
        chain = np.r_[0, np.cumsum(np.diff(t) > sess_gap)]
        best = np.full(chain[-1] + 1, -np.inf)
        np.maximum.at(best, chain, f[idx])
        h[idx] += sess_a * best[chain]
    M = h.max()
    bonus = np.zeros(n)
    # date: the query names a day / month / year; turns written in it (or date_after days later)
    if date_b and q['period'] is not None:
        bonus += date_b * q['datematch'][date_after]
    # speaker: the turn starts with "Name:" and Name's first term is a query term
    if spk_b:
        qt = set(q['terms'])
        for k in idx:
            mm = PREFIX.match(c['contents'][k])
            if mm:
                nt = lib.terms(mm.group(1)) if hasattr(lib, 'terms') else None
                if nt and nt[0] in qt:
                    bonus[k] += spk_b
    h[idx] += M * bonus[idx]
    order = h / h.max()
    score = 0.6 * order + 0.3 * np.where(c['role'] == 1, 0.34, 0.30)
    keys = np.lexsort((-idx, -cos[idx], -score[idx]))
    return idx[keys][:10]


def evaluate(ranker=None, **kw):
    """Per-question R@5 and MRR@10 of `ranker` (this module's rank by default)."""
    ranker = ranker or rank
    r5, mrr = [], []
    for cid in lib.CONVS:
        c = C[cid]
        for q in c['queries']:
            top = ranker(c, q, **kw)
            ev = set(q['ev'])
            r5.append(len(ev & set(top[:5].tolist())) / len(ev))
            mrr.append(next((1.0 / (i + 1) for i, d in enumerate(top) if d in ev), 0.0))
    return np.array(r5), np.array(mrr)


def report(label, r5, mrr, b5):
    """One line: R@5, MRR, R@5 per category and the paired difference to `b5`."""
    d = r5 - b5
    print(f"{label}: R@5 {r5.mean():.4f} MRR {mrr.mean():.4f} cats "
          + ' / '.join(f"{r5[lib.CAT == k].mean():.3f}" for k in (1, 2, 3, 4))
          + f"  delta {d.mean():+.4f} (paired se {d.std() / np.sqrt(len(d)):.4f})", flush=True)


if __name__ == '__main__':
    from prep import terms
    lib.terms = terms
    b5, _ = evaluate()
    for label, kw in [('baseline', {}),
                      ('session 0.8 + nw 0.25', dict(nw=0.25, sess_a=0.8)),
                      ('session 0.8 + nw 0.25 + date 0.3', dict(nw=0.25, sess_a=0.8, date_b=0.3)),
                      ('THE DEFAULT: session 0.8 + nw 0.25 + date 0.3 + speaker 0.25', dict(nw=0.25, sess_a=0.8, date_b=0.3, spk_b=0.25)),
                      ('the same with session 0.6', dict(nw=0.25, sess_a=0.6, date_b=0.3, spk_b=0.25))]:
        report(label, *evaluate(**kw), b5)
