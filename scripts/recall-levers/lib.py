"""Offline re-implementation of the hybrid ranking (docs/scoring.md, fusion.rs) with levers.

P (dict of parameters; see DEFAULT) selects levers.  evaluate(P) -> per-query arrays.
"""
import os
OUT = os.environ['LEVERS_OUT']
HERE = os.path.dirname(os.path.abspath(__file__))
import pickle, re, math
from datetime import datetime
import numpy as np

C = pickle.load(open(os.path.join(OUT, 'cache.pkl'), 'rb'))
CONVS = sorted(C)

DEFAULT = dict(
    k1=1.2, wl=0.5, nw=0.2, win=2, n_dense=200, n_lex=300,
    imp=True,              # 0.3*importance (user 0.34, assistant 0.30; recency and decay 0)
    # lever 1: session prior
    sess_a=0.0, sess_mode='max',   # 'max' | 'top2' | 'bm25' (BM25 over session text)
    sess_on='f',                   # which signal is pooled per session: 'f' or 'g'
    # lever 2: coverage / MMR re-ranking of the top n
    mmr_l=0.0, mmr_n=20, cov_b=0.0, cov_n=20, rerank_cats=None,
    # lever 3: term weights
    idf_p=1.0, cap_boost=1.0, spk_boost=1.0, spk_turn=0.0,
    # lever 4: temporal
    temp_b=0.0, lead_turn=0.0, sess_gap=3600, sess_cap=0, date_b=0.0, date_after=7,
    # lever 5: others
    nw_decay=None,         # neighbour weight per distance, list like [0.3, 0.1]
    nb_prev=None, nb_next=None,   # asymmetric neighbour weights (window 2)
    ctx_lex=0.0,           # weight of BM25 over turn+neighbours text (3rd signal)
    ctx_lex_win=1,
    ctx_vec=0.0,           # weight of cosine of mean stored vector of turn and 2 previous
    v_pow=1.0,
)

K1 = 1.2

TEMPORAL_RE = re.compile(
    r"\b(yesterday|today|tonight|tomorrow|last|next|ago|week|weeks|weekend|month|months|year|years|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|june|"
    r"july|august|september|october|november|december|recently|lately|soon|since|20\d\d|19\d\d)\b", re.I)


def _prep():
    """Per conversation derived arrays (session bounds, temporal flags, context texts...)."""
    for cid, c in C.items():
        n = len(c['ids'])
        sess = c['sess']
        bounds = [0] + [k for k in range(1, n) if sess[k] != sess[k - 1]]
        c['sbounds'] = np.array(bounds)
        sid = np.zeros(n, dtype=int)
        for j, b in enumerate(bounds):
            sid[b:] = j
        c['sid'] = sid
        c['tsec'] = np.array([datetime.strptime(x, '%Y-%m-%dT%H:%M:%SZ').timestamp() for x in c['created']])
        c['lead'] = np.array([t[0] if t else '' for t in c['toks']])
        c['temporal'] = np.array([1.0 if TEMPORAL_RE.search(t.split(':', 1)[1]) else 0.0
                                  for t in c['contents']])
        spk = {}
        for t in c['contents']:
            spk.setdefault(t.split(':', 1)[0], None)
        c['spk_of'] = np.array([c['speakers'].index(t.split(':', 1)[0]) if t.split(':', 1)[0] in c['speakers'] else -1
                                for t in c['contents']])
        # mean stored vector of the turn and its 2 predecessors (contextual vector, no model call)
        E = c['E'].astype(np.float64)
        M = E.copy()
        M[1:] += E[:-1]
        M[2:] += E[:-2]
        M /= np.linalg.norm(M, axis=1, keepdims=True)
        c['Ectx'] = M
        # session docs tokens
        c['stoks'] = [sum((c['toks'][k] for k in range(n) if sid[k] == j), []) for j in range(len(bounds))]
        for q in c['queries']:
            toks_raw = re.findall(r"[A-Za-z0-9]+", q['text'])
            caps = set()
            for i, w in enumerate(toks_raw):
                if w[0].isupper() and i > 0:
                    caps.add(w.lower())
            q['caps_raw'] = caps
            q['is_when'] = q['text'].lower().startswith('when') or ' when ' in q['text'].lower()
            q['spk_named'] = [j for j, s in enumerate(c['speakers']) if s.lower() in q['text'].lower()]


_prep()

import snowballstemmer
_ST = snowballstemmer.stemmer('english')


def lucene_idf(n, df):
    return np.log(1.0 + (n - df + 0.5) / (df + 0.5))


def sat(tf, k1):
    return tf * (k1 + 1.0) / (tf + k1)


def minmax(x):
    lo, hi = x.min(), x.max()
    if hi - lo > 1e-12:
        return (x - lo) / (hi - lo)
    return (x > 0).astype(float)


