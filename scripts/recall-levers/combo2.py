"""Joint grid (second round, with the date lever and candidate-chain sessions); LOCO.
run by scripts/recall-levers/run.sh (combo2.py -> combo2.npz, combo2_settings.json)"""
import os
OUT = os.environ['LEVERS_OUT']
HERE = os.path.dirname(os.path.abspath(__file__))
import itertools, json
import numpy as np
import lib
axes = dict(sess_a=[0.0, 0.6, 0.8, 1.0], nw=[0.2, 0.25], temp_b=[0.0, 0.1, 0.2],
            date_b=[0.0, 0.2, 0.3], ctx_lex=[0.0, 0.1, 0.2], lead_turn=[0.0, 0.25])
keys = list(axes)
settings = [dict(zip(keys, v)) for v in itertools.product(*axes.values())]
R5, MRR = [], []
for s in settings:
    p = dict(s, ctx_lex_win=3, sess_mode='chain', sess_gap=3600, sess_on='f', date_after=7, imp=True)
    r, m = lib.evaluate(p)
    R5.append(r); MRR.append(m)
np.savez(os.path.join(OUT, 'combo2.npz'), R5=np.array(R5), MRR=np.array(MRR))
json.dump(settings, open(os.path.join(OUT, 'combo2_settings.json'), 'w'))
print('done', len(settings))
