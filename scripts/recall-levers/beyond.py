"""Levers tried on top of the default (final.py's formula), 2026-12-07: none kept.

run by scripts/recall-levers/run.sh (beyond.py). Each lever is one keyword of rank() below;
everything else is final.py's default (session 0.8, neighbours 0.25, date 0.3, speaker 0.25).
Prints R@5 / MRR / R@5 per category and the paired difference to the default with its
standard error. Needs $LEVERS_OUT/context_embeddings.jsonl (run.sh writes it: each turn
embedded with the turn before it in its session, one model call per turn).
"""
import json
import os
import re
from collections import Counter

import numpy as np
import lib
import final
from final import idf, minmax, PREFIX
from prep import terms

C = lib.C


def _question_share():
    """Per turn: the share of its sentences that are questions (the "[image: ...]" captions
    and the speaker prefix left out)."""
    for c in C.values():
        out = []
        for t in c['contents']:
            body = re.sub(r'\[image:[^\]]*\]', '', t.split(':', 1)[1] if ':' in t else t).strip()
            sents = [x for x in re.split(r'(?<=[.!?])\s+', body) if x.strip()]
            out.append(sum(x.strip().endswith('?') for x in sents) / len(sents) if sents else 0.0)
        c['qshare'] = np.array(out)


def _context_vectors():
    path = os.path.join(lib.OUT, 'context_embeddings.jsonl')
    vecs = [np.asarray(json.loads(line)['embedding']) for line in open(path)]
    at = 0
    for cid in lib.CONVS:
        n = len(C[cid]['ids'])
        C[cid]['Ectx_model'] = np.stack(vecs[at:at + n])
        at += n
    assert at == len(vecs)


_question_share()
_context_vectors()


def rank(c, q, norm='minmax', wl=0.5, ctx_w=0.0, prf_k=0, prf_b=0.0, prf_mode='vec',
         qpen=0.0, sess_best_b=0.0, sess_div=0.0, sess_a=0.8):
    n = len(c['ids'])
    cos = q['cos']
    bm, inC, idx = final.candidates(c, q)

    def nz(x):   # min-max (the default) or z-score over the candidates
        if norm == 'minmax':
            return minmax(x)
        sd = x.std()
        return (x - x.mean()) / sd if sd > 1e-12 else np.zeros_like(x)

    def fuse(lex, dense):
        f = np.zeros(n)
        f[idx] = wl * nz(lex[idx]) + (1 - wl) * dense
        if norm != 'minmax':
            f[idx] = minmax(f[idx])
        return f

    dense = nz(cos[idx])
    if ctx_w:   # contextual embedding (the turn with the one before it) as a second dense view
        dense = (1 - ctx_w) * dense + ctx_w * nz((c['Ectx_model'] @ q['qemb'].astype(np.float64))[idx])
    f = fuse(bm, dense)
    if prf_k:   # pseudo-relevance feedback from the first pass's top prf_k
        top = idx[np.argsort(-f[idx], kind='stable')[:prf_k]]
        if prf_mode == 'vec':   # Rocchio on the stored vectors
            qv = q['qemb'].astype(np.float64) + prf_b * c['E'][top].astype(np.float64).mean(0)
            f = fuse(bm, nz((c['E'] @ (qv / np.linalg.norm(qv)))[idx]))
        else:                   # RM3-like: the top docs' 10 best non-query terms, BM25-scored
            cnt = Counter(t for d in top for t in set(c['toks'][d]) if t not in q['terms'])
            tidf = {t: idf(n, c['df'].get(t, 0)) for t in cnt}
            ex = np.zeros(n)
            for t in sorted(cnt, key=lambda t: -cnt[t] * tidf[t])[:10]:
                tf = np.array([tk.count(t) for tk in c['toks']], float)
                ex += tidf[t] * tf * 2.2 / (tf + 1.2) * cnt[t] / prf_k
            f = fuse(bm + prf_b * ex, nz(cos[idx]))
    if qpen:    # turns that are mostly questions ask, they rarely answer
        f = f * (1 - qpen * c['qshare'])
    g = f.copy()
    for d in (1, 2):
        g[d:] += 0.25 * f[:-d]
        g[:-d] += 0.25 * f[d:]
    g *= inC
    h = g.copy()
    t = c['tsec'][idx]
    chain = np.r_[0, np.cumsum(np.diff(t) > 3600.0)]
    best = np.full(chain[-1] + 1, -np.inf)
    np.maximum.at(best, chain, f[idx])
    h[idx] += sess_a * best[chain]
    M = h.max()
    bonus = np.zeros(n)
    if q['period'] is not None:
        bonus += 0.3 * q['datematch'][7]
    qt = set(q['terms'])
    for k in idx:
        mm = PREFIX.match(c['contents'][k])
        if mm:
            nt = terms(mm.group(1))
            if nt and nt[0] in qt:
                bonus[k] += 0.25
    if sess_best_b:   # each session's best turn gets a bonus (the top 5 spread over sessions)
        src = f[idx]
        first = np.zeros(len(idx), bool)
        for ch in np.unique(chain):
            at = np.nonzero(chain == ch)[0]
            first[at[np.argmax(src[at])]] = True
        bonus[idx] += sess_best_b * first
    h[idx] += M * bonus[idx]
    order = h / h.max()
    score = 0.6 * order + 0.3 * np.where(c['role'] == 1, 0.34, 0.30)
    ranked = idx[np.lexsort((-idx, -cos[idx], -score[idx]))]
    if sess_div:      # greedy: each further pick from an already-picked session pays sess_div
        ch_of = dict(zip(idx.tolist(), chain.tolist()))
        head, out, used = list(ranked[:30]), [], Counter()
        while head and len(out) < 10:
            pick = max(head, key=lambda d: score[d] - sess_div * used[ch_of[d]])
            out.append(pick)
            head.remove(pick)
            used[ch_of[pick]] += 1
        ranked = np.array(out + [d for d in ranked if d not in set(out)])
    return ranked[:10]


if __name__ == '__main__':
    lib.terms = terms
    b5, _ = final.evaluate(rank)
    for label, kw in [
            ('the default', {}),
            ('z-score fusion instead of min-max', dict(norm='z')),
            ('z-score fusion, lexical weight 0.4', dict(norm='z', wl=0.4)),
            ('dense pseudo-relevance feedback (Rocchio, top 5, 0.5)', dict(prf_k=5, prf_b=0.5)),
            ('lexical pseudo-relevance feedback (RM3-like, top 5, 0.3)', dict(prf_k=5, prf_b=0.3, prf_mode='lex')),
            ('question turns penalised (0.2 x question share)', dict(qpen=0.2)),
            ('each session\'s best turn +0.1', dict(sess_best_b=0.1)),
            ('session diversity in the top 10 (0.05 per repeat)', dict(sess_div=0.05)),
            ('contextual embedding, model call per turn (0.35)', dict(ctx_w=0.35)),
            ('contextual embedding (0.5)', dict(ctx_w=0.5)),
            ('contextual embedding (0.35), session 0.5', dict(ctx_w=0.35, sess_a=0.5))]:
        final.report(label, *final.evaluate(rank, **kw), b5)
