// The oversight sign-in to authorisation flow in a real browser (issue #15): Debian's headless
// Chromium driven by playwright-core (never a downloaded browser). Run by scripts/test-all.sh:
//   node tests/browser/oidc_flow.mjs
// after `npm ci` in tests/oidc and a build of the `fieldbook` binary (FIELDBOOK_BIN, default
// target/debug/fieldbook).
//
// The fixture, all on 127.0.0.1: the local OpenID provider (tests/oidc/provider.mjs, in this
// process), `fieldbook serve` signing in through it and verifying device tokens by its JWKS, the
// case system allocating a case (a static token), and a device: the `fieldbook` CLI with a token
// minted by the provider. The story:
//   1. the device syncs, records a visit and submits it, syncs again;
//   2. the manager signs in through the provider's pages, opens the queue, authorises the visit
//      with a rationale;
//   3. the device syncs and shows the record authorised (`fieldbook show --json`);
//   4. a worker of another team signs in: the team's pages are 403 with none of its data.
// Exits non-zero with the step that failed.

import { spawn, execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { startProvider, CLIENT_ID, CLIENT_SECRET } from '../oidc/provider.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
// playwright-core is a dependency of tests/oidc (one package.json for both Node fixtures).
const require = createRequire(path.join(root, 'tests', 'oidc', 'package.json'));
const { chromium } = require('playwright-core');

const bin = process.env.FIELDBOOK_BIN ?? path.join(root, 'target', 'debug', 'fieldbook');
const run = promisify(execFile);
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run',
];

function check(condition, message) {
  if (!condition) throw new Error(message);
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/// `fieldbook serve`, resolved once it logs that it listens.
function serve(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, ['serve', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`fieldbook serve exited ${code}: ${log}`)));
    child.stderr.on('data', (chunk) => {
      log += chunk;
      if (log.includes('listening')) resolve(child);
    });
  });
}

async function cli(args) {
  try {
    const { stdout } = await run(bin, ['--json', ...args]);
    return JSON.parse(stdout);
  } catch (e) {
    throw new Error(`fieldbook ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

/// Signs in through the provider's pages as `login`; resolves on the first page after it.
async function signIn(page, server, login) {
  await page.goto(`${server}/oversight/sign-in`);
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  // The consent page.
  await page.click('button[type=submit]');
  await page.waitForURL((url) => url.pathname.startsWith('/oversight') && !url.pathname.endsWith('/callback'));
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'fieldbook-oidc-browser-'));
const cleanup = [];
let step = 'start';
try {
  const port = await freePort();
  const server = `http://127.0.0.1:${port}`;
  const callback = `${server}/oversight/callback`;
  const provider = await startProvider({ port: 0, redirectUri: callback });
  cleanup.push(() => provider.close());

  step = 'server';
  const caseSystem = 'browser-test-case-system-token';
  writeFileSync(path.join(dir, 'tokens.json'), JSON.stringify({
    tokens: [{ token: caseSystem, subject: 'case-system', role: 'integration', team: 'ops' }],
  }));
  writeFileSync(path.join(dir, 'auth.json'), JSON.stringify({
    audience: 'fieldbook',
    issuer: provider.issuer,
    jwks: { url: `${provider.issuer}/jwks` },
    static_tokens: path.join(dir, 'tokens.json'),
  }));
  const child = await serve([
    '--listen', `127.0.0.1:${port}`, '--sqlite', path.join(dir, 'server.db'),
    '--auth', path.join(dir, 'auth.json'), '--oidc-issuer', provider.issuer,
    '--oidc-client-id', CLIENT_ID, '--oidc-client-secret', CLIENT_SECRET,
    '--oidc-redirect-url', callback,
  ]);
  cleanup.push(() => new Promise((resolve) => {
    child.removeAllListeners('exit');
    child.once('exit', resolve);
    child.kill('SIGTERM');
  }));

  step = 'the case system allocates a case to amara in north, and one to carol in south';
  for (const [id, local, worker, team] of [['case-a', 'LA1', 'amara', 'north'], ['case-c', 'LC1', 'carol', 'south']]) {
    const summary = {
      local_child_id: local, name: `Child ${local}`, date_of_birth: null, sex: null, ethnicity: '',
      disabilities: [], address: '', legal_status: null, allocated_worker: worker, team,
      child_in_need: null, child_protection: null, looked_after: null, private_fostering: null,
      last_visit_date: null, last_seen_date: null,
    };
    const r = await fetch(`${server}/api/v1/cases/${id}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${caseSystem}`, 'content-type': 'application/json' },
      body: JSON.stringify({ summary, allocated_worker: worker, team }),
    });
    check(r.status === 204, `PUT ${id}: ${r.status} ${await r.text()}`);
  }

  step = 'the device syncs, records and submits a visit, syncs';
  const device = ['--data', path.join(dir, 'tablet'), '--worker', 'amara', '--device', 'tablet-1'];
  const token = await provider.mint({ sub: 'amara', role: 'worker', team: 'north', aud: 'fieldbook' });
  const sync = ['sync', ...device, '--server', server, '--token', token];
  await cli(sync);
  const { id } = await cli([
    'record-visit', ...device, '--case', 'case-a', '--seen', '--seen-alone',
    '--views', 'Said school is going better.', '--observations', 'Home warm and tidy.', '--submit',
  ]);
  await cli(sync);

  step = 'the manager signs in through the provider';
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
  cleanup.push(() => browser.close());
  const manager = await (await browser.newContext()).newPage();
  await signIn(manager, server, 'mina');
  check(new URL(manager.url()).pathname === '/oversight/teams/north', `landed on ${manager.url()}`);
  const cookies = await manager.context().cookies();
  const session = cookies.find((c) => c.name === 'fb_session');
  check(session && session.httpOnly && session.secure && session.sameSite === 'Strict',
    `session cookie ${JSON.stringify(session)}`);

  step = 'the manager opens the queue and authorises with a rationale';
  await manager.click('text=Authorisation queue');
  await manager.waitForURL('**/oversight/teams/north/queue');
  const row = manager.locator(`tr[data-record="${id}"]`);
  check(await row.count() === 1, 'the submitted visit is not in the queue');
  await row.locator('input[value=authorise]').check();
  await row.locator('textarea[name=rationale]').fill('Seen alone; views recorded; no concerns.');
  await Promise.all([
    manager.waitForURL('**/oversight/teams/north/queue'),
    row.locator('button[type=submit]').click(),
  ]);
  check(await manager.locator(`tr[data-record="${id}"]`).count() === 0, 'still in the queue');

  step = 'the device syncs and shows the record authorised';
  await cli(sync);
  const shown = await cli(['show', ...device, id]);
  const status = shown.record?.meta?.status;
  check(status === 'authorised', `the device shows ${JSON.stringify(status)}`);

  step = 'a worker of another team opens the team page';
  const worker = await (await browser.newContext()).newPage();
  await signIn(worker, server, 'carol');
  for (const page of ['/oversight/teams/north', '/oversight/teams/north/queue', `/oversight/records/${id}`]) {
    const response = await worker.goto(`${server}${page}`);
    check(response.status() === 403, `${page}: ${response.status()}`);
    const body = await worker.content();
    check(!body.includes('LA1') && !body.includes('amara') && !body.includes('Said school'), `${page} shows data`);
  }
  console.log('oidc_flow: passed');
} catch (e) {
  console.error(`oidc_flow: failed at "${step}": ${e.stack ?? e}`);
  process.exitCode = 1;
} finally {
  for (const f of cleanup.reverse()) {
    await f();
  }
  rmSync(dir, { recursive: true, force: true });
}
