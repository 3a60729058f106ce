"""Run lever grids: in-sample best, leave-one-conversation-out pooled held-out R@5.

run by scripts/recall-levers/run.sh (exp.py [lever ...]     (default: all))
"""
import os
OUT = os.environ['LEVERS_OUT']
HERE = os.path.dirname(os.path.abspath(__file__))
import sys, json, itertools
import numpy as np
import lib

BASE = {}
base_r5, base_mrr = lib.evaluate(BASE)
B = lib.summary(base_r5, base_mrr)


def grid(**axes):
    keys = list(axes)
    return [dict(zip(keys, v)) for v in itertools.product(*axes.values())]


LEVERS = {
    # 1 session prior
    'sess_max_f': grid(sess_a=[0.05, 0.1, 0.2, 0.3, 0.5], sess_mode=['max'], sess_on=['f']),
    'sess_max_g': grid(sess_a=[0.05, 0.1, 0.2, 0.3], sess_mode=['max'], sess_on=['g']),
    'sess_top2': grid(sess_a=[0.05, 0.1, 0.2, 0.3, 0.5], sess_mode=['top2'], sess_on=['f']),
    'sess_sum': grid(sess_a=[0.02, 0.05, 0.1, 0.2], sess_mode=['sum'], sess_on=['f']),
    'sess_bm25': grid(sess_a=[0.02, 0.05, 0.1, 0.2, 0.3], sess_mode=['bm25']),
    # 2 coverage / diversity
    'mmr': grid(mmr_l=[0.02, 0.05, 0.1, 0.2, 0.3], mmr_n=[10, 20]),
    'mmr_cat1': grid(mmr_l=[0.05, 0.1, 0.2, 0.3], mmr_n=[10, 20], rerank_cats=[(1,)]),
    'coverage': grid(cov_b=[0.02, 0.05, 0.1, 0.2, 0.3], cov_n=[10, 20]),
    # 3 names / rare terms
    'idf_pow': grid(idf_p=[0.5, 0.75, 1.25, 1.5, 2.0, 3.0]),
    'cap_boost': grid(cap_boost=[1.25, 1.5, 2.0, 3.0]),
    'spk_boost': grid(spk_boost=[0.0, 0.5, 1.5, 2.0, 3.0]),
    'spk_turn': grid(spk_turn=[-0.05, 0.02, 0.05, 0.1, 0.2]),
    # 4 temporal
    'temporal': grid(temp_b=[0.02, 0.05, 0.1, 0.2]),
    # 5 fusion / neighbours / context
    'wl': grid(wl=[0.3, 0.4, 0.45, 0.55, 0.6, 0.7]),
    'nbr': grid(nw=[0.1, 0.15, 0.2, 0.25, 0.3, 0.4], win=[1, 2, 3, 4]),
    'nbr_decay': grid(nw_decay=[[0.3, 0.1], [0.3, 0.2], [0.25, 0.15], [0.4, 0.1], [0.3, 0.2, 0.1], [0.25, 0.2, 0.15, 0.1]]),
    'nbr_asym': grid(nb_prev=[[0.1, 0.1], [0.2, 0.2], [0.3, 0.2], [0.3, 0.1]], nb_next=[[0.1, 0.1], [0.2, 0.2], [0.3, 0.2], [0.3, 0.1]]),
    'ctx_lex': grid(ctx_lex=[0.1, 0.2, 0.3, 0.5], ctx_lex_win=[1, 2]),
    'ctx_vec': grid(ctx_vec=[0.2, 0.35, 0.5]),
    'v_pow': grid(v_pow=[0.5, 0.75, 1.5, 2.0, 3.0]),
    'k1': grid(k1=[0.6, 0.9, 1.5, 2.0]),
    'sess_max_f2': grid(sess_a=[0.4, 0.5, 0.6, 0.8, 1.0, 1.5], sess_mode=['max'], sess_on=['f']),
    'sess_bm25_2': grid(sess_a=[0.1, 0.15, 0.2, 0.25, 0.3, 0.4], sess_mode=['bm25']),
    'sess_bm25c': grid(sess_a=[0.05, 0.1, 0.15, 0.2, 0.3, 0.4], sess_mode=['bm25c']),
    'sess_covc': grid(sess_a=[0.05, 0.1, 0.15, 0.2, 0.3, 0.4], sess_mode=['covc']),
    'spk_turn2': grid(spk_turn=[0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]),
    'lead_turn': grid(lead_turn=[0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4]),
    'temporal2': grid(temp_b=[0.1, 0.15, 0.2, 0.3, 0.4, 0.6]),
    'ctx_lex2': grid(ctx_lex=[0.1, 0.15, 0.2, 0.25, 0.3], ctx_lex_win=[1, 2, 3]),
    'nbr2': grid(nw=[0.2, 0.25, 0.3], win=[2], wl=[0.45, 0.5, 0.55]),
    'sess_chain': grid(sess_a=[0.6, 0.8, 1.0], sess_mode=['chain'], sess_gap=[600, 3600, 6 * 3600]),
    'date': grid(date_b=[0.05, 0.1, 0.2, 0.3, 0.5], date_after=[0, 7, 31]),
    'sess_cap': grid(sess_cap=[2, 3, 4]),
    'no_imp': grid(imp=[False]),
}


def run(name, settings, base=None):
    base = base or {}
    rows = []
    R = []
    for s in settings:
        p = dict(base); p.update(s)
        r5, mrr = lib.evaluate(p)
        R.append(r5)
        rows.append((s, lib.summary(r5, mrr), mrr))
    # include the baseline (no lever) as a choice in LOCO, so folds may pick "off"
    b5, bm = lib.evaluate(base)
    R2 = np.vstack([b5] + R)
    held, picks = lib.loco(R2)
    best = int(np.argmax([r[1]['R5'] for r in rows]))
    s, summ, mrr = rows[best]
    out = dict(lever=name, best=s, **{k: round(float(v), 4) for k, v in summ.items()},
               heldout=round(float(held.mean()), 4),
               held_cats={k: round(float(held[lib.CAT == k].mean()), 4) for k in (1, 2, 3, 4)},
               picks={c: ('off' if i == 0 else settings[i - 1]) for c, i in picks.items()},
               delta=round(float(summ['R5'] - b5.mean()), 4))
    return out, rows


if __name__ == '__main__':
    names = sys.argv[1:] or list(LEVERS)
    print('baseline', {k: round(float(v), 4) for k, v in B.items()}, flush=True)
    res = []
    for nm in names:
        out, rows = run(nm, LEVERS[nm])
        print(json.dumps(out, default=str), flush=True)
        for s, summ, _ in rows:
            print('   ', s, {k: round(float(v), 4) for k, v in summ.items()}, flush=True)
        res.append(out)
    json.dump(res, open(os.path.join(OUT, 'results_%s.json') % ('all' if not sys.argv[1:] else '_'.join(names)), 'w'), default=str, indent=1)
