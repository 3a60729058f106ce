"""Would a stronger encoder help? all-mpnet-base-v2 (768-d) vs all-MiniLM-L6-v2 (384-d, ours).

Offline, on the LoCoMo dev split, with the recall-levers pipeline (prep.py, lib.py, final.py)
unchanged: only the vectors differ. Not run in CI. One command does it all:

    scripts/recall-levers/encoder.sh [DATA_DIR]     # default ../shared/bench-data/locomo-dev

Two steps, each in its own venv (encoder.sh makes them and builds the caches in between):

  embed    (torch + sentence-transformers) checks both models on paraphrase pairs, writes
           OUT/embeddings.jsonl with mpnet in run.sh's order (the contents, then the queries,
           whitespace-collapsed, unit vectors) and times both models on those texts: one
           encode call, batch 32, one thread, MiniLM before and after mpnet.
  compare  (the recall-levers venv: numpy) loads BASE/cache.pkl (MiniLM, from run.sh) and
           OUT/cache.pkl (mpnet, prep.py on the file above), then for MiniLM, mpnet and the
           average of the two cosines: final.py's own report, a table of the baseline and
           default rows with paired differences to MiniLM, pure dense R@5, and how many of the
           multi-hop / open-domain evidence turns the default ranking misses are among the 50
           (and 200) nearest by cosine.

The data is read in place (CC BY-NC); outputs go to target/ only.
"""
import argparse
import json
import os
import pickle
import runpy
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# final.py's "THE DEFAULT" row (session 0.8 + nw 0.25 + date 0.3 + speaker 0.25).
DEFAULT_KW = dict(nw=0.25, sess_a=0.8, date_b=0.3, spk_b=0.25)
CATS = {1: 'multi-hop', 2: 'temporal', 3: 'open-domain', 4: 'single-hop'}


def texts(data):
    """run.sh's embeddings.jsonl order: the contents in file order, then the queries."""
    out = []
    for f, k in (('messages.jsonl', 'content'), ('queries.jsonl', 'query')):
        for line in open(os.path.join(data, f)):
            if line.strip():
                out.append(' '.join(json.loads(line)[k].split()))
    return out


# ---- embed (torch venv) ---------------------------------------------------------------------

def embed(args):
    import numpy as np
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)

    T = texts(args.data)
    models = {'MiniLM': SentenceTransformer(args.minilm, device='cpu'),
              'mpnet': SentenceTransformer(args.mpnet, device='cpu')}
    pairs = [('A man is playing a guitar.', 'Someone is strumming a guitar.'),
             ('How old is your daughter?', 'What age is your kid?'),
             ('I adopted a puppy last week.', 'We got a new dog a few days ago.')]
    unrelated = ['The stock market fell sharply today.', 'Photosynthesis needs sunlight.',
                 'Please restart the database server.']
    for name, m in models.items():
        v = m.encode([s for p in pairs for s in p] + unrelated, normalize_embeddings=True)
        assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-4)
        para = [float(v[2 * i] @ v[2 * i + 1]) for i in range(len(pairs))]
        unrel = (v[:2 * len(pairs)] @ v[2 * len(pairs):].T).max()
        print(f"{name}: dim {v.shape[1]}, max_seq_length {m.max_seq_length}; paraphrase cos "
              + ' '.join(f'{x:.3f}' for x in para) + f", best unrelated {unrel:.3f}", flush=True)
        assert min(para) > unrel, name

    def timed(name):
        m = models[name]
        m.encode(T[:64], batch_size=32)   # warm-up
        t0 = time.perf_counter()
        E = m.encode(T, batch_size=32, normalize_embeddings=True, convert_to_numpy=True)
        dt = time.perf_counter() - t0
        print(f"{name}: {len(T)} texts in {dt:.1f} s = {len(T) / dt:.1f} sentences/s "
              f"(batch 32, 1 thread, load {os.getloadavg()[0]:.2f})", flush=True)
        return E.astype(np.float32)

    mini = timed('MiniLM')
    mp = timed('mpnet')
    timed('MiniLM')
    # The torch MiniLM should be the vectors memory-server wrote (same texts, same order).
    if args.base_embeddings and os.path.exists(args.base_embeddings):
        ref = np.array([json.loads(l)['embedding'] for l in open(args.base_embeddings)],
                       dtype=np.float32)
        c = (ref * mini).sum(1)
        print(f"MiniLM torch vs memory-server f32: cosine min {c.min():.6f} mean {c.mean():.6f}")
    os.makedirs(args.out, exist_ok=True)
    tmp = os.path.join(args.out, 'embeddings.jsonl.tmp')
    with open(tmp, 'w') as f:
        for t, e in zip(T, mp):
            f.write('{"text":' + json.dumps(t) + ',"embedding":['
                    + ','.join('%.9g' % x for x in e) + ']}\n')
    os.replace(tmp, os.path.join(args.out, 'embeddings.jsonl'))
    print(f"wrote {len(T)} x {mp.shape[1]} to {args.out}/embeddings.jsonl")


# ---- compare (levers venv) ------------------------------------------------------------------

