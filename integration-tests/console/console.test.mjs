// Browser test of `avpn console` against a running localnet.
//
// Run by relayer/tenant-cli/tests/console_browser.rs (which checks that
// node, Chromium and the localnet exist). Environment:
//   AVPN_BIN            the avpn binary
//   AVPN_LOCALNET_ENV   the localnet env file
//   AVPN_REPO           the repository root (for localnet/bin/akash)
//
// Creates a network with members as `tenant`, serves `avpn console` for the
// owner, checks members and IPs, a member added afterwards appearing without
// reload, the explanation of a denied matrix cell; then `tenant-b` claims an
// invitation and adds a member, and a second console for tenant-b must show
// only that member. Chromium is the system one, never downloaded. Every
// process started here is stopped on the way out, also on failure.

import { chromium } from 'playwright-core';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// Two blocks plus a refresh, with room for a loaded machine.
const LIVE_DEADLINE_MS = 20_000;
const START_DEADLINE_MS = 60_000;

const bin = need('AVPN_BIN');
const envFile = need('AVPN_LOCALNET_ENV');
const repo = need('AVPN_REPO');
const shim = path.join(repo, 'localnet/bin/akash');

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

function log(...a) {
  console.log('[console-test]', ...a);
}

// --- cleanup -------------------------------------------------------------

const children = [];
const tempDirs = [];
let browser = null;

function killChildren() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try { c.kill('SIGKILL'); } catch { /* already gone */ }
    }
  }
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
}
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => { killChildren(); process.exit(1); });
}

// --- localnet --------------------------------------------------------------

function loadEnv(file) {
  const out = spawnSync('bash', ['-c', 'set -a; . "$1"; set +a; env -0', 'env', file], { encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`cannot load ${file}: ${out.stderr}`);
  const vars = {};
  for (const kv of out.stdout.split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) vars[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return vars;
}

const ln = loadEnv(envFile);
const shellEnv = { ...process.env, ...ln, AVPN_LOCALNET_HOME: path.dirname(envFile) };
for (const k of ['CHAIN_ID', 'RPC', 'REGISTRY', 'TENANT', 'TENANT_B', 'PROVIDER_1', 'PROVIDER_2', 'TX_FLAGS']) {
  if (!ln[k]) throw new Error(`${envFile} has no ${k}`);
}

// Sends one registry message; retries when another client of the same
// account raced us for the sequence number. Returns the included tx JSON.
function tx(from, msg) {
  const args = ['tx', 'wasm', 'execute', ln.REGISTRY, JSON.stringify(msg), '--from', from,
    ...ln.TX_FLAGS.split(/\s+/).filter(Boolean)];
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync(shim, args, { env: shellEnv, encoding: 'utf8', timeout: 90_000 });
    if (r.status === 0) return JSON.parse(r.stdout);
    const why = `${r.stderr}\n${r.stdout}`;
    if (attempt < 6 && /sequence/i.test(why)) {
      log(`sequence race on ${Object.keys(msg)[0]}, retrying`);
      continue;
    }
    throw new Error(`tx ${Object.keys(msg)[0]} as ${from} failed: ${why}`);
  }
}

function eventAttr(txResult, action, key) {
  for (const e of txResult.events || []) {
    if (e.type !== `wasm-${action}`) continue;
    for (const a of e.attributes) if (a.key === key) return a.value;
  }
  throw new Error(`no ${key} in wasm-${action}: ${JSON.stringify(txResult.events)}`);
}

let dseq = Date.now() % 1_000_000_000;
function lease(owner, provider) {
  dseq += 1;
  return { owner, dseq, gseq: 1, oseq: 1, provider, bseq: 0 };
}

// --- the console -----------------------------------------------------------

// Starts `avpn console` and resolves with its URL (the line it prints);
// `network`, when given, is named with --network.
function startConsole(address, network) {
  const args = ['--chain-id', ln.CHAIN_ID, '--rpc', ln.RPC, '--registry', ln.REGISTRY,
    'console', '--listen', '127.0.0.1:0', '--address', address];
  if (network !== undefined) args.push('--network', String(network));
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, HOME: os.tmpdir() } });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`console did not start: ${stderr}`)), START_DEADLINE_MS);
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.match(/(http:\/\/\S+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`console exited (${code}): ${stderr}`)); });
  });
}

async function memberNames(page, network) {
  return page.$$eval(`[data-testid="network-${network}"] [data-testid="member-row"]`,
    (rows) => rows.map((r) => r.dataset.name));
}

function assert(cond, what) {
  if (!cond) throw new Error(`assertion failed: ${what}`);
}

// --- the test ----------------------------------------------------------------

async function main() {
  const name = `console-${process.pid}-${Date.now() % 100000}`;
  log('creating network', name);
  const created = tx('tenant', { create_network: { name, cidr: '100.64.0.0/24', cidr6: 'fd00:77::/64', tags: ['web', 'db'] } });
  const net = Number(eventAttr(created, 'create_network', 'network_id'));
  try {
    await scenario(net);
  } finally {
    try { tx('tenant', { close_network: { network_id: net } }); } catch (e) { log('close failed:', e.message); }
  }
}

