// Screenshots of every oversight page at a tablet's (768x1024) and a laptop's (1366x768) width,
// over the demo's data, into docs/oversight/screenshots/ (docs/oversight.md embeds them).
// `node tests/browser/screenshots.mjs`: it rewrites files under docs/, so it is not part of the
// test run. Each shot is the page's first screen (what a person sees on opening it). When
// `pngquant` is installed (apt), each file is reduced to a palette: a third of the size, text as
// sharp.

import { mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { launch, startServer, signIn, pages, repo } from './lib.mjs';

const out = join(repo, 'docs', 'oversight', 'screenshots');
mkdirSync(out, { recursive: true });

const server = await startServer();
const browser = await launch();
try {
  for (const [label, viewport] of [
    ['tablet', { width: 768, height: 1024 }],
    ['laptop', { width: 1366, height: 768 }],
  ]) {
    const contexts = {};
    for (const [name, who, path] of pages(server)) {
      const key = who ?? 'anyone';
      if (!contexts[key]) {
        contexts[key] = await browser.newContext({ viewport, deviceScaleFactor: 1 });
        if (who) await signIn(await contexts[key].newPage(), who);
      }
      const page = await contexts[key].newPage();
      const response = await page.goto(server.url(path));
      if (response.status() !== 200) throw new Error(`${name}: ${response.status()}`);
      const file = join(out, `${name}-${label}.png`);
      await page.screenshot({ path: file });
      const q = spawnSync('pngquant', ['--force', '--skip-if-larger', '--quality', '60-90', '--speed', '1', '--ext', '.png', file]);
      if (q.error && q.error.code !== 'ENOENT') throw q.error;
      console.log(file);
      await page.close();
    }
    for (const c of Object.values(contexts)) await c.close();
  }
} finally {
  await browser.close();
  await server.stop();
}
