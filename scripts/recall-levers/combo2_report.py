"""Summaries of the combo2 grid: in-sample best and LOCO held-out for nested subsets."""
import os
OUT = os.environ['LEVERS_OUT']
HERE = os.path.dirname(os.path.abspath(__file__))
import json, numpy as np, lib
d = np.load(os.path.join(OUT, 'combo2.npz')); R5, MRR = d['R5'], d['MRR']
S = json.load(open(os.path.join(OUT, 'combo2_settings.json')))
Z = dict(sess_a=0.0, nw=0.2, temp_b=0.0, date_b=0.0, ctx_lex=0.0, lead_turn=0.0)
base = S.index(Z)
def show(allowed, label):
    idx = [i for i, s in enumerate(S) if all(s[k] == Z[k] for k in Z if k not in allowed)]
    sub = R5[idx]
    held, picks = lib.loco(sub)
    i = idx[int(np.argmax(sub.mean(1)))]
    diff = R5[i] - R5[base]; hd = held - R5[base]
    convs_up = sum((R5[i][lib.CONV == c].mean() > R5[base][lib.CONV == c].mean()) for c in lib.CONVS)
    print(f"| {label} | {R5[i].mean():.4f} | {held.mean():.4f} | {MRR[i].mean():.4f} | "
          + ' / '.join(f"{R5[i][lib.CAT == k].mean():.3f}" for k in (1, 2, 3, 4))
          + f" | {diff.mean():+.4f} (se {diff.std() / np.sqrt(len(diff)):.4f}) | {hd.mean():+.4f} | {convs_up}/6 | "
          + json.dumps({k: v for k, v in S[i].items() if v != Z[k]}) + ' |')
    return picks, idx
print('| combination | in-sample R@5 | held-out R@5 | MRR | R@5 cat 1/2/3/4 | delta in-sample | delta held-out | convs improved | in-sample best |')
print('|---|---|---|---|---|---|---|---|---|')
show([], 'baseline')
show(['sess_a'], 'session prior')
show(['sess_a', 'nw'], 'session + nw')
show(['sess_a', 'nw', 'date_b'], 'session + nw + date')
show(['sess_a', 'nw', 'date_b', 'temp_b'], 'session + nw + date + temporal')
show(['sess_a', 'nw', 'date_b', 'temp_b', 'ctx_lex'], 'generic all (+ctx_lex)')
show(['sess_a', 'nw', 'date_b', 'lead_turn'], 'session + nw + date + speaker')
p, idx = show(['sess_a', 'nw', 'date_b', 'temp_b', 'ctx_lex', 'lead_turn'], 'everything')
print({c: S[idx[v]] for c, v in p.items()})
