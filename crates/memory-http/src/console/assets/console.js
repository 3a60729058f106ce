// Memory console: a small vanilla-JS front-end for the memory server's HTTP API.
//
// The page is served under a strict CSP, so this file never uses inline handlers, eval or
// style attributes, and it builds every piece of server data into the DOM through
// createElement/textContent (never innerHTML). The API key lives only in `state.key`.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);

  const state = {
    key: '', // API key: in memory only, sent as x-api-key
    admin: false,
    tenants: [],
    tenant: null, // selected tenant (browse)
    conversation: null, // selected conversation (browse)
    convCursor: null,
    msgCursor: null,
    seq: { conv: 0, msg: 0, search: 0, retention: 0 }, // bumped per request; stale replies are dropped
    errorSource: null, // who raised the visible error ('health' errors clear themselves)
    healthTimer: null,
    prevMetrics: null, // previous /metrics sample, for rates and p99 deltas
  };

  // Routes left out of the request rate and p99, so the console's own polling does not dominate.
  const EXCLUDED_ROUTES = new Set(['/metrics', '/v1/admin/health']);
  const TABS = ['browse', 'search', 'retention', 'health'];
  // [data-component name, field of the search item]
  const COMPONENTS = [
    ['score', 'score'],
    ['relevance', 'relevance'],
    ['similarity', 'similarity'],
    ['lexical', 'lexical'],
    ['fusion', 'fusion'],
    ['importance', 'importance'],
    ['recency', 'decay'],
  ];
  const EMBEDDING_LABEL = { completed: 'embedded', pending: 'pending', failed: 'failed' };

  // ---------------------------------------------------------------- helpers

  /** Creates an element: attrs are set with setAttribute (never 'style'), children appended as text/nodes. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === 'class') node.className = value;
      else node.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const fmtNum = (v, digits) => (isNum(v) ? v.toFixed(digits) : '—');
  const clamp01 = (v) => Math.min(1, Math.max(0, v));
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

  /** "2026-01-02T13:04:05.123456Z" → "2026-01-02 13:04:05Z" (the full value goes in a title). */
  function fmtTime(ts) {
    if (typeof ts !== 'string' || !ts) return '—';
    return ts.replace('T', ' ').replace(/\.\d+/, '');
  }

  function timeCell(ts) {
    return el('td', { class: 'nowrap', title: ts }, fmtTime(ts));
  }

  function fmtDuration(seconds) {
    if (!isNum(seconds)) return '—';
    let s = Math.floor(seconds);
    const parts = [];
    for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60]]) {
      if (s >= size || parts.length) parts.push(`${Math.floor(s / size)}${unit}`);
      s %= size;
    }
    parts.push(`${s}s`);
    return parts.join(' ');
  }

  /** Orders two timestamps; Date.parse copes with sub-millisecond digits, plain string order is the fallback. */
  function isBefore(a, b) {
    const ta = Date.parse(a);
    const tb = Date.parse(b);
    if (Number.isNaN(ta) || Number.isNaN(tb)) return String(a) < String(b);
    return ta < tb;
  }

  // ---------------------------------------------------------------- banners

  function showError(err, source) {
    const text = err instanceof Error ? err.message : String(err);
    $('error-text').textContent = text;
    $('error').hidden = false;
    state.errorSource = source || null;
  }

  function clearError(source) {
    if (source && state.errorSource !== source) return; // leave someone else's error visible
    $('error').hidden = true;
    $('error-text').textContent = '';
    state.errorSource = null;
  }

  function showNotice(text) {
    $('notice').textContent = text;
    $('notice').hidden = false;
  }

  function clearBanners() {
    clearError();
    $('notice').hidden = true;
  }

  /**
   * Wraps an event handler so that nothing escapes as an uncaught error or unhandled
   * rejection: failures end up in the #error banner. The handler runs synchronously up to its
   * first await, so `ev.preventDefault()` at its top still works for forms.
   */
  function guard(fn) {
    return (ev) => {
      try {
        const result = fn(ev);
        if (result && typeof result.catch === 'function') result.catch((e) => showError(e));
      } catch (e) {
        showError(e);
      }
    };
  }

  // ---------------------------------------------------------------- HTTP

  /** Turns an error response (`{code, message, details}` or anything else) into a readable Error. */
  function responseError(res, raw) {
    let body = null;
    try {
      body = JSON.parse(raw);
    } catch {
      /* not JSON: use the status line and the raw text */
    }
    let text;
    if (body && typeof body.message === 'string') {
      text = `${body.message} (${body.code || 'error'}, HTTP ${res.status})`;
      if (Array.isArray(body.details)) {
        for (const d of body.details) text += `\n• ${d.field ? `${d.field}: ` : ''}${d.message}`;
      }
    } else {
      text = `HTTP ${res.status} ${res.statusText}${raw ? `: ${raw.slice(0, 300)}` : ''}`;
    }
    const err = new Error(text);
    err.status = res.status;
    return err;
  }

  /**
   * Calls the API. Returns parsed JSON (or text with `text: true`); throws a readable Error
   * on network failures and on error statuses not listed in `accept`.
   */
  async function request(path, { method = 'GET', body, accept = [], text = false } = {}) {
    const headers = { accept: text ? 'text/plain' : 'application/json' };
    if (state.key) headers['x-api-key'] = state.key;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (e) {
      throw new Error(`${method} ${path}: network error (${e.message})`);
    }
    const raw = await res.text();
    if (!res.ok && !accept.includes(res.status)) throw responseError(res, raw);
    if (text) return raw;
    try {
      return raw ? JSON.parse(raw) : null;
    } catch {
      throw new Error(`${method} ${path}: response is not JSON (HTTP ${res.status})`);
    }
  }

  const enc = encodeURIComponent;

  // ---------------------------------------------------------------- tabs

  function showTab(name) {
    for (const t of TABS) {
      const on = t === name;
      $(`view-${t}`).hidden = !on;
      $(`tab-${t}`).classList.toggle('active', on);
      $(`tab-${t}`).setAttribute('aria-selected', String(on));
    }
    if (name === 'health') startHealth();
    else stopHealth();
  }

  // ---------------------------------------------------------------- connect / tenants

  async function connect(ev) {
    ev.preventDefault(); // form-action 'none': never let the form submit
    clearBanners();
    state.key = $('api-key').value.trim();
    $('whoami').textContent = 'connecting…';
    try {
      await loadTenants();
    } catch (e) {
      state.admin = false;
      state.tenants = [];
      selectTenant(null);
      renderTenants();
      $('whoami').textContent = 'not connected';
      throw e;
    }
    $('whoami').textContent = state.admin
      ? 'admin key'
      : `key for: ${state.tenants.join(', ') || '(no tenants)'}`;
  }

  /** GET /v1/tenants, then redraws the tenant list and selects; keeps the selection when still listed. */
  async function loadTenants() {
    const data = await request('/v1/tenants');
    state.admin = Boolean(data && data.admin);
    state.tenants = Array.isArray(data && data.tenants) ? data.tenants : [];
    if (!state.tenants.includes(state.tenant)) selectTenant(null);
    renderTenants();
    updateEraseButtons();
  }

  function renderTenants() {
    const list = $('tenants');
    list.replaceChildren();
    if (!state.tenants.length) list.append(el('li', { class: 'empty' }, 'No tenants.'));
    for (const t of state.tenants) {
      const selected = t === state.tenant;
      list.append(el('li', {},
        el('button', {
          type: 'button', class: selected ? 'tenant selected' : 'tenant',
          'data-tenant': t, 'aria-pressed': String(selected),
        }, t)));
    }
    for (const id of ['search-tenant', 'retention-tenant']) fillSelect($(id), state.tenants);
  }

  /** Refills a <select> with the tenants, keeping its value when it is still one of them. */
  function fillSelect(select, values) {
    const keep = select.value;
    select.replaceChildren();
    if (!values.length) select.append(el('option', { value: '' }, '— no tenants —'));
    for (const v of values) select.append(el('option', { value: v }, v));
    if (values.includes(keep)) select.value = keep;
  }

  /** Marks the selected item of a list (tenants or conversations) by its data attribute. */
  function markSelected(list, attr, value) {
    for (const b of list.querySelectorAll(`[${attr}]`)) {
      const on = b.getAttribute(attr) === value;
      b.classList.toggle('selected', on);
      b.setAttribute('aria-pressed', String(on));
    }
  }

  function updateEraseButtons() {
    $('erase-tenant').hidden = !(state.admin && state.tenant);
    $('erase-conversation').hidden = !(state.admin && state.tenant && state.conversation);
  }

  // ---------------------------------------------------------------- browse

  /** Selects a tenant (or none) and loads its conversations. */
  function selectTenant(tenant) {
    state.tenant = tenant;
    state.seq.conv++; // drop in-flight replies for the previous tenant
    markSelected($('tenants'), 'data-tenant', tenant);
    $('conversations').replaceChildren();
    $('more-conversations').hidden = true;
    $('conversations-of').textContent = tenant ? `of ${tenant}` : '';
    selectConversation(null);
    if (!tenant) return null;
    // Follow the browse selection in the other views' tenant selects.
    for (const id of ['search-tenant', 'retention-tenant']) {
      if (state.tenants.includes(tenant)) $(id).value = tenant;
    }
    return loadConversations(true);
  }

  async function loadConversations(reset) {
    const seq = ++state.seq.conv;
    const more = $('more-conversations');
    more.hidden = true; // also prevents double clicks while loading
    const q = new URLSearchParams({ tenant_id: state.tenant, limit: '50' });
    if (!reset && state.convCursor) q.set('cursor', state.convCursor);
    const data = await request(`/v1/conversations?${q}`);
    if (seq !== state.seq.conv) return; // the selection changed meanwhile
    const list = $('conversations');
    if (reset) list.replaceChildren();
    const items = (data && data.conversations) || [];
    for (const c of items) {
      const id = c.conversation_id;
      list.append(el('li', {},
        el('button', {
          type: 'button', class: 'conversation', 'data-conversation': id, 'aria-pressed': 'false',
        },
        el('span', { class: 'id' }, id),
        el('span', { class: 'sub', title: `first ${c.first_message_at}\nlast ${c.last_message_at}` },
          `${plural(c.messages, 'msg')} · ${c.archived} archived · ${fmtTime(c.last_message_at)}`))));
    }
    if (reset && !items.length) list.append(el('li', { class: 'empty' }, 'No conversations.'));
    markSelected(list, 'data-conversation', state.conversation);
    state.convCursor = (data && data.next_cursor) || null;
    more.hidden = !state.convCursor;
  }

  /** Selects a conversation (or none) and loads its messages. */
  function selectConversation(conversation) {
    state.conversation = conversation;
    state.seq.msg++;
    markSelected($('conversations'), 'data-conversation', conversation);
    $('messages').tBodies[0].replaceChildren();
    $('more-messages').hidden = true;
    $('messages-of').textContent = conversation ? `of ${conversation}` : '';
    $('messages-hint').hidden = Boolean(conversation);
    updateEraseButtons();
    return conversation ? loadMessages(true) : null;
  }

  async function loadMessages(reset) {
    const seq = ++state.seq.msg;
    const more = $('more-messages');
    more.hidden = true;
    const q = new URLSearchParams({
      tenant_id: state.tenant, conversation_id: state.conversation, order: 'desc', limit: '50',
    });
    if (!reset && state.msgCursor) q.set('cursor', state.msgCursor);
    const data = await request(`/v1/messages?${q}`);
    if (seq !== state.seq.msg) return;
    const tbody = $('messages').tBodies[0];
    if (reset) tbody.replaceChildren();
    for (const m of (data && data.messages) || []) tbody.append(messageRow(m));
    state.msgCursor = (data && data.next_cursor) || null;
    more.hidden = !state.msgCursor;
  }

  function messageRow(m) {
    const overridden = m.importance_override !== null && m.importance_override !== undefined;
    const importance = el('td', { class: 'num', title: `scored ${fmtNum(m.importance_score, 3)}` },
      fmtNum(overridden ? m.importance_override : m.importance_score, 2));
    if (overridden) importance.append(' ', el('span', { class: 'marker' }, '(override)'));
    const status = m.embedding_status;
    return el('tr', { class: 'message', 'data-message': m.id },
      timeCell(m.created_at),
      el('td', {}, el('span', { class: 'tag' }, m.role)),
      el('td', { class: 'content' }, m.content),
      importance,
      el('td', {}, m.archived ? 'yes' : 'no'),
      el('td', {}, el('span', { class: `tag ${status || ''}` }, EMBEDDING_LABEL[status] || String(status))),
      el('td', { class: 'meta' }, JSON.stringify(m.metadata ?? {})));
  }

  async function eraseConversation() {
    const { tenant, conversation } = state;
    if (!tenant || !conversation) return;
    if (!window.confirm(`Erase conversation "${conversation}" of tenant "${tenant}"?\nIts messages are deleted permanently.`)) return;
    clearBanners();
    const data = await request(
      `/v1/conversations/${enc(conversation)}?${new URLSearchParams({ tenant_id: tenant })}`,
      { method: 'DELETE' });
    showNotice(`Deleted ${plural(data ? data.deleted : 0, 'message')} of conversation ${conversation}.`);
    selectConversation(null);
    await loadConversations(true);
  }

  async function eraseTenant() {
    const tenant = state.tenant;
    if (!tenant) return;
    if (!window.confirm(`Erase ALL messages of tenant "${tenant}"?\nThis cannot be undone.`)) return;
    clearBanners();
    const data = await request(`/v1/tenants/${enc(tenant)}/messages`, { method: 'DELETE' });
    showNotice(`Deleted ${plural(data ? data.deleted : 0, 'message')} of tenant ${tenant}.`);
    selectTenant(null);
    await loadTenants();
  }

  // ---------------------------------------------------------------- search

  /** Reads the search form into a request body; throws (nothing is sent) when it is invalid. */
  function searchBody() {
    const tenant = $('search-tenant').value;
    if (!tenant) throw new Error('Choose a tenant (connect first to load them).');
    const query = $('search-query').value.trim();
    if (!query) throw new Error('Enter a query.');
    const topK = Number.parseInt($('search-top-k').value, 10);
    if (!Number.isInteger(topK)) throw new Error('Top k must be a whole number.');
    const body = { tenant_id: tenant, query, mode: $('search-mode').value, top_k: topK };

    const conversation = $('search-conversation').value.trim();
    if (conversation) body.conversation_id = conversation;

    const minRel = $('search-min-relevance').value.trim();
    if (minRel !== '') {
      const v = Number(minRel);
      if (!Number.isFinite(v)) throw new Error('Min relevance must be a number between 0 and 1.');
      body.min_relevance = v;
    }

    const filters = $('search-filters').value.trim();
    if (filters) {
      try {
        body.filters = JSON.parse(filters);
      } catch (e) {
        throw new Error(`Metadata filters are not valid JSON (nothing was sent): ${e.message}`);
      }
    }
    return body;
  }

  async function search(ev) {
    ev.preventDefault(); // form-action 'none'
    clearBanners();
    const body = searchBody();
    const seq = ++state.seq.search;
    $('search-submit').disabled = true;
    try {
      const data = await request('/v1/memory/search', { method: 'POST', body });
      if (seq !== state.seq.search) return;
      renderSearch(data || {});
    } finally {
      if (seq === state.seq.search) $('search-submit').disabled = false;
    }
  }

  function renderSearch(data) {
    const items = Array.isArray(data.items) ? data.items : [];
    const below = data.below_min_relevance || 0;
    const parts = [
      `total ${data.total}`,
      `mode ${data.mode}`,
      `min_relevance ${data.min_relevance}`,
      `below_min_relevance ${below}`,
      `pending_embeddings ${data.pending_embeddings}`,
    ];
    if (!items.length) {
      parts.unshift(below > 0 ? `nothing relevant stored (${below} below min_relevance)` : 'no results');
    }
    $('search-summary').textContent = parts.join(' · ');
    $('raw-json').textContent = JSON.stringify(data, null, 2);
    $('show-json').disabled = false;
    $('results').replaceChildren(...items.map(resultCard));
  }

  function resultCard(item) {
    const bars = el('div', { class: 'bars' });
    for (const [name, field] of COMPONENTS) bars.append(bar(name, item[field]));
    return el('article', { class: 'result', 'data-message': item.message_id },
      el('div', { class: 'head' },
        el('span', { class: 'tag' }, item.role),
        el('span', { class: 'id', title: 'conversation_id' }, item.conversation_id),
        el('span', { title: item.created_at }, fmtTime(item.created_at)),
        el('span', { class: 'id', title: 'message_id' }, item.message_id)),
      el('p', { class: 'content' }, item.content),
      bars);
  }

  /** One labelled horizontal bar; the `.bar` element's text is exactly the value (or "—"). */
  function bar(name, value) {
    const fill = el('span', { class: 'fill' });
    if (isNum(value)) fill.style.width = `${(clamp01(value) * 100).toFixed(1)}%`; // CSSOM: allowed by the CSP
    return el('div', { class: 'bar-row' },
      el('span', { class: 'bar-label' }, name),
      el('span', { class: 'bar', 'data-component': name },
        el('span', { class: 'track', 'aria-hidden': 'true' }, fill),
        el('span', { class: 'bar-value' }, fmtNum(value, 3))));
  }

  function toggleJson() {
    const pre = $('raw-json');
    pre.hidden = !pre.hidden;
    $('show-json').textContent = pre.hidden ? 'Show JSON' : 'Hide JSON';
    $('show-json').setAttribute('aria-expanded', String(!pre.hidden));
  }

  // ---------------------------------------------------------------- retention

  async function previewRetention() {
    clearBanners();
    const tenant = $('retention-tenant').value;
    if (!tenant) throw new Error('Choose a tenant (connect first to load them).');
    const seq = ++state.seq.retention;
    const q = new URLSearchParams({ tenant_id: tenant, limit: '20' });
    const data = await request(`/v1/admin/retention/preview?${q}`);
    if (seq !== state.seq.retention || !data) return;

    const policy = $('retention-policy');
    policy.replaceChildren();
    for (const [k, v] of Object.entries(data.policy || {})) {
      policy.append(el('dt', {}, k), el('dd', {}, v === null ? '—' : String(v)));
    }
    policy.append(el('dt', {}, 'now'), el('dd', {}, String(data.now)));

    const archive = data.archive || {};
    const del = data.delete || {};
    $('retention-archive-count').textContent = String(archive.count ?? '—');
    $('retention-archive-rule').textContent =
      `created before ${fmtTime(archive.created_before)} or importance below ${archive.importance_below}`;
    $('retention-delete-count').textContent = String(del.count ?? '—');
    $('retention-delete-rule').textContent = `archived before ${fmtTime(del.archived_before)}`;

    const tbody = $('retention-sample').tBodies[0];
    tbody.replaceChildren();
    for (const m of archive.sample || []) {
      const overridden = m.importance_override !== null && m.importance_override !== undefined;
      const why = isBefore(m.created_at, archive.created_before) ? 'age' : 'importance';
      tbody.append(el('tr', { class: 'sample', 'data-message': m.id },
        el('td', { class: 'content' }, m.content),
        timeCell(m.created_at),
        el('td', { class: 'num' }, fmtNum(overridden ? m.importance_override : m.importance_score, 2),
          overridden ? el('span', { class: 'marker' }, ' (override)') : null),
        el('td', {}, why)));
    }
    if (!tbody.rows.length) {
      tbody.append(el('tr', {}, el('td', { colspan: '4', class: 'muted' }, 'Nothing would be archived.')));
    }
  }

  // ---------------------------------------------------------------- health & metrics

  function startHealth() {
    stopHealth();
    state.prevMetrics = null; // the first poll after (re)entering shows "—" for the rate
    pollHealth();
    state.healthTimer = window.setInterval(pollHealth, 5000);
  }

  function stopHealth() {
    if (state.healthTimer !== null) window.clearInterval(state.healthTimer);
    state.healthTimer = null;
  }

  /** One poll of health + metrics; never throws (errors go to the banner, tagged 'health'). */
  function pollHealth() {
    Promise.all([refreshHealth(), refreshMetrics()])
      .then(() => clearError('health'))
      .catch((e) => showError(e, 'health'));
  }

  async function refreshHealth() {
    const h = (await request('/v1/admin/health', { accept: [503] })) || {}; // 503 = degraded, same body
    const ok = (v) => (v === 'ok' ? 'ok' : 'bad');
    $('health-status').replaceChildren(
      el('span', { class: `tag ${ok(h.status)}` }, String(h.status)),
      el('span', {}, 'database ', el('span', { class: `tag ${ok(h.database)}` }, String(h.database))),
      el('span', {}, `version ${h.version}`),
      el('span', {}, `uptime ${fmtDuration(h.uptime_seconds)}`),
      el('span', { class: 'muted' }, `environment ${h.environment}`),
      el('span', { class: 'muted' }, `db latency ${fmtNum(h.latency_ms, 2)} ms`),
      el('span', { class: 'muted', title: h.timestamp }, `at ${fmtTime(h.timestamp)}`));
  }

  /**
   * Parses Prometheus text format into [{name, labels, value}]; comment lines are skipped.
   * Sample line: name{label="value",...} value [timestamp]
   */
  function parseMetrics(text) {
    const samples = [];
    const lineRe = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/;
    const labelRe = /([A-Za-z_]\w*)="((?:[^"\\]|\\.)*)"/g;
    for (const line of text.split('\n')) {
      const trimmed = line.trim();
      if (!trimmed || trimmed.startsWith('#')) continue;
      const m = lineRe.exec(trimmed);
      if (!m) continue;
      const labels = {};
      for (const [, k, v] of (m[2] || '').matchAll(labelRe)) labels[k] = v.replace(/\\(.)/g, '$1');
      const raw = m[3];
      const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
      samples.push({ name: m[1], labels, value });
    }
    return samples;
  }

  /** Reduces the samples to the figures the console needs. */
  function summarizeMetrics(samples) {
    const out = { ingested: 0, pending: null, requests: 0, buckets: new Map() };
    for (const s of samples) {
      const counted = !EXCLUDED_ROUTES.has(s.labels.route);
      if (s.name === 'messages_ingested_total') out.ingested += s.value;
      else if (s.name === 'embeddings_pending') out.pending = (out.pending || 0) + s.value;
      else if (s.name === 'http_requests_total' && counted) out.requests += s.value;
      else if (s.name === 'http_request_duration_seconds_bucket' && counted && 'le' in s.labels) {
        const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
        if (!Number.isNaN(le)) out.buckets.set(le, (out.buckets.get(le) || 0) + s.value);
      }
    }
    return out;
  }

  /**
   * p99 from cumulative buckets (le → count): the smallest le whose count ≥ 0.99·total.
   * Returns text in ms, "> X" when only +Inf qualifies, or "—" when there is no request.
   */
  function p99Text(buckets) {
    const les = [...buckets.keys()].sort((a, b) => a - b);
    if (!les.length) return '—';
    const total = buckets.get(Infinity) ?? buckets.get(les[les.length - 1]);
    if (!(total > 0)) return '—';
    const ms = (sec) => String(Number((sec * 1000).toPrecision(6)));
    for (const le of les) {
      if (buckets.get(le) >= 0.99 * total) {
        if (le !== Infinity) return ms(le);
        const finite = les.filter(Number.isFinite);
        return finite.length ? `> ${ms(finite[finite.length - 1])}` : '—';
      }
    }
    return '—';
  }

  async function refreshMetrics() {
    const text = await request('/metrics', { text: true });
    const now = performance.now();
    const cur = summarizeMetrics(parseMetrics(text));
    const prev = state.prevMetrics;
    state.prevMetrics = { ...cur, at: now };

    $('fig-ingested').textContent = String(cur.ingested);
    $('fig-pending').textContent = cur.pending === null ? '—' : String(cur.pending);

    // A counter going down means the server restarted: treat like a first poll.
    const delta = prev ? cur.requests - prev.requests : -1;
    const seconds = prev ? (now - prev.at) / 1000 : 0;
    if (delta >= 0 && seconds > 0) {
      const rate = delta / seconds;
      $('fig-rate').textContent = rate.toFixed(rate < 10 ? 2 : 1);
    } else {
      $('fig-rate').textContent = '—';
    }

    // p99 over the last interval when it saw requests, otherwise over everything since start.
    let buckets = cur.buckets;
    if (prev && delta > 0) {
      const diff = new Map();
      for (const [le, count] of cur.buckets) diff.set(le, count - (prev.buckets.get(le) || 0));
      if ([...diff.values()].every((v) => v >= 0)) buckets = diff;
    }
    $('fig-p99').textContent = p99Text(buckets);
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    $('connect-form').addEventListener('submit', guard(connect));
    for (const t of TABS) $(`tab-${t}`).addEventListener('click', () => showTab(t));
    $('error-close').addEventListener('click', () => clearError());

    // Event delegation: the lists are rebuilt on every load.
    $('tenants').addEventListener('click', guard((ev) => {
      const b = ev.target.closest('.tenant');
      if (b) {
        clearBanners();
        return selectTenant(b.getAttribute('data-tenant'));
      }
      return null;
    }));
    $('conversations').addEventListener('click', guard((ev) => {
      const b = ev.target.closest('.conversation');
      if (b) {
        clearBanners();
        return selectConversation(b.getAttribute('data-conversation'));
      }
      return null;
    }));
    $('more-conversations').addEventListener('click', guard(() => loadConversations(false)));
    $('more-messages').addEventListener('click', guard(() => loadMessages(false)));
    $('erase-conversation').addEventListener('click', guard(eraseConversation));
    $('erase-tenant').addEventListener('click', guard(eraseTenant));

    $('search-form').addEventListener('submit', guard(search));
    $('show-json').addEventListener('click', toggleJson);
    $('retention-preview').addEventListener('click', guard(previewRetention));

    // Pause the health polling while the browser tab itself is hidden.
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) stopHealth();
      else if (!$('view-health').hidden) startHealth();
    });

    // Last line of defence: show anything that slipped through instead of logging it.
    window.addEventListener('unhandledrejection', (ev) => {
      ev.preventDefault();
      showError(ev.reason);
    });
  }

  init();
})();
