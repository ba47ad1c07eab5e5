/*
 * app.js - eddy's status page (docs/http.md, "The status page").
 *
 * Polls v1/status every 2 s and renders one card per service, in the order
 * of the answer (red, yellow, green, unknown, then by name). While the URL
 * hash names a key (#service=NAME; every field=value pair is a filter), a
 * drill-down panel shows that key's endpoints and tenants over the last 15
 * minutes (v1/query by=endpoint and by=tenant_id), refreshed with each poll.
 *
 * Invariants: nothing here throws out of a poll or an event handler; a
 * failed request shows in the banner (role=alert) until the same request
 * succeeds, and the page keeps the last data it had. Text from the server
 * only ever goes in through text nodes (no innerHTML). Hooks for tests:
 * article.service[data-service][data-state], #services[data-now] (the
 * `now` of the rendered answer), #drill tr[data-group].
 */
'use strict';

const POLL_MS = 2000;
const TIMEOUT_MS = 5000;
const STATES = ['red', 'yellow', 'green', 'unknown'];
const DRILL = [
  { by: 'endpoint', label: 'Endpoint', limit: Infinity },
  { by: 'tenant_id', label: 'Tenant', limit: 20 },
];
const errors = new Map(); // request -> message, shown in the banner
let lastOk = 0; // Date.now() of the last good v1/status
let lastNow = null; // its `now` (event time, epoch ms)

const $ = (id) => document.getElementById(id);
const isNum = (x) => typeof x === 'number' && Number.isFinite(x);
const enc = encodeURIComponent;

const fmt = {
  int: (x) => (isNum(x) ? Math.round(x).toLocaleString('en-US') : '–'),
  pct: (x) => (isNum(x) ? (x * 100).toFixed(Math.abs(x) < 0.1 ? 2 : 1) + '%' : '–'),
  burn: (x) => (isNum(x) ? x.toFixed(1) + '×' : '–'),
  ms: (x) => (!isNum(x) ? '–' : x >= 1000 ? (x / 1000).toFixed(2) + ' s'
    : x.toFixed(x < 10 ? 1 : 0) + ' ms'),
};

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) node.setAttribute(k, v);
  for (const c of children) if (c != null) node.append(c);
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v != null) node.setAttribute(k, v);
  for (const c of children) if (c != null) node.append(c);
  return node;
}

/* GET a JSON answer; rejects with a readable message (the server's
 * {"error": ...} when there is one). */
async function getJSON(path) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT_MS);
  try {
    const res = await fetch(path, { signal: ctl.signal, cache: 'no-store' });
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error(`HTTP ${res.status}${body && body.error ? ': ' + body.error : ''}`);
    if (body === null || typeof body !== 'object') throw new Error('the answer is not JSON');
    return body;
  } catch (e) {
    if (e.name === 'AbortError') throw new Error(`no answer within ${TIMEOUT_MS / 1000} s`);
    throw new Error(e instanceof TypeError ? `cannot reach eddy (${e.message})` : e.message);
  } finally {
    clearTimeout(timer);
  }
}

/* report(request, error or null): sets or clears the banner line of one request. */
function report(request, err) {
  if (err) errors.set(request, `${request}: ${err.message || err}`);
  else errors.delete(request);
  const banner = $('banner');
  banner.replaceChildren(...[...errors.values()].map((m) => el('p', {}, m)));
  banner.hidden = errors.size === 0;
}

function tick() {
  const u = $('updated');
  if (!lastOk) {
    u.textContent = errors.has('v1/status') ? 'no data yet' : 'loading…';
    return;
  }
  const ago = Math.max(0, Math.floor((Date.now() - lastOk) / 1000));
  const upTo = isNum(lastNow) ? ` · data up to ${new Date(lastNow).toISOString().slice(11, 16)} UTC` : '';
  u.textContent = `updated ${ago}s ago${upTo}`;
  u.classList.toggle('stale', ago >= 10);
}

/* ---- service cards ---- */

function keyHash(svc) {
  const key = svc.key && typeof svc.key === 'object' ? svc.key : { service: svc.name };
  return Object.entries(key).map(([k, v]) => `${enc(k)}=${enc(String(v))}`).join('&');
}

function stat(label, value) {
  return el('div', {}, el('dt', {}, label), el('dd', {}, value));
}

function budgetBar(remaining) {
  const known = isNum(remaining);
  const share = known ? Math.min(1, Math.max(0, remaining)) : 0;
  const level = !known ? 'unknown' : share < 0.25 ? 'red' : share < 0.5 ? 'yellow' : 'green';
  return el('div', { class: 'budget' },
    el('div', { class: 'budget-label' }, el('span', {}, 'error budget left'),
      el('span', {}, known ? fmt.pct(share) : '–')),
    el('div', {
      class: 'bar', role: 'meter', 'aria-label': 'error budget remaining', 'data-level': level,
      'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': known ? Math.round(share * 100) : null,
    }, el('span', { style: `width:${(share * 100).toFixed(1)}%` })));
}

