"""Precompute per-conversation data for the offline ranking experiments.

Writes $LEVERS_OUT/cache.pkl. Reads the benchmark in place ($LEVERS_DATA, read-only) and
$LEVERS_OUT/embeddings.jsonl (`memory-server embed` of the contents, then the queries).
"""
import os
OUT = os.environ['LEVERS_OUT']
HERE = os.path.dirname(os.path.abspath(__file__))
import json, pickle, re
from datetime import datetime
import numpy as np
import snowballstemmer

D = os.environ['LEVERS_DATA'].rstrip('/') + '/'
# The analyzer's own list (memory_core::text::STOPWORDS), read from its source.
_TEXT_RS = open(os.path.join(HERE, '..', '..', 'crates', 'memory-core', 'src', 'text.rs')).read()
STOP = set(re.findall(r'"([^"]+)"', _TEXT_RS.split('pub const STOPWORDS')[1].split('];')[0]))
STEM = snowballstemmer.stemmer('english')


def raw_tokens(text):
    low = text.lower()
    return ''.join(c if c.isalnum() else ' ' for c in low).split()


def terms(text):
    out = []
    for t in raw_tokens(text):
        if t in STOP:
            continue
        s = STEM.stemWord(t)
        if s:
            out.append(s)
    return out


def query_terms(text):
    seen, out = set(), []
    for t in terms(text):
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


def main():
    msgs = [json.loads(l) for l in open(D + 'messages.jsonl')]
    qs = [json.loads(l) for l in open(D + 'queries.jsonl')]
    # embeddings.jsonl: message contents in file order, then the queries (newlines were
    # replaced by spaces there, so align by position, checked loosely)
    embl = [json.loads(l) for l in open(os.path.join(OUT, 'embeddings.jsonl'))]
    texts = [m['content'] for m in msgs] + [q['query'] for q in qs]
    assert len(embl) == len(texts)
    emb = {}
    for t, o in zip(texts, embl):
        assert ' '.join(t.split()) == ' '.join(o['text'].split())
        emb[t] = np.asarray(o['embedding'], dtype=np.float32)
    convs = {}
    for m in msgs:
        convs.setdefault(m['conversation_id'], []).append(m)
    out = {}
    for cid, ms in convs.items():
        # conversation order = created_at then id (timeline)
        ms.sort(key=lambda m: (m['created_at'], m['message_id']))
        ids = [m['message_id'] for m in ms]
        pos = {i: k for k, i in enumerate(ids)}
        E = np.stack([emb[m['content']] for m in ms])
        toks = [terms(m['content']) for m in ms]
        vocab = {}
        for t in toks:
            for w in set(t):
                vocab[w] = vocab.get(w, 0) + 1
        sess = np.array([m['metadata']['session'] for m in ms])
        role = np.array([1 if m['role'] == 'user' else 0 for m in ms])
        sdt = [m['metadata']['session_date_time'] for m in ms]
        speakers = sorted(set(m['metadata']['speaker'] for m in ms))
        created = [m['created_at'] for m in ms]
        qlist = []
        for q in qs:
            if q['conversation_id'] != cid:
                continue
            qe = emb[q['query']]
            cos = (E @ qe).astype(np.float64)
            qt = query_terms(q['query'])
            # per-term saturated tf matrix (b=0): tf*(k1+1)/(tf+k1), k1=1.2
            T = np.zeros((len(qt), len(ms)))
            for j, t in enumerate(qt):
                for k, dt in enumerate(toks):
                    tf = dt.count(t)
                    if tf:
                        T[j, k] = tf
            df = np.array([vocab.get(t, 0) for t in qt], dtype=float)
            ev = [pos[e] for e in q['evidence'] if e in pos]
            qlist.append(dict(id=q['query_id'], text=q['query'], cat=q['category'], terms=qt,
                              tf=T, df=df, cos=cos, ev=ev, qemb=qe))
        out[cid] = dict(ids=ids, E=E, toks=toks, sess=sess, role=role, sdt=sdt, created=created,
                        speakers=speakers, contents=[m['content'] for m in ms], df=vocab, queries=qlist)
        print(cid, len(ms), len(qlist))
    pickle.dump(out, open(os.path.join(OUT, 'cache.pkl'), 'wb'))


if __name__ == '__main__':
    main()
