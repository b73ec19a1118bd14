// Browser test of the dashboard against a running node.
//
//   OFFGRID_URL=http://127.0.0.1:7420 OFFGRID_TOKEN=... node web/e2e/dashboard.mjs
//
// Env:
//   OFFGRID_URL          base URL of a running node (required)
//   OFFGRID_TOKEN        the node's admin token (required)
//   OFFGRID_SCREENSHOTS  directory for screenshots (default: web/screenshots)
//   OFFGRID_CHROMIUM     browser binary (default: /usr/bin/chromium)
//
// It logs in, switches the node off and on watching the live feed, changes
// the compute price and checks the API sees it, checks a bad price is
// refused, takes desktop and phone screenshots, and puts the node's
// settings back as it found them. Exit status 1 with a FAIL line on any
// failure.

import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const base = (process.env.OFFGRID_URL || '').replace(/\/+$/, '');
const token = process.env.OFFGRID_TOKEN || '';
const shots = resolve(process.env.OFFGRID_SCREENSHOTS || fileURLToPath(new URL('../screenshots', import.meta.url)));
const executablePath = process.env.OFFGRID_CHROMIUM || '/usr/bin/chromium';
const timeout = 10_000;

if (!base || !token) {
  console.error('FAIL: set OFFGRID_URL (base URL of a running node) and OFFGRID_TOKEN (its admin token)');
  process.exit(2);
}

let current = 'start';
async function step(name, fn) {
  current = name;
  const t0 = Date.now();
  const result = await fn();
  console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  return result;
}

function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// announce reads the node's public announce through the API.
async function announce() {
  const res = await fetch(base + '/announce', {
    headers: { Accept: 'application/json', Authorization: `Bearer ${token}` },
  });
  check(res.ok, `GET /announce: HTTP ${res.status}`);
  const a = await res.json();
  check(a && a.prices && typeof a.prices.compute === 'string',
    `GET /announce: want prices.compute as a decimal string, got ${JSON.stringify(a)}`);
  return a;
}

// shot saves a screenshot. caret: 'initial' stops Playwright injecting a
// <style> element, which the dashboard's CSP (rightly) refuses and logs.
async function shot(page, name, opts = {}) {
  await page.screenshot({ path: join(shots, `${name}.png`), caret: 'initial', ...opts });
}

const tid = (id) => `[data-testid="${id}"]`;

const profile = mkdtempSync(join(tmpdir(), 'offgrid-e2e-'));
let context;
const problems = [];

try {
  mkdirSync(shots, { recursive: true });
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 800 },
  });
  context.setDefaultTimeout(timeout);
  const page = context.pages()[0] || await context.newPage();
  page.on('console', (m) => {
    // The browser logs every 4xx document or XHR; the 401 of a wrong token
    // and the 422 of a bad price are what this test asks for.
    if (m.type() === 'error' && !/status of (401|422)\b/.test(m.text())) {
      problems.push(`[${current}] console error: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`[${current}] page error: ${e.message}`));

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

  // A marker that survives only as long as the page is not reloaded.
  await page.evaluate(() => { window.offgridE2E = 'same-page'; });

  await step('live feed connects', async () => {
    await page.locator(`${tid('feed-status')}[data-state="live"]`).waitFor();
  });

  const original = await announce();
  const activeBefore = (await page.locator(tid('active-state')).innerText()).trim();

  await step('toggle shows up in the live feed and the status card', async () => {
    const toggles = page.locator(`${tid('feed')} ${tid('feed-item')}`, { hasText: 'toggle' });
    const n = await toggles.count();
    await page.click(tid('toggle-button'));
    await toggles.nth(n).waitFor();
    await page.waitForFunction(
      ([sel, before]) => document.querySelector(sel)?.textContent.trim() !== before,
      [tid('active-state'), activeBefore],
    );
    const after = (await page.locator(tid('active-state')).innerText()).trim();
    check(after !== activeBefore, `active-state stayed ${JSON.stringify(after)}`);
    check(await page.evaluate(() => window.offgridE2E) === 'same-page', 'the page reloaded');
  });

  const newPrice = original.prices.compute === '2.75' ? '3.125' : '2.75';
  await step(`save compute price ${newPrice}; the API returns it`, async () => {
    await page.fill(tid('price-compute'), newPrice);
    await page.click(tid('prices-save'));
    await page.locator(tid('prices-saved')).waitFor();
    const a = await announce();
    check(a.prices.compute === newPrice, `/announce prices.compute = ${JSON.stringify(a.prices.compute)}, want ${JSON.stringify(newPrice)}`);
    check(await page.evaluate(() => window.offgridE2E) === 'same-page', 'the page reloaded');
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

  await step('phone layout', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `page is ${overflow}px wider than a 390px phone screen`);
    await shot(page, 'dashboard-phone', { fullPage: true });
    await shot(page, 'dashboard-phone-top');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await step('restore the node\'s settings', async () => {
    await page.fill(tid('price-compute'), original.prices.compute);
    await page.click(tid('prices-save'));
    await page.locator(tid('prices-saved')).waitFor();
    const toggles = page.locator(`${tid('feed')} ${tid('feed-item')}`, { hasText: 'toggle' });
    const n = await toggles.count();
    await page.click(tid('toggle-button'));
    await toggles.nth(n).waitFor();
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

  await step('no console or page errors', async () => {
    check(problems.length === 0, problems.join('\n'));
  });
  console.log(`PASS dashboard e2e; screenshots in ${shots}`);
} catch (err) {
  console.error(`FAIL at "${current}": ${err.message.split('\n').slice(0, 6).join('\n')}`);
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