def term_weights(c, q, P):
    n = len(c['ids'])
    idf = lucene_idf(n, q['df'])
    w = idf ** P['idf_p'] if P['idf_p'] != 1.0 else idf.copy()
    if P['cap_boost'] != 1.0 or P['spk_boost'] != 1.0:
        caps = {_ST.stemWord(x) for x in q['caps_raw']}
        spk = {_ST.stemWord(s.lower()) for s in c['speakers']}
        for j, t in enumerate(q['terms']):
            if t in spk:
                w[j] *= P['spk_boost']
            elif t in caps:
                w[j] *= P['cap_boost']
    return idf, w


_CTX_CACHE = {}


def ctx_bm25(c, q, P, w):
    """BM25 over the text of the turn plus ctx_lex_win turns either side (same session)."""
    key = (q['id'], P['ctx_lex_win'])
    if key not in _CTX_CACHE:
        T = q['tf']
        n = T.shape[1]
        W = P['ctx_lex_win']
        S = np.zeros_like(T)
        sid = c['sid']
        for d in range(-W, W + 1):
            if d == 0:
                S += T
                continue
            sh = np.zeros_like(T)
            if d > 0:
                sh[:, :-d] = T[:, d:]
                ok = np.zeros(n, bool); ok[:-d] = sid[:-d] == sid[d:]
            else:
                sh[:, -d:] = T[:, :d]
                ok = np.zeros(n, bool); ok[-d:] = sid[-d:] == sid[:d]
            S += sh * ok
        _CTX_CACHE[key] = S
    S = _CTX_CACHE[key]
    return (w[:, None] * sat(S, P['k1'])).sum(0) if len(w) else np.zeros(S.shape[1])


def session_bm25(c, q, P, w):
    key = ('s', q['id'])
    if key not in _CTX_CACHE:
        ns = len(c['sbounds'])
        T = np.zeros((len(q['terms']), ns))
        for j, t in enumerate(q['terms']):
            for s in range(ns):
                T[j, s] = c['stoks'][s].count(t)
        # idf over sessions
        df = (T > 0).sum(1)
        _CTX_CACHE[key] = (T, lucene_idf(ns, df))
    T, sidf = _CTX_CACHE[key]
    if len(w) == 0:
        return np.zeros(T.shape[1])
    return (sidf[:, None] * sat(T, P['k1'])).sum(0)


