// The authorisation queue by keyboard alone (docs/oversight.md, "Accessibility"): from the top of
// the page, Tab reaches the decision of the record awaiting authorisation, Space chooses
// "Authorise", the rationale is typed, and Enter on the button records the decision; the record
// leaves the queue and its page shows the manager's decision.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, startServer, signIn, DAY } from './lib.mjs';

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

/// Presses Tab until the focused element satisfies `pred` (at most `max` presses).
async function tabTo(page, pred, what, max = 60) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(pred)) return i + 1;
  }
  throw new Error(`Tab never reached ${what}`);
}

test('a manager authorises a record from the queue with the keyboard only', async () => {
  const context = await browser.newContext({ viewport: { width: 768, height: 1024 } });
  try {
    const page = await context.newPage();
    await signIn(page, 'manager');
    const queue = server.url(`/oversight/teams/north/queue?on=${DAY}`);
    await page.goto(queue);
    const rows = page.locator('tr[data-record]');
    assert.equal(await rows.count(), 1, 'the demo submitted one record');
    const id = await rows.first().getAttribute('data-record');

    // The skip link is the first stop, and it leads into the page's main content.
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to main content');

    await tabTo(page, () => document.activeElement.matches('input[type=radio][value=authorise]'), 'the decision');
    assert.equal(await page.evaluate(() => document.activeElement.id), `authorise-${id}`);
    await page.keyboard.press('Space');
    assert.ok(await page.isChecked(`#authorise-${id}`));
    await tabTo(page, () => document.activeElement.tagName === 'TEXTAREA', 'the rationale');
    await page.keyboard.type('Visit seen at school: the plan is on track.');
    await tabTo(page, () => document.activeElement.matches('button[type=submit]') &&
      document.activeElement.textContent === 'Record decision', 'the button');
    const focusRing = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
    assert.equal(focusRing, 'solid', 'the focused button shows its focus ring');
    // The decision answers 303 to the queue (without the page's `?on=`): wait for that page.
    const decided = page.waitForResponse((r) => r.url().endsWith(`/records/${id}/decision`));
    await page.keyboard.press('Enter');
    assert.equal((await decided).status(), 303);
    await page.waitForURL((u) => u.pathname.endsWith('/queue') && u.search === '');

    assert.equal(await page.locator('tr[data-record]').count(), 0, 'the record left the queue');
    await page.goto(server.url(`/oversight/records/${id}`));
    const text = await page.locator('main').innerText();
    assert.match(text, /Authorised/);
    assert.match(text, /Visit seen at school: the plan is on track\./);
  } finally {
    await context.close();
  }
});