/* A small line chart of `lines` ({key, label}) over the series, y from 0,
 * with an optional dashed threshold; gaps where a value is missing. */
function chart(title, series, lines, threshold, format) {
  const W = 240, H = 60, PAD = 3;
  const points = (Array.isArray(series) ? series : []).filter((p) => p && isNum(p.window_start));
  const values = points.flatMap((p) => lines.map((l) => p[l.key])).filter(isNum);
  if (isNum(threshold)) values.push(threshold);
  const max = Math.max(0, ...values) || 1;
  const t0 = points.length ? points[0].window_start : 0;
  const t1 = points.length ? points[points.length - 1].window_start : 0;
  const x = (t) => (t1 > t0 ? ((t - t0) / (t1 - t0)) * W : W / 2).toFixed(1);
  const y = (v) => (H - PAD - (v / max) * (H - 2 * PAD)).toFixed(1);
  const plot = svg('svg', {
    viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img',
    'aria-label': `${title}, ${points.length} windows, scale 0 to ${format(max)}`,
  });
  if (isNum(threshold)) {
    plot.append(svg('line', { class: 'threshold', x1: 0, x2: W, y1: y(threshold), y2: y(threshold) }));
  }
  for (const line of lines) {
    let d = '', pen = 'M';
    for (const p of points) {
      if (!isNum(p[line.key])) { pen = 'M'; continue; }
      d += `${pen}${x(p.window_start)} ${y(p[line.key])}${pen === 'M' ? 'h0' : ''}`;
      pen = 'L';
    }
    if (d) plot.append(svg('path', { class: `line ${line.key}`, d }));
  }
  const legend = lines.map((l) => el('span', { class: `key ${l.key}` }, l.label));
  return el('figure', { class: 'chart' },
    el('figcaption', {}, el('span', {}, title, ' ', ...legend), el('span', { class: 'muted' }, `max ${format(max)}`)),
    plot);
}

function alertList(alerts) {
  if (!Array.isArray(alerts) || alerts.length === 0) return el('p', { class: 'alerts none' }, 'no alerts firing');
  return el('ul', { class: 'alerts', 'aria-label': 'firing alerts' },
    ...alerts.map((a) => el('li', {}, typeof a === 'string' ? a : String(a && a.alert))));
}

function card(svc) {
  const state = STATES.includes(svc.state) ? svc.state : 'unknown';
  const l5 = svc.last_5m || {};
  const hash = keyHash(svc);
  return el('article', { class: 'service', 'data-service': svc.name, 'data-state': state, 'data-hash': hash },
    el('header', {},
      el('h2', {}, el('a', { href: `#${hash}` }, String(svc.name))),
      el('span', { class: 'badge', 'data-state': state }, state)),
    el('dl', { class: 'stats' },
      stat('requests 5m', fmt.int(l5.requests)), stat('error rate', fmt.pct(l5.error_rate)),
      stat('burn rate', fmt.burn(l5.burn_rate)), stat('p50', fmt.ms(l5.latency_p50)),
      stat('p95', fmt.ms(l5.latency_p95)), stat('p99', fmt.ms(l5.latency_p99))),
    budgetBar(svc.budget_remaining),
    chart('latency', svc.series, [
      { key: 'latency_p50', label: 'p50' }, { key: 'latency_p95', label: 'p95' },
      { key: 'latency_p99', label: 'p99' }], svc.latency_threshold_ms, fmt.ms),
    chart('error rate', svc.series, [{ key: 'error_rate', label: '5xx' }],
      isNum(svc.error_budget) ? svc.error_budget * 14.4 : null, fmt.pct),
    alertList(svc.alerts));
}

function renderStatus(status) {
  const box = $('services');
  const focused = document.activeElement && document.activeElement.closest('article.service');
  const focusedHash = focused && focused.dataset.hash;
  const services = Array.isArray(status.services) ? status.services : [];
  $('topology').textContent = status.topology || 'eddy';
  const red = services.filter((s) => s.state === 'red').length;
  document.title = `${red ? `(${red} red) ` : ''}${status.topology || 'eddy'} status`;
  box.replaceChildren(...services.map(card));
  if (!services.length) box.append(el('p', { class: 'muted' }, 'No services yet: waiting for data.'));
  box.dataset.now = status.now;
  box.setAttribute('aria-busy', 'false');
  const inst = status.instances || {};
  report('instances', isNum(inst.asked) && inst.answered < inst.asked
    ? `${inst.answered} of ${inst.asked} instances answered, figures are partial` : null);
  markSelected();
  if (focusedHash) {
    const link = box.querySelector(`article[data-hash="${CSS.escape(focusedHash)}"] a`);
    if (link) link.focus();
  }
}