def rank(c, q, P):
    n = len(c['ids'])
    cos = q['cos']
    idf, w = term_weights(c, q, P)
    T = q['tf']
    bm = (w[:, None] * sat(T, P['k1'])).sum(0) if len(w) else np.zeros(n)
    # candidates
    inC = np.zeros(n, bool)
    inC[np.argsort(-cos, kind='stable')[:P['n_dense']]] = True
    # lexical matches: docs with any query term, the best n_lex by (unboosted) bm25
    bm0 = (idf[:, None] * sat(T, P['k1'])).sum(0) if len(idf) else np.zeros(n)
    match = np.nonzero(bm0 > 0)[0]
    if len(match) > P['n_lex']:
        match = match[np.argsort(-bm0[match], kind='stable')[:P['n_lex']]]
    inC[match] = True
    idx = np.nonzero(inC)[0]
    L = np.zeros(n); V = np.zeros(n)
    L[idx] = minmax(bm[idx])
    if P['ctx_vec'] > 0:
        cv = c['Ectx'] @ q['qemb'].astype(np.float64)
        sim = (1 - P['ctx_vec']) * cos + P['ctx_vec'] * cv
    else:
        sim = cos
    V[idx] = minmax(sim[idx])
    if P['v_pow'] != 1.0:
        V = V ** P['v_pow']
    wl = P['wl']
    f = wl * L + (1 - wl) * V
    if P['ctx_lex'] > 0:
        X = np.zeros(n)
        X[idx] = minmax(ctx_bm25(c, q, P, w)[idx])
        f = (1 - P['ctx_lex']) * f + P['ctx_lex'] * X
    f = f * inC
    # neighbours over the timeline (positions), candidates only
    g = f.copy()
    if P['nb_prev'] is not None:
        for d, wt in zip((1, 2), P['nb_prev']):   # previous turns' f added to d
            g[d:] += wt * f[:-d]
        for d, wt in zip((1, 2), P['nb_next']):
            g[:-d] += wt * f[d:]
    else:
        ws = P['nw_decay'] if P['nw_decay'] is not None else [P['nw']] * P['win']
        for d, wt in enumerate(ws, start=1):
            g[d:] += wt * f[:-d]
            g[:-d] += wt * f[d:]
    # lever 1: session prior
    if P['sess_a'] > 0:
        src = f if P['sess_on'] == 'f' else g
        sid = c['sid']
        if P['sess_mode'] == 'max':
            sm = np.maximum.reduceat(src, c['sbounds'])
            g = g + P['sess_a'] * sm[sid]
        elif P['sess_mode'] == 'chain':
            # sessions from the candidates alone: chains of candidates (in time order) whose
            # consecutive created_at gaps are <= sess_gap seconds; pooled max of f per chain
            t = c['tsec'][idx]
            ch = np.r_[0, np.cumsum(np.diff(t) > P['sess_gap'])]
            starts = np.r_[0, np.nonzero(np.diff(ch))[0] + 1]
            cm = np.maximum.reduceat(src[idx], starts)
            add = np.zeros(n); add[idx] = cm[ch]
            g = g + P['sess_a'] * add
        elif P['sess_mode'] == 'top2':
            sm = np.array([np.sort(seg)[-2:].mean() for seg in np.split(src, c['sbounds'][1:])])
            g = g + P['sess_a'] * sm[sid]
        elif P['sess_mode'] == 'sum':
            sm = np.add.reduceat(src, c['sbounds'])
            sm = sm / sm.max()
            g = g + P['sess_a'] * sm[sid]
        elif P['sess_mode'] == 'bm25c':
            # session BM25 from the candidates' own terms: tf summed over the session's
            # candidate turns, the turn-level idf (w), min-max over sessions
            Tc = T * inC
            Ts = np.add.reduceat(Tc, c['sbounds'], axis=1) if len(w) else np.zeros((0, len(c['sbounds'])))
            sb = (w[:, None] * sat(Ts, P['k1'])).sum(0) if len(w) else np.zeros(Ts.shape[1])
            sm = minmax(sb)
            g = g + P['sess_a'] * sm[sid] * g.max()
        elif P['sess_mode'] == 'covc':
            # share of the query's idf mass the session's candidate turns cover (each term once)
            Tc = (T * inC) > 0
            Ts = np.add.reduceat(Tc.astype(float), c['sbounds'], axis=1) > 0 if len(w) else np.zeros((0, len(c['sbounds'])))
            sm = (w[:, None] * Ts).sum(0) / max(w.sum(), 1e-9) if len(w) else np.zeros(len(c['sbounds']))
            g = g + P['sess_a'] * sm[sid] * g.max()
        elif P['sess_mode'] == 'bm25':
            sb = session_bm25(c, q, P, w)
            sm = minmax(sb)
            g = g + P['sess_a'] * sm[sid] * g.max()
    # lever 3b: speaker of turn named in query
    if P['spk_turn'] != 0 and q['spk_named'] and len(q['spk_named']) == 1:
        g = g + P['spk_turn'] * g.max() * (c['spk_of'] == q['spk_named'][0])
    # lever 3c: the turn's first analysed term (the speaker prefix here) is a query term
    if P['lead_turn'] != 0:
        g = g + P['lead_turn'] * g.max() * np.isin(c['lead'], q['terms'])
    # lever 4b: the query names a date/month/year: turns written in that period (+after days)
    if P['date_b'] != 0 and q.get('datematch') is not None:
        g = g + P['date_b'] * g.max() * q['datematch'][P['date_after']]
    # lever 4: temporal questions favour turns with time expressions
    if P['temp_b'] != 0 and q['is_when']:
        g = g + P['temp_b'] * g.max() * c['temporal']
    g = g * inC
    mg = g.max()
    order = g / mg if mg > 0 else g
    score = 0.6 * order
    if P['imp']:
        score = score + 0.3 * np.where(c['role'] == 1, 0.34, 0.30)
    # ties: score desc, similarity desc, newer first (position desc)
    cand = idx
    keys = np.lexsort((-cand, -cos[cand], -score[cand]))
    ranked = cand[keys]
    # lever 2: re-rank the head
    do_rr = P['rerank_cats'] is None or q['cat'] in P['rerank_cats']
    if do_rr and P['mmr_l'] > 0:
        ranked = mmr(c, ranked, score, P['mmr_l'], P['mmr_n'])
    if do_rr and P['cov_b'] > 0:
        ranked = coverage_rerank(q, ranked, score, w, P['cov_b'], P['cov_n'])
    if P['sess_cap']:
        # at most sess_cap of the first 5 (and of the first 10: 2*cap) from one session
        head, rest, cnt = [], [], {}
        for d in ranked[:40]:
            sd = c['sid'][d]
            lim = P['sess_cap'] if len(head) < 5 else 2 * P['sess_cap']
            if cnt.get(sd, 0) < lim:
                head.append(d); cnt[sd] = cnt.get(sd, 0) + 1
            else:
                rest.append(d)
            if len(head) >= 10:
                break
        ranked = np.array((head + rest)[:10])
    return ranked[:10]


