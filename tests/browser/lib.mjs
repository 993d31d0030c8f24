// The browser harness of the oversight pages (docs/oversight.md, "Browser tests"): a real server
// with the demo's seeded data on 127.0.0.1, Debian's Chromium driven by playwright-core (which
// never downloads a browser), and the one sign-in step every test goes through.
//
// `startServer()` runs `fieldbook demo --keep-serving` (the binary cargo built: FIELDBOOK_BIN, or
// target/debug/fieldbook) and reads the addresses it prints. `signIn(page, who)` is the only
// place that knows how a person signs in: today the development form with a static token; the
// OpenID Connect flow replaces this one function.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const repo = resolve(here, '..', '..');

/// The day the demo's tablets live on: every page is opened for it (`?on=`).
export const DAY = '2026-12-21';

export const CHROMIUM = process.env.FIELDBOOK_CHROMIUM || '/usr/bin/chromium';

/// Chromium as the tests run it: headless, no sandbox (CI runs as root), nothing fetched.
export async function launch() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: run scripts/setup.sh --browser`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--no-first-run',
    ],
  });
}

let current = null;

/// Starts the demo server and waits until it prints where its pages are. One at a time per
/// process: `signIn` signs in to the last one started.
export async function startServer() {
  const bin = process.env.FIELDBOOK_BIN || join(repo, 'target', 'debug', 'fieldbook');
  if (!existsSync(bin)) {
    throw new Error(`no fieldbook binary at ${bin}: build it first (cargo build --workspace)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'fieldbook-browser-'));
  const child = spawn(bin, ['demo', '--keep-serving', '--dir', dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: 'error' },
  });
  let stderr = '';
  child.stderr.on('data', (b) => {
    stderr += b;
  });
  const lines = createInterface({ input: child.stdout });
  const server = await new Promise((resolveServer, reject) => {
    const found = { tokens: {} };
    const exited = (code) => reject(new Error(`the demo exited (${code}) before serving: ${stderr}`));
    child.once('exit', exited);
    lines.on('line', (line) => {
      const t = line.trim();
      let m;
      if ((m = t.match(/^oversight dashboard: (\S+)$/))) {
        found.signIn = m[1];
        found.base = m[1].replace(/\/oversight\/sign-in$/, '');
      } else if ((m = t.match(/^sign in as \S+ \((\w+)\) with the token (\S+)$/))) {
        found.tokens[m[1]] = m[2];
      } else if ((m = t.match(/^a record with its history: (\S+)$/))) {
        found.record = new URL(m[1]).pathname;
      } else if (t === 'serving until Ctrl-C or SIGTERM') {
        child.off('exit', exited);
        resolveServer(found);
      }
    });
  });
  const stop = async () => {
    if (child.exitCode === null) {
      const done = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await done;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  current = { ...server, child, stop, url: (path) => server.base + path };
  return current;
}

/// Signs `page` in as `who` ('manager': the north team's manager, 'senior': the board) through
/// the development sign-in form, and waits for the page signing in leads to.
export async function signIn(page, who) {
  if (!current) throw new Error('startServer() first');
  const token = current.tokens[who];
  if (!token) throw new Error(`the demo printed no token for ${who}`);
  await page.goto(current.signIn);
  await page.getByLabel('Access token').fill(token);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.endsWith('/sign-in')),
    page.getByRole('button', { name: 'Sign in' }).click(),
  ]);
}

/// Every page of the oversight dashboard: [name, who may open it (null: anyone), path].
export function pages(server) {
  return [
    ['sign-in', null, '/oversight/sign-in'],
    ['team-caseload', 'manager', `/oversight/teams/north?on=${DAY}`],
    ['worker-cases', 'manager', `/oversight/teams/north/workers/amara?on=${DAY}`],
    ['child', 'manager', `/oversight/cases/case-10442?on=${DAY}`],
    ['record-history', 'manager', server.record],
    ['queue', 'manager', `/oversight/teams/north/queue?on=${DAY}`],
    ['board', 'senior', `/oversight/board?on=${DAY}`],
  ];
}

/// axe-core's findings on the page, after injecting it (no network: the file from node_modules).
export async function axeScan(page) {
  const axe = await import('axe-core');
  await page.addScriptTag({ content: axe.default.source });
  return page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => n.target.join(' ')).slice(0, 5),
    }));
  });
}
