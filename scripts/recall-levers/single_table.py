"""Markdown table of the single-lever results (from exp.py's results_*.json)."""
import os
OUT = os.environ['LEVERS_OUT']
HERE = os.path.dirname(os.path.abspath(__file__))
import json, glob
seen = {}
for f in sorted(glob.glob(os.path.join(OUT, 'results_*.json'))):
    for r in json.load(open(f)):
        seen[r['lever']] = r
print('| lever | in-sample best setting | in-sample R@5 | held-out R@5 | MRR | R@5 cat 1/2/3/4 | delta in-sample | delta held-out |')
print('|---|---|---|---|---|---|---|---|')
for k, r in seen.items():
    print(f"| {k} | {json.dumps(r['best'])} | {r['R5']:.4f} | {r['heldout']:.4f} | {r['MRR']:.4f} | "
          f"{r['c1']:.3f} / {r['c2']:.3f} / {r['c3']:.3f} / {r['c4']:.3f} | {r['delta']:+.4f} | {r['heldout'] - 0.6528:+.4f} |")