def compare(args):
    os.environ['LEVERS_OUT'] = args.base   # lib.py loads the MiniLM cache at import
    sys.path.insert(0, HERE)
    import numpy as np
    import lib
    import final
    from prep import terms
    lib.terms = terms

    mp = pickle.load(open(os.path.join(args.out, 'cache.pkl'), 'rb'))
    vec = {'MiniLM': {}, 'mpnet': {}}
    for cid in lib.CONVS:
        c, o = lib.C[cid], mp[cid]
        assert c['ids'] == o['ids'] and len(c['queries']) == len(o['queries'])
        for q, r in zip(c['queries'], o['queries']):
            assert q['id'] == r['id'] and q['ev'] == r['ev']
            vec['MiniLM'][q['id']] = (q['cos'], q['qemb'], c['E'])
            vec['mpnet'][q['id']] = (r['cos'], r['qemb'], o['E'])

    def use(name):
        """Swap the vectors final.py ranks with (only q['cos'] matters to final.rank)."""
        for cid in lib.CONVS:
            c = lib.C[cid]
            for q in c['queries']:
                if name == 'average':
                    q['cos'] = 0.5 * vec['MiniLM'][q['id']][0] + 0.5 * vec['mpnet'][q['id']][0]
                else:
                    q['cos'], q['qemb'], c['E'] = vec[name][q['id']]

    def dense(c, q):
        return np.argsort(-q['cos'], kind='stable')[:10]

    names = ['MiniLM', 'mpnet', 'average']
    res = {}
    for name in names:
        use(name)
        print(f"\n== final.py with {name} cosines", flush=True)
        runpy.run_path(os.path.join(HERE, 'final.py'), run_name='__main__')
        res[name] = {'dense': final.evaluate(dense), 'baseline': final.evaluate(),
                     'default': final.evaluate(**DEFAULT_KW)}
        res[name]['top'] = {(cid, q['id']): final.rank(lib.C[cid], q, **DEFAULT_KW)[:5]
                            for cid in lib.CONVS for q in lib.C[cid]['queries']}
        res[name]['dense_rank'] = {q['id']: np.argsort(np.argsort(-q['cos'], kind='stable'))
                                   for cid in lib.CONVS for q in lib.C[cid]['queries']}

    n = {k: int((lib.CAT == k).sum()) for k in CATS}
    print(f"\n== R@5 / MRR@10; {len(lib.CAT)} questions, per category R@5 (n): "
          + ', '.join(f'c{k} {CATS[k]} ({n[k]})' for k in CATS))
    print(f"{'row':9} {'encoder':8} {'R@5':>6} {'MRR':>6} " + ' '.join(f'{"c" + str(k):>6}' for k in CATS)
          + '   dR@5 vs MiniLM (paired se)   dc1 (se)   dc3 (se)')
    for row in ('dense', 'baseline', 'default'):
        b5 = res['MiniLM'][row][0]
        for name in names:
            r5, mrr = res[name][row]
            line = (f"{row:9} {name:8} {r5.mean():6.4f} {mrr.mean():6.4f} "
                    + ' '.join(f'{r5[lib.CAT == k].mean():6.3f}' for k in CATS))
            if name != 'MiniLM':
                d = r5 - b5
                line += f"   {d.mean():+.4f} ({d.std() / np.sqrt(len(d)):.4f})"
                for k in (1, 3):
                    dk = d[lib.CAT == k]
                    line += f"   {dk.mean():+.3f} ({dk.std() / np.sqrt(len(dk)):.3f})"
            print(line)

    # Evidence turns of multi-hop / open-domain questions outside the default top 5: are they
    # among the nearest by cosine (where a better fusion or re-ranker could still reach them)?
    print("\n== missed evidence (default row, not in the top 5): share within the cosine top 50 / top 200")
    qs = [(cid, q) for cid in lib.CONVS for q in lib.C[cid]['queries'] if q['cat'] in (1, 3)]
    for own in names:
        for k in (1, 3):
            missed = [(q['id'], e) for cid, q in qs if q['cat'] == k
                      for e in q['ev'] if e not in set(res[own]['top'][(cid, q['id'])].tolist())]
            cells = []
            for name in names:
                rk = np.array([res[name]['dense_rank'][qid][e] for qid, e in missed])
                cells.append(f"{name} {(rk < 50).sum():3d} / {(rk < 200).sum():3d}")
            print(f"missed by {own:7} c{k} {CATS[k]:11}: {len(missed):3d} turns; in top 50 / 200 by "
                  + ', '.join(cells))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    e = sub.add_parser('embed')
    e.add_argument('--data', required=True)
    e.add_argument('--mpnet', required=True, help='all-mpnet-base-v2 model directory')
    e.add_argument('--minilm', required=True, help='all-MiniLM-L6-v2 model directory')
    e.add_argument('--out', required=True)
    e.add_argument('--base-embeddings', help="memory-server's MiniLM embeddings.jsonl, to compare")
    c = sub.add_parser('compare')
    c.add_argument('--base', required=True, help='the MiniLM run (run.sh output, read only)')
    c.add_argument('--out', required=True, help='the mpnet run (embeddings.jsonl, cache.pkl)')
    args = ap.parse_args()
    embed(args) if args.cmd == 'embed' else compare(args)


if __name__ == '__main__':
    main()
