"""What `min_relevance` (0.3) costs the default ranking, and the date words' coverage.

run by scripts/recall-levers/run.sh (relevance_cut.py). Re-implements the relevance of
docs/scoring.md, "Relevance and `min_relevance`" (coverage, the chance level of a cosine,
the support of neighbours and sessions) over beyond.py's default ranking, and asks each
question of its own conversation (R@5 with and without the cut, and whether the top result
survives) and of the next one (whether the answer comes back empty), as the recall bench
does. Two ways to count the words that name a date ("on 1 February, 2023"):
  text:  only a turn's text matches them (none does: dates live in created_at);
  dated: a turn written in the named period (7 days of grace) counts as matching them.
"""
import numpy as np

import beyond
import lib
from final import idf
from prep import terms

C = lib.C
THRESHOLD = 0.3


def date_terms(q):
    m = lib._DATE_RE.search(q['text'])
    return set(terms(m.group(0))) if m else set()


def relevance(c, q, dated):
    n = len(c['ids'])
    T = q['tf']
    w = idf(n, q['df'])
    if not len(w):
        return np.zeros(n)
    bm = (w[:, None] * T * 2.2 / (T + 1.2)).sum(0)
    if dated and q['period'] is not None and q.get('datematch') is not None:
        named = np.array([t in date_terms(q) for t in q['terms']])
        bm = bm + q['datematch'][7] * w[named].sum()
    coverage = np.minimum(1, bm / w.sum())
    chance = 0.19 + 0.07 * np.sqrt(2 * np.log(n))
    semantic = 1 / (1 + np.exp(-(q['cos'] - chance) / 0.06))
    return 0.5 * coverage + 0.5 * semantic


def support(c, r):
    s = r.copy()
    for d in (1, 2):
        s[d:] = np.maximum(s[d:], r[:-d])
        s[:-d] = np.maximum(s[:-d], r[d:])
    t = c['tsec']
    chain = np.r_[0, np.cumsum(np.diff(t) > 3600)]
    best = np.zeros(chain[-1] + 1)
    np.maximum.at(best, chain, r)
    return np.maximum(s, best[chain])


def asked_of(c, q):
    """q's statistics against conversation c (for the unanswerable side)."""
    T = np.zeros((len(q['terms']), len(c['ids'])))
    for j, t in enumerate(q['terms']):
        for k, toks in enumerate(c['toks']):
            T[j, k] = toks.count(t)
    dm = lib._date_match(q['period'], c['created'], 7) if q['period'] else None
    return dict(q, tf=T, df=np.array([c['df'].get(t, 0) for t in q['terms']], float),
                cos=(c['E'] @ q['qemb']).astype(np.float64),
                datematch={7: dm} if dm is not None else None)


if __name__ == '__main__':
    lib.terms = terms
    for dated in (False, True):
        uncut, cut, kept, empty = [], [], [], []
        for i, cid in enumerate(lib.CONVS):
            c, other = C[cid], C[lib.CONVS[(i + 1) % len(lib.CONVS)]]
            for q in c['queries']:
                top = list(beyond.rank(c, q))
                s = support(c, relevance(c, q, dated))
                left = [d for d in top if s[d] >= THRESHOLD]
                ev = set(q['ev'])
                uncut.append(len(ev & set(top[:5])) / len(ev))
                cut.append(len(ev & set(left[:5])) / len(ev))
                kept.append(bool(left) and left[0] == top[0])
                qo = asked_of(other, q)
                empty.append(not (support(other, relevance(other, qo, dated)) >= THRESHOLD).any())
        print(f"{'dated' if dated else 'text'}: R@5 {np.mean(uncut):.4f} without the cut, "
              f"{np.mean(cut):.4f} with it; answerable questions keeping their top result "
              f"{np.mean(kept):.3f}; unanswerable ones empty {np.mean(empty):.3f}", flush=True)