def mmr(c, ranked, score, lam, n):
    head = list(ranked[:n])
    E = c['E']
    S = E[head] @ E[head].T
    s = score[head]
    chosen = []
    left = list(range(len(head)))
    while left and len(chosen) < min(10, len(head)):
        if chosen:
            red = S[np.ix_(left, chosen)].max(1)
        else:
            red = np.zeros(len(left))
        val = s[left] - lam * red
        k = left[int(np.argmax(val))]
        chosen.append(k)
        left.remove(k)
    out = [head[k] for k in chosen]
    return np.array(out + [h for h in ranked if h not in set(out)][:10])


def coverage_rerank(q, ranked, score, w, beta, n):
    """Greedy: score + beta * (share of the query's term weight newly covered)."""
    head = list(ranked[:n])
    T = q['tf'][:, head] > 0
    mass = w.sum()
    if mass <= 0:
        return ranked
    covered = np.zeros(len(w), bool)
    s = score[head]
    chosen = []
    left = list(range(len(head)))
    while left and len(chosen) < min(10, len(head)):
        gain = np.array([(w * (T[:, k] & ~covered)).sum() / mass for k in left])
        val = s[left] + beta * gain
        j = int(np.argmax(val))
        k = left[j]
        chosen.append(k)
        covered |= T[:, k]
        left.remove(k)
    out = [head[k] for k in chosen]
    return np.array(out + [h for h in ranked if h not in set(out)][:10])


QMETA = [(cid, q['cat']) for cid in CONVS for q in C[cid]['queries']]
CAT = np.array([m[1] for m in QMETA])
CONV = np.array([m[0] for m in QMETA])


def evaluate(P=None, **kw):
    p = dict(DEFAULT)
    if P:
        p.update(P)
    p.update(kw)
    r5, mrr = [], []
    for cid in CONVS:
        c = C[cid]
        for q in c['queries']:
            top = rank(c, q, p)
            ev = set(q['ev'])
            r5.append(len(ev & set(top[:5].tolist())) / len(ev))
            rr = 0.0
            for i, d in enumerate(top[:10]):
                if d in ev:
                    rr = 1.0 / (i + 1)
                    break
            mrr.append(rr)
    return np.array(r5), np.array(mrr)


def summary(r5, mrr):
    d = dict(R5=r5.mean(), MRR=mrr.mean())
    for k in (1, 2, 3, 4):
        d[f'c{k}'] = r5[CAT == k].mean()
    return d


def loco(grid_r5):
    """grid_r5: array (settings, queries). Returns pooled held-out R@5 and the picks."""
    held = np.zeros(grid_r5.shape[1])
    picks = {}
    for cid in CONVS:
        tr = CONV != cid
        best = int(np.argmax(grid_r5[:, tr].mean(1)))
        picks[cid] = best
        held[~tr] = grid_r5[best, ~tr]
    return held, picks


# ---- lever 4b: explicit dates in the query vs the turn's created_at -----------------------
from datetime import datetime, timedelta
_MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september',
           'october', 'november', 'december']
_DATE_RE = re.compile(r"\b(?:(\d{1,2})\s+)?(" + '|'.join(m.capitalize() for m in _MONTHS) +
                      r")(?:\s+(\d{1,2})(?:st|nd|rd|th)?)?,?(?:\s+((?:19|20)\d\d))?\b|\b((?:19|20)\d\d)\b")


def query_period(text):
    """(start, end) of the period a query names ('in June', 'May 3, 2023', 'in 2023'), or None.
    A month without a year gets no year (matched on month alone)."""
    m = _DATE_RE.search(text)
    if not m:
        return None
    d1, mon, d2, y, yonly = m.groups()
    if yonly:
        return ('y', int(yonly))
    mi = _MONTHS.index(mon.lower()) + 1
    day = d1 or d2
    return ('md', int(y) if y else None, mi, int(day) if day else None)


def _date_match(per, created, after_days):
    ts = [datetime.strptime(x, '%Y-%m-%dT%H:%M:%SZ') for x in created]
    out = np.zeros(len(ts))
    for k, t in enumerate(ts):
        if per[0] == 'y':
            ok = t.year == per[1] or (t.year == per[1] + 1 and (t - datetime(per[1] + 1, 1, 1)).days < after_days)
        else:
            _, y, mi, day = per
            years = [y] if y else [t.year, t.year - 1]
            ok = False
            for yy in years:
                if day:
                    s = datetime(yy, mi, day); e = s + timedelta(days=1)
                else:
                    s = datetime(yy, mi, 1); e = datetime(yy + (mi == 12), mi % 12 + 1, 1)
                if s <= t < e + timedelta(days=after_days):
                    ok = True
        out[k] = 1.0 if ok else 0.0
    return out


for _cid, _c in C.items():
    for _q in _c['queries']:
        _q['period'] = query_period(_q['text'])
        _q['datematch'] = {a: _date_match(_q['period'], _c['created'], a) for a in (0, 7, 31)} if _q['period'] else None
