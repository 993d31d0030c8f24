// axe-core on every oversight page (docs/oversight.md, "Accessibility"): no serious or critical
// violation on any of them, at a laptop's and a tablet's width.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startServer, signIn, pages, axeScan } from './lib.mjs';

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

for (const viewport of [
  { width: 1366, height: 768 },
  { width: 768, height: 1024 },
]) {
  test(`every page at ${viewport.width}x${viewport.height} has no serious or critical axe violation`, async (t) => {
    const contexts = {};
    try {
      for (const [name, who, path] of pages(server)) {
        await t.test(name, async () => {
          const key = who ?? 'anyone';
          if (!contexts[key]) {
            contexts[key] = await browser.newContext({ viewport });
            if (who) await signIn(await contexts[key].newPage(), who);
          }
          const page = await contexts[key].newPage();
          const response = await page.goto(server.url(path));
          assert.equal(response.status(), 200, `${name}: ${path}`);
          const violations = await axeScan(page);
          const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
          assert.deepEqual(bad, [], `${name}: ${JSON.stringify(bad, null, 2)}`);
          // The rest are reported, not failed on: they are for a person to judge.
          for (const v of violations) t.diagnostic(`${name}: ${v.impact} ${v.id}: ${v.help}`);
          await page.close();
        });
      }
    } finally {
      for (const c of Object.values(contexts)) await c.close();
    }
  });
}

// The scan itself is checked, so that the test above cannot pass by scanning nothing: a form
// field without a label and grey-on-white text are found, as critical and serious.
test('the scan finds a planted unlabelled field and low contrast', async () => {
  const page = await browser.newPage();
  try {
    await page.setContent(
      '<!doctype html><html lang="en"><head><title>t</title></head><body><main><h1>t</h1>' +
        '<input type="text" name="x"><p style="color:#bbb;background:#fff">faint</p></main></body></html>',
    );
    const ids = (await axeScan(page)).map((v) => `${v.id}:${v.impact}`);
    assert.ok(ids.includes('label:critical'), ids.join(', '));
    assert.ok(ids.includes('color-contrast:serious'), ids.join(', '));
  } finally {
    await page.close();
  }
});