/* ---- drill-down ---- */

function selection() {
  const hash = location.hash.replace(/^#/, '');
  const params = new URLSearchParams(hash);
  if (!hash || [...params.keys()].length === 0) return null;
  const query = [...params].map(([k, v]) => `${enc(k)}=${enc(v)}`).join('&');
  return { hash: location.hash, params, query };
}

function markSelected() {
  const sel = selection();
  for (const a of document.querySelectorAll('article.service')) {
    const on = sel !== null && `#${a.dataset.hash}` === `#${sel.query}`;
    a.classList.toggle('selected', on);
    if (on) a.setAttribute('aria-current', 'true'); else a.removeAttribute('aria-current');
  }
}

function metric(row, name) {
  const m = (row && row.metrics) || {};
  if (name === 'errors' && !isNum(m.errors) && isNum(m.error_rate) && isNum(m.requests)) {
    return Math.round(m.error_rate * m.requests);
  }
  return m[name];
}

function groupText(row, by) {
  const v = row && row.group ? row.group[by] : null;
  return v === null || v === undefined ? '(none)' : String(v);
}

function table(d, rows) {
  const num = (row, name) => (isNum(metric(row, name)) ? metric(row, name) : 0);
  const sorted = rows.slice().sort((a, b) => num(b, 'errors') - num(a, 'errors')
    || num(b, 'requests') - num(a, 'requests') || groupText(a, d.by).localeCompare(groupText(b, d.by)));
  if (!sorted.length) return el('p', { class: 'muted' }, 'No requests in the last 15 minutes.');
  const shown = sorted.slice(0, d.limit);
  const head = [d.label, 'Requests', 'Errors', 'Error rate', 'p95', 'p99'];
  const t = el('table', {},
    el('thead', {}, el('tr', {}, ...head.map((h, i) => el('th', { scope: 'col', class: i ? 'num' : null }, h)))),
    el('tbody', {}, ...shown.map((row) => el('tr', { 'data-group': groupText(row, d.by) },
      el('th', { scope: 'row' }, groupText(row, d.by)),
      el('td', { class: 'num' }, fmt.int(metric(row, 'requests'))),
      el('td', { class: 'num' }, fmt.int(metric(row, 'errors'))),
      el('td', { class: 'num' }, fmt.pct(metric(row, 'error_rate'))),
      el('td', { class: 'num' }, fmt.ms(metric(row, 'latency_p95'))),
      el('td', { class: 'num' }, fmt.ms(metric(row, 'latency_p99')))))));
  const more = sorted.length - shown.length;
  return more > 0 ? el('div', {}, t, el('p', { class: 'muted' }, `${more} more not shown`)) : t;
}

async function refreshDrill() {
  const sel = selection();
  if (!sel) return;
  await Promise.all(DRILL.map(async (d) => {
    const request = `v1/query by ${d.by}`;
    const box = $(`drill-${d.by}`);
    try {
      const answer = await getJSON(`v1/query?by=${enc(d.by)}&last=15m&${sel.query}`);
      if (location.hash !== sel.hash) return; // the selection changed meanwhile
      box.replaceChildren(table(d, Array.isArray(answer.rows) ? answer.rows : []));
      report(request, null);
    } catch (e) {
      if (location.hash !== sel.hash) return;
      report(request, e);
      if (!box.querySelector('table')) box.replaceChildren(el('p', { class: 'error' }, e.message));
    }
  }));
}

function onHash() {
  const sel = selection();
  for (const d of DRILL) report(`v1/query by ${d.by}`, null);
  $('drill').hidden = !sel;
  document.body.classList.toggle('drilling', Boolean(sel));
  markSelected();
  if (!sel) return;
  $('drill-title').textContent = [...sel.params.values()].join(' · ');
  for (const d of DRILL) $(`drill-${d.by}`).replaceChildren(el('p', { class: 'muted' }, 'loading…'));
  refreshDrill();
}

async function poll() {
  try {
    const status = await getJSON('v1/status');
    lastOk = Date.now();
    lastNow = isNum(status.now) ? status.now : null;
    renderStatus(status);
    report('v1/status', null);
  } catch (e) {
    report('v1/status', e);
  }
  tick();
  try {
    await refreshDrill();
  } catch (e) {
    report('drill-down', e);
  }
  setTimeout(poll, POLL_MS);
}

/* A click anywhere on a card selects it, as its link does. */
$('services').addEventListener('click', (e) => {
  const article = e.target.closest('article.service');
  if (article && !e.target.closest('a')) location.hash = article.dataset.hash;
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && selection()) location.hash = '';
});
window.addEventListener('hashchange', onHash);
setInterval(tick, 1000);
onHash();
poll();
