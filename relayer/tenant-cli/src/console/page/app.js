// avpn console page: polls /api/snapshot (ETag, 304 when unchanged) and
// renders it; a click on a policy-matrix cell asks /api/explain. Plain DOM
// and SVG, no libraries; every chain string is inserted as text, never HTML.
'use strict';

const POLL_MS = 1000;
const SVG_NS = 'http://www.w3.org/2000/svg';

let etag = null;
let snap = null;
// Open explanations by network id: {from, to, data}.
const explained = new Map();

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function table(headers, rows, attrs) {
  return el('table', attrs,
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows));
}

function short(addr) {
  return addr && addr.length > 20 ? addr.slice(0, 12) + '…' + addr.slice(-6) : addr;
}

async function poll() {
  try {
    const headers = etag ? { 'If-None-Match': etag } : {};
    const r = await fetch('/api/snapshot', { headers, cache: 'no-store' });
    if (r.status === 200) {
      etag = r.headers.get('ETag');
      snap = await r.json();
      render();
    } else if (r.status !== 304) {
      throw new Error('HTTP ' + r.status);
    }
    setConn(true, '');
  } catch (e) {
    setConn(false, String(e));
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function setConn(ok, why) {
  const c = document.getElementById('conn');
  c.className = ok ? 'conn' : 'conn bad';
  c.textContent = ok ? 'live · updated ' + new Date().toLocaleTimeString() : 'console unreachable: ' + why;
}

function render() {
  document.getElementById('who').textContent =
    'viewer ' + snap.viewer + ' · ' + snap.chain_id + ' · registry ' + short(snap.registry);
  const err = document.getElementById('error');
  err.hidden = !snap.error;
  err.textContent = snap.error ? 'Chain read failed (showing the last good state): ' + snap.error : '';
  renderRelayer();
  const main = document.getElementById('networks');
  main.replaceChildren(...snap.networks.map(renderNetwork));
  if (snap.networks.length === 0) {
    main.append(el('p', {}, 'No networks to show. Networks joined as a participant need --network <id>.'));
  }
  if (snap.networks_truncated) {
    main.append(el('p', { class: 'note' }, 'Only the newest networks are shown (cap reached).'));
  }
  const missing = document.getElementById('missing');
  missing.hidden = snap.missing.length === 0;
  missing.replaceChildren(el('h3', {}, 'Networks not shown'),
    el('ul', {}, snap.missing.map((m) => el('li', {}, '#' + m.id + ': ' + m.reason))));
}

function renderRelayer() {
  const box = document.getElementById('relayer');
  const r = snap.relayer;
  box.hidden = !r;
  if (!r) return;
  const parts = [el('h3', {}, 'Relayer ', el('span', { class: 'mono' }, r.url))];
  if (r.error) {
    parts.push(el('p', { class: 'note' }, 'not reachable: ' + r.error));
  } else {
    const peers = (r.status && r.status.dataplane && r.status.dataplane.peers) || [];
    if (Array.isArray(peers) && peers.length) {
      parts.push(table(['peer', 'state', 'remote', 'RTT ms', 'tx', 'rx'], peers.map((p) =>
        el('tr', {},
          el('td', { class: 'mono' }, short(p.provider || '')),
          el('td', {}, p.state ?? ''),
          el('td', { class: 'mono' }, p.remote ?? ''),
          el('td', {}, p.rtt_us != null ? (p.rtt_us / 1000).toFixed(1) : '-'),
          el('td', {}, p.tx_bytes ?? ''),
          el('td', {}, p.rx_bytes ?? '')))));
    }
    // Keep "full status" open across refreshes.
    const wasOpen = box.querySelector('details')?.open;
    parts.push(el('details', { open: !!wasOpen }, el('summary', {}, 'full status'),
      el('pre', {}, JSON.stringify(r.status, null, 2))));
  }
  box.replaceChildren(...parts);
}

function renderNetwork(n) {
  const sec = el('section', { class: 'network', 'data-testid': 'network-' + n.id, 'data-network': n.id });
  sec.append(
    el('h2', {}, n.name + ' ', el('span', { class: 'meta' }, '#' + n.id),
      el('span', { class: 'badge ' + n.role }, n.role === 'owner' ? 'owner' : 'participant'),
      n.status !== 'open' ? el('span', { class: 'badge' }, n.status) : null),
    el('div', { class: 'meta' },
      'IPv4 ' + n.cidr + (n.cidr6 ? ' · IPv6 ' + n.cidr6 : '') + ' · default ' + n.default_action +
      ' · revision ' + n.revision + (n.role === 'owner' ? '' : ' · owner ' + n.owner)));
  if (n.truncated) sec.append(el('p', { class: 'note' }, 'Some lists were cut at the console\'s caps.'));
  for (const p of n.problems) sec.append(el('p', { class: 'note' }, p));
  if (n.role === 'participant') {
    sec.append(el('p', { class: 'note' },
      'Participant view: your members, the owner\'s members they may reach or be reached by, and their cells of the matrix.'));
  }
  sec.append(el('h3', {}, 'Members'), renderMembers(n));
  sec.append(el('h3', {}, 'Topology'), renderTopology(n));
  sec.append(el('h3', {}, 'Policy matrix (rows send, columns receive)'), renderMatrix(n));
  sec.append(el('h3', {}, 'Sites (by site class)'), renderSites(n));
  sec.append(el('h3', {}, 'Providers'), table(['provider', 'authorized', 'members'],
    n.providers.map((p) => el('tr', {},
      el('td', { class: 'mono' }, p.address),
      el('td', {}, p.authorized ? 'yes' : 'hosting only'),
      el('td', {}, p.members.join(', '))))));
  if (n.participants) {
    sec.append(el('h3', {}, 'Participants'), table(['address', 'invitation', 'tags', 'members'],
      n.participants.map((p) => el('tr', { 'data-testid': 'participant-row' },
        el('td', { class: 'mono' }, p.address), el('td', {}, '#' + p.invitation_id),
        el('td', {}, p.tags.join(', ')), el('td', {}, p.members)))));
  }
  if (n.invitations) {
    sec.append(el('h3', {}, 'Invitations'), table(['id', 'tags', 'uses', 'expires', 'members per claimant'],
      n.invitations.map((i) => el('tr', { 'data-testid': 'invitation-row' },
        el('td', {}, '#' + i.id), el('td', {}, i.tags.join(', ')), el('td', {}, i.uses),
        el('td', {}, new Date(i.expires * 1000).toISOString().slice(0, 16).replace('T', ' ')),
        el('td', {}, i.max_members)))));
  }
  return sec;
}

function renderMembers(n) {
  const rules = (label, list) => list.length
    ? el('div', {}, label, el('ol', { class: 'rules' }, list.map((r) => el('li', {}, r))))
    : null;
  return table(['name', 'IPv4', 'IPv6', 'tags', 'service', 'lease (owner/dseq/gseq/oseq/provider/bseq)', 'added by', 'policy'],
    n.members.map((m) => el('tr', { 'data-testid': 'member-row', 'data-name': m.name },
      el('td', {}, m.name),
      el('td', { class: 'mono' }, m.ip),
      el('td', { class: 'mono' }, m.ip6 || ''),
      el('td', {}, m.tags.join(', ')),
      el('td', {}, m.service || ''),
      el('td', { class: 'mono' }, m.lease || (m.detailed ? '' : 'not yours')),
      el('td', { class: 'mono' }, m.added_by.startsWith('akash') ? short(m.added_by) : m.added_by),
      el('td', {}, m.detailed ? [rules('ingress', m.ingress), rules('egress', m.egress)] : '')),
    ), { 'data-testid': 'members' });
}

function renderSites(n) {
  if (!n.sites.length) return el('p', {}, 'No site classes.');
  const owner = n.role === 'owner';
  return table(['site class', 'members', ...(owner ? ['participants granted it'] : [])],
    n.sites.map((s) => el('tr', {},
      el('td', {}, s.tag),
      el('td', {}, s.members.join(', ')),
      owner ? el('td', { class: 'mono' }, s.participants.map(short).join(', ')) : null)));
}

function renderMatrix(n) {
  const m = n.matrix;
  if (!m.names.length) return el('p', {}, 'No members.');
  const wrap = el('div', { 'data-testid': 'matrix' });
  const open = explained.get(n.id);
  const head = el('tr', {}, el('th', {}, 'from \\ to'), m.names.map((name) => el('th', { class: 'rot' }, name)));
  const rows = m.names.map((from, i) => el('tr', {}, el('th', {}, from), m.names.map((to, j) => {
    const c = m.cells[i][j];
    if (!c) return el('td', { class: 'hidden', title: 'not yours' });
    const sel = open && open.from === from && open.to === to;
    return el('td', {}, el('button', {
      class: 'cell ' + c.state + (sel ? ' sel' : ''),
      'data-from': from, 'data-to': to, 'data-state': c.state,
      title: from + ' → ' + to + ': ' + c.summary,
      onclick: () => explainCell(n, from, to),
    }, c.state === 'allow' ? 'all' : c.state === 'deny' ? 'deny' : c.summary));
  })));
  wrap.append(el('table', { class: 'matrix' }, el('thead', {}, head), el('tbody', {}, rows)));
  if (m.truncated) wrap.append(el('p', { class: 'note' }, 'Matrix limited to the first members.'));
  if (open && open.data) wrap.append(renderExplain(n, open));
  return wrap;
}

async function explainCell(n, from, to) {
  const q = new URLSearchParams({ network: n.id, from, to });
  const entry = { from, to, data: null };
  explained.set(n.id, entry);
  try {
    const r = await fetch('/api/explain?' + q, { cache: 'no-store' });
    entry.data = await r.json();
  } catch (e) {
    entry.data = { error: String(e) };
  }
  if (explained.get(n.id) === entry) render();
}

// One side's decider as avpn_model serializes it: {"rule": {index,
// verdict}} or {"default": verdict}. Rules are numbered from 1, as in
// `avpn explain`.
function decision(d, text) {
  const verdict = (d.rule ? d.rule.verdict : d.default).toLowerCase();
  const v = el('span', { class: 'verdict-' + verdict }, verdict);
  return d.rule
    ? el('span', {}, v, ' by rule #' + (d.rule.index + 1) + (text ? ': ' + text : ''))
    : el('span', {}, v, ' by the network default');
}

function renderExplain(n, open) {
  const d = open.data;
  const box = el('div', { class: 'explain', 'data-testid': 'explain' },
    el('strong', {}, open.from + ' → ' + open.to), ' ',
    el('span', { class: 'meta' }, '(network default: ' + n.default_action + '; a flow passes only when the sender\'s egress and the receiver\'s ingress both allow it)'));
  if (d.error) {
    box.append(el('p', { class: 'note' }, d.error));
    return box;
  }
  box.append(el('p', {}, 'Allowed: ' + d.summary));
  box.append(table(['protocol', 'ports', 'verdict', open.from + ' egress', open.to + ' ingress'],
    d.segments.map((s) => el('tr', { 'data-testid': 'segment' },
      el('td', {}, s.protocol),
      el('td', {}, s.ports ? (s.ports[0] === s.ports[1] ? s.ports[0] : s.ports[0] + '–' + s.ports[1]) : ''),
      el('td', { class: 'verdict-' + s.explanation.verdict.toLowerCase() }, s.explanation.verdict.toLowerCase()),
      el('td', {}, decision(s.explanation.egress, s.egress_rule)),
      el('td', {}, decision(s.explanation.ingress, s.ingress_rule))))));
  return box;
}

// Providers as boxes holding their (visible) members; arrows for every
// pair with some allowed flow.
function renderTopology(n) {
  const groups = new Map();
  for (const m of n.members) {
    const key = m.provider || '';
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(m);
  }
  const BOX_W = 250, ROW_H = 34, HEAD = 28, GAP = 40, PER_LINE = 3;
  const keys = [...groups.keys()].sort((a, b) => (a === '') - (b === '') || a.localeCompare(b));
  const lineHeights = [];
  keys.forEach((k, i) => {
    const line = Math.floor(i / PER_LINE);
    lineHeights[line] = Math.max(lineHeights[line] || 0, HEAD + groups.get(k).length * ROW_H + 10);
  });
  const lineY = [];
  let y = 20;
  for (const h of lineHeights) { lineY.push(y); y += h + GAP; }
  const width = Math.min(keys.length, PER_LINE) * (BOX_W + GAP) + GAP;
  const root = svg('svg', { class: 'topology', width, height: Math.max(y, 60), viewBox: `0 0 ${width} ${Math.max(y, 60)}`, 'data-testid': 'topology' });
  root.append(svg('defs', {}, svg('marker', { id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#2e9b4a' }))));
  const pos = new Map();
  const boxes = svg('g', {});
  keys.forEach((k, i) => {
    const x = GAP + (i % PER_LINE) * (BOX_W + GAP);
    const by = lineY[Math.floor(i / PER_LINE)];
    const members = groups.get(k);
    const g = svg('g', { class: 'provider' });
    g.append(svg('rect', { x, y: by, width: BOX_W, height: HEAD + members.length * ROW_H + 6, rx: 8 }));
    g.append(svg('text', { class: 'title', x: x + 10, y: by + 18 }, k ? 'provider ' + short(k) : 'providers not shown'));
    g.append(svg('title', {}, k || 'members you may reach, on providers of others'));
    members.forEach((m, j) => {
      const my = by + HEAD + j * ROW_H;
      const mg = svg('g', { class: 'member' + (m.added_by === 'you' ? ' own' : ''), 'data-name': m.name });
      mg.append(svg('rect', { x: x + 10, y: my, width: BOX_W - 20, height: ROW_H - 6, rx: 5 }));
      mg.append(svg('text', { x: x + 18, y: my + 18 }, m.name + '  ' + m.ip));
      mg.append(svg('title', {}, m.name + ' ' + m.ip + (m.ip6 ? ' ' + m.ip6 : '') + (m.lease ? '\nlease ' + m.lease : '')));
      g.append(mg);
      pos.set(m.name, { x: x + BOX_W / 2, y: my + (ROW_H - 6) / 2, left: x + 10, right: x + BOX_W - 10 });
    });
    boxes.append(g);
  });
  const flows = svg('g', {});
  const mx = n.matrix;
  mx.names.forEach((from, i) => mx.names.forEach((to, j) => {
    const c = mx.cells[i][j];
    const a = pos.get(from), b = pos.get(to);
    if (!c || c.state === 'deny' || from === to || !a || !b) return;
    const ax = b.x >= a.x ? a.right : a.left;
    const bx = b.x > a.x ? b.left : b.right;
    const bend = a.x === b.x ? 40 : 0;
    const path = svg('path', { class: 'flow', d: `M ${ax} ${a.y} C ${ax + bend} ${a.y}, ${bx + bend} ${b.y}, ${bx} ${b.y}` });
    path.append(svg('title', {}, from + ' → ' + to + ': ' + c.summary));
    flows.append(path);
  }));
  root.append(boxes, flows);
  return root;
}

poll();