async function scenario(net) {
  const add = (from, owner, member, provider, tags) =>
    tx(from, { add_member: { network_id: net, name: member, lease: lease(owner, provider), tags } });
  add('tenant', ln.TENANT, 'web-1', ln.PROVIDER_1, ['web']);
  add('tenant', ln.TENANT, 'db-1', ln.PROVIDER_2, ['db']);
  tx('tenant', { set_policy: { network_id: net, name: 'db-1', policy: {
    ingress: [{ peers: { tags: ['web'] }, protocol: 'tcp', ports: { start: 5432, end: 5432 }, action: 'allow' }],
    egress: [] } } });
  tx('tenant', { set_policy: { network_id: net, name: 'web-1', policy: {
    ingress: [{ peers: { tags: ['db'] }, protocol: 'any', action: 'deny' }],
    egress: [{ peers: { members: ['db-1'] }, protocol: 'tcp', ports: { start: 5432, end: 5432 }, action: 'allow' }] } } });

  const ownerUrl = await startConsole(ln.TENANT, net);
  log('owner console at', ownerUrl);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'avpn-console-chromium-'));
  tempDirs.push(userDataDir);
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true,
  });
  const page = browser.pages()[0] || await browser.newPage();
  await page.goto(ownerUrl);
  const sec = `[data-testid="network-${net}"]`;
  const row = (n) => `${sec} [data-testid="member-row"][data-name="${n}"]`;

  // 1. The network and its members with their addresses.
  await page.waitForSelector(row('db-1'), { timeout: LIVE_DEADLINE_MS });
  const web1 = await page.textContent(row('web-1'));
  assert(/100\.64\.0\.\d+/.test(web1) && /fd00:77::/.test(web1), `web-1 row shows IPv4 and IPv6: ${web1}`);
  assert(web1.includes(`${ln.TENANT}/`), `web-1 row shows the full lease id: ${web1}`);
  assert((await page.textContent(`${sec} h2`)).includes(`console-`), 'network name shown');
  log('members shown:', await memberNames(page, net));

  // 2. A member added now appears without reload.
  await page.evaluate(() => { window.__noReload = true; });
  add('tenant', ln.TENANT, 'web-2', ln.PROVIDER_1, ['web']);
  await page.waitForSelector(row('web-2'), { timeout: LIVE_DEADLINE_MS });
  assert(await page.evaluate(() => window.__noReload === true), 'page was not reloaded');
  log('web-2 appeared live');

  // 3. A denied cell explains itself: db-1 → web-1 is refused by web-1's
  //    ingress rule #1 and by db-1's egress default.
  const cell = `${sec} button.cell[data-from="db-1"][data-to="web-1"]`;
  assert(await page.getAttribute(cell, 'data-state') === 'deny', 'db-1 → web-1 is denied');
  await page.click(cell);
  await page.waitForSelector(`${sec} [data-testid="explain"] [data-testid="segment"]`, { timeout: LIVE_DEADLINE_MS });
  const why = await page.textContent(`${sec} [data-testid="explain"]`);
  assert(why.includes('rule #1: deny any from tags db'), `explain names web-1's ingress rule: ${why}`);
  assert(why.includes('by the network default'), `explain names the default: ${why}`);
  const partial = await page.getAttribute(`${sec} button.cell[data-from="web-1"][data-to="db-1"]`, 'title');
  assert(partial.includes('tcp 5432'), `web-1 → db-1 allows tcp 5432: ${partial}`);
  log('explain ok');

  // 4. tenant-b claims an invitation and adds a member.
  const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
  const pubkey = publicKey.export({ format: 'der', type: 'spki' }).subarray(-32).toString('base64');
  tx('tenant', { authorize_provider: { network_id: net, provider: ln.PROVIDER_2 } });
  const invited = tx('tenant', { create_invitation: { network_id: net, pubkey, key_type: 'ed25519',
    expires: '4102444800000000000', max_uses: 1, tags: ['web'] } });
  const inv = Number(eventAttr(invited, 'create_invitation', 'invitation_id'));
  const claim = `avpn-claim/v1/${ln.CHAIN_ID}/${ln.REGISTRY}/${net}/${inv}/${ln.TENANT_B}`;
  const signature = crypto.sign(null, Buffer.from(claim, 'utf8'), privateKey).toString('base64');
  tx('tenant-b', { claim_invitation: { network_id: net, invitation_id: inv, signature } });
  add('tenant-b', ln.TENANT_B, 'partner-web', ln.PROVIDER_2, ['web']);
  await page.waitForSelector(row('partner-web'), { timeout: LIVE_DEADLINE_MS });
  await page.waitForSelector(`${sec} [data-testid="participant-row"]`, { timeout: LIVE_DEADLINE_MS });
  log('owner sees the participant and its member');

  // 5. The participant's console shows only its own member.
  // a joined network is found without --network (networks_by_participant)
  const partUrl = await startConsole(ln.TENANT_B);
  const page2 = await browser.newPage();
  await page2.goto(partUrl);
  await page2.waitForSelector(row('partner-web'), { timeout: LIVE_DEADLINE_MS });
  const names = await memberNames(page2, net);
  assert(JSON.stringify(names) === '["partner-web"]', `participant sees only its member: ${names}`);
  const body = await page2.textContent('body');
  for (const hidden of ['web-1', 'web-2', 'db-1']) {
    assert(!body.includes(hidden), `participant page does not mention ${hidden}`);
  }
  assert(await page2.$(`${sec} [data-testid="participant-row"]`) === null, 'no participants list');
  assert(await page2.$(`${sec} [data-testid="invitation-row"]`) === null, 'no invitations list');
  log('participant view ok');
}

try {
  await main();
  log('PASS');
} catch (e) {
  console.error('[console-test] FAIL:', e.stack || e);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close().catch(() => {});
  killChildren();
}
