// Browser test of the ledger page against a running node.
//
//   OFFGRID_URL=http://127.0.0.1:7420 OFFGRID_TOKEN=... node web/e2e/ledger.mjs
//
// Env:
//   OFFGRID_URL          base URL of a running node (required)
//   OFFGRID_TOKEN        the node's admin token (required)
//   OFFGRID_SCREENSHOTS  directory for screenshots (default: web/screenshots)
//   OFFGRID_CHROMIUM     browser binary (default: /usr/bin/chromium)
//
// Through the API it runs three jobs and seals their receipts into a
// block. Then it logs in, opens the ledger page from the header, finds
// the block, and clicks "Check" on every receipt: the page recomputes the
// RFC 6962 hashes in the browser and must say each receipt is included.
// It then changes one byte of a receipt's leaf data in the page and checks
// that the same button now says the proof does not lead to the root.
// Desktop and phone screenshots. Exit status 1 with a FAIL line on any
// failure.

import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
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

const tid = (id) => `[data-testid="${id}"]`;

async function api(method, path, body) {
  const r = await fetch(base + path, {
    method,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  check(r.ok, `${method} ${path} = ${r.status}: ${text}`);
  return JSON.parse(text);
}

let browser;
try {
  mkdirSync(shots, { recursive: true });
  const block = await step('seal three receipts into a block', async () => {
    const stamp = Date.now();
    for (let i = 0; i < 3; i++) {
      await api('POST', '/run', { job_id: `ledger-e2e-${stamp}-${i}`, metrics: { compute_tokens_m: i + 1 } });
    }
    const s = await api('POST', '/ledger/seal');
    check(s.sealed && s.block && s.block.receipts >= 3, `seal answered ${JSON.stringify(s)}`);
    return s.block;
  });

  browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(timeout);
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });

  await step('log in and open the ledger page', async () => {
    await page.goto(base + '/ledger');
    await page.waitForURL(/\/login$/);
    await page.fill(tid('login-token'), token);
    await page.click(tid('login-submit'));
    await page.click(tid('nav-ledger'));
    await page.waitForURL(/\/ledger$/);
    await page.locator(`${tid('block-row')}[data-name="${block.name}"]`).waitFor();
  });

  await step('open the block and check every receipt in the browser', async () => {
    await page.locator(`${tid('block-row')}[data-name="${block.name}"] a`).click();
    await page.waitForURL(new RegExp(`block=${block.name}$`));
    const root = (await page.locator(tid('block-root')).textContent()).trim();
    check(root === block.root, `page shows root ${root}, the seal said ${block.root}`);
    const buttons = page.locator(tid('proof-check'));
    const n = await buttons.count();
    check(n === block.receipts, `${n} Check buttons, want ${block.receipts}`);
    for (let i = 0; i < n; i++) {
      await buttons.nth(i).click();
      const result = page.locator(tid('proof-result')).nth(i);
      await result.and(page.locator('[data-ok]')).waitFor();
      check(await result.getAttribute('data-ok') === 'true', `receipt ${i}: ${await result.textContent()}`);
    }
  });

  await step('a changed receipt fails its proof', async () => {
    const btn = page.locator(tid('proof-check')).first();
    await btn.evaluate((b) => {
      const leaf = b.getAttribute('data-leaf');
      const c = leaf[10] === '0' ? '1' : '0';
      b.setAttribute('data-leaf', leaf.slice(0, 10) + c + leaf.slice(11));
    });
    await btn.click();
    const result = page.locator(tid('proof-result')).first();
    await page.waitForFunction((el) => el.getAttribute('data-ok') === 'false', await result.elementHandle());
  });

  await step('screenshots; no sideways scrolling on a phone', async () => {
    await page.screenshot({ path: join(shots, 'ledger-desktop.png'), fullPage: true, caret: 'initial' });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: join(shots, 'ledger-phone.png'), fullPage: true, caret: 'initial' });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(overflow <= 0, `the phone layout scrolls sideways by ${overflow} px`);
  });

  check(errors.length === 0, `browser errors: ${errors.join('; ')}`);
  console.log('PASS ledger page');
} catch (err) {
  console.error(`FAIL ${current}: ${err.message}`);
  process.exitCode = 1;
} finally {
  if (browser) await browser.close();
}
