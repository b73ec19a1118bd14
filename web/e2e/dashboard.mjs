// Browser test of the dashboard against a running node.
//
//   OFFGRID_URL=http://127.0.0.1:7420 OFFGRID_TOKEN=... node web/e2e/dashboard.mjs
//
// Env: OFFGRID_URL, OFFGRID_TOKEN (required), OFFGRID_SCREENSHOTS and
// OFFGRID_CHROMIUM, as harness.mjs describes.
//
// It logs in, switches the node off and on watching the live feed, changes
// the compute price and checks the API sees it, checks a bad price is
// refused, takes desktop and phone screenshots, and puts the node's
// settings back as it found them. Exit status 1 with a FAIL line on any
// failure.

import {
  api, base, check, checkPhone, feedLive, markPage, run, samePage, shot, step, tid, token,
} from './harness.mjs';

// announce reads the node's public announce through the API.
async function announce() {
  const a = await api('GET', '/announce');
  check(a && a.prices && typeof a.prices.compute === 'string',
    `GET /announce: want prices.compute as a decimal string, got ${JSON.stringify(a)}`);
  return a;
}

// toggle switches the node off or on with the status card's button and
// waits for the live feed to list one more toggle.
async function toggle(page) {
  const toggles = page.locator(`${tid('feed')} ${tid('feed-item')}`, { hasText: 'toggle' });
  const n = await toggles.count();
  await page.click(tid('toggle-button'));
  await toggles.nth(n).waitFor();
}

// The browser logs every 4xx document or XHR; the 401 of a wrong token
// and the 422 of a bad price are what this test asks for.
await run({ name: 'dashboard e2e', ignoreConsole: /status of (401|422)\b/ }, async (page) => {
  await step('open / redirects to /login', async () => {
    await page.goto(base + '/');
    await page.waitForURL(/\/login$/);
    await page.locator(tid('login-token')).waitFor();
  });

  await step('wrong token is refused', async () => {
    await page.fill(tid('login-token'), 'not-the-token');
    await page.click(tid('login-submit'));
    await page.locator(tid('login-error')).waitFor();
    check(page.url().endsWith('/login'), `want to stay on /login, at ${page.url()}`);
  });
  await shot(page, 'login-desktop');

  await step('log in with the admin token', async () => {
    await page.fill(tid('login-token'), token);
    await page.click(tid('login-submit'));
    await page.waitForURL(base + '/');
    const id = (await page.locator(tid('node-id')).innerText()).trim();
    check(id.startsWith('did:key:'), `node-id = ${JSON.stringify(id)}, want a did:key`);
    const name = (await page.locator(tid('node-name')).innerText()).trim();
    check(name.length > 0, 'node-name is empty');
  });

  await markPage(page);

  await step('live feed connects', () => feedLive(page));

  const original = await announce();
  const activeBefore = (await page.locator(tid('active-state')).innerText()).trim();

  await step('toggle shows up in the live feed and the status card', async () => {
    await toggle(page);
    await page.waitForFunction(
      ([sel, before]) => document.querySelector(sel)?.textContent.trim() !== before,
      [tid('active-state'), activeBefore],
    );
    const after = (await page.locator(tid('active-state')).innerText()).trim();
    check(after !== activeBefore, `active-state stayed ${JSON.stringify(after)}`);
    check(await samePage(page), 'the page reloaded');
  });

  const newPrice = original.prices.compute === '2.75' ? '3.125' : '2.75';
  await step(`save compute price ${newPrice}; the API returns it`, async () => {
    await page.fill(tid('price-compute'), newPrice);
    await page.click(tid('prices-save'));
    await page.locator(tid('prices-saved')).waitFor();
    const a = await announce();
    check(a.prices.compute === newPrice, `/announce prices.compute = ${JSON.stringify(a.prices.compute)}, want ${JSON.stringify(newPrice)}`);
    check(await samePage(page), 'the page reloaded');
  });
  await shot(page, 'dashboard-desktop', { fullPage: true });

  for (const bad of ['-1', 'abc']) {
    await step(`bad compute price ${JSON.stringify(bad)} is refused`, async () => {
      await page.fill(tid('price-compute'), bad);
      await page.click(tid('prices-save'));
      await page.locator(tid('prices-error')).waitFor({ state: 'visible' });
      const a = await announce();
      check(a.prices.compute === newPrice, `/announce prices.compute = ${JSON.stringify(a.prices.compute)} after bad input, want unchanged ${JSON.stringify(newPrice)}`);
    });
  }
  await shot(page, 'prices-error-desktop');

  await step('phone layout', () => checkPhone(page, 'dashboard', { top: true }));

  await step('restore the node\'s settings', async () => {
    await page.fill(tid('price-compute'), original.prices.compute);
    await page.click(tid('prices-save'));
    await page.locator(tid('prices-saved')).waitFor();
    await toggle(page);
    await page.waitForFunction(
      ([sel, before]) => document.querySelector(sel)?.textContent.trim() === before,
      [tid('active-state'), activeBefore],
    );
    const a = await announce();
    check(a.prices.compute === original.prices.compute, `restore: prices.compute = ${a.prices.compute}`);
  });

  await step('log out', async () => {
    await page.click(tid('logout'));
    await page.waitForURL(/\/login$/);
    await page.goto(base + '/');
    await page.waitForURL(/\/login$/);
  });
});
