// Browser test of the wallet page against a running node whose cluster
// has an economy with credits for it.
//
//   OFFGRID_URL=http://127.0.0.1:8081 OFFGRID_TOKEN=... node web/e2e/wallet.mjs
//
// Env:
//   OFFGRID_URL          base URL of a running node (required)
//   OFFGRID_TOKEN        the node's admin token (required)
//   OFFGRID_SCREENSHOTS  directory for screenshots (default: web/screenshots)
//   OFFGRID_CHROMIUM     browser binary (default: /usr/bin/chromium)
//
// It logs in, opens /wallet from the header, waits for the live feed,
// reads this node's balance, sends 1.5 credits to another account with
// the form and checks that the answer says final, that the balance fell by
// the amount and the fee without a reload, and that the feed lists the
// transfer. A transfer of more than the balance is refused with the form's
// error and changes nothing. Desktop and phone screenshots; the phone
// layout must not scroll sideways. Exit status 1 with a FAIL line on any
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
const timeout = 15_000;

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

async function shot(page, name, opts = {}) {
  await page.screenshot({ path: join(shots, `${name}.png`), caret: 'initial', ...opts });
}

const tid = (id) => `[data-testid="${id}"]`;

// micro reads a decimal credit string as integer micro-credits.
function micro(s) {
  const [i, f = ''] = s.trim().split('.');
  return Number(i) * 1e6 + Number((f + '000000').slice(0, 6));
}

async function ownBalance(page) {
  return micro(await page.locator(tid('own-balance')).evaluate((el) => el.firstChild.textContent));
}

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
    if (m.type() === 'error' && !/status of 422/.test(m.text())) problems.push(`[${current}] console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`[${current}] page error: ${e.message}`));

  await step('log in and open /wallet from the header', async () => {
    await page.goto(base + '/wallet');
    await page.waitForURL(/\/login$/);
    await page.fill(tid('login-token'), token);
    await page.click(tid('login-submit'));
    await page.waitForURL(base + '/');
    await page.click(tid('nav-wallet'));
    await page.waitForURL(base + '/wallet');
    await page.locator(tid('balances-table')).waitFor();
    check(await page.locator(tid('nav-wallet')).getAttribute('aria-current') === 'page', 'the Wallet link is not marked current');
  });

  await step('live feed connects', async () => {
    await page.locator(`${tid('feed-status')}[data-state="live"]`).waitFor();
  });

  const { before, dst } = await step('read the balance and pick another account', async () => {
    const rows = await page.locator(tid('balance-row')).evaluateAll((trs) => trs.map((tr) => ({
      account: tr.getAttribute('data-account'), self: !!tr.querySelector('.pill'),
    })));
    const other = rows.find((r) => !r.self && r.account.startsWith('did:key:'));
    check(other, `no other node's account in the table: ${JSON.stringify(rows)}`);
    const b = await ownBalance(page);
    check(b > 2e6, `this node has ${b} micro-credits, the test needs more than 2 credits`);
    return { before: b, dst: other.account };
  });

  await step('a transfer of more than the balance is refused and changes nothing', async () => {
    await page.fill(tid('transfer-dst'), dst);
    await page.fill(tid('transfer-amount'), String(before / 1e6 + 1));
    await page.click(tid('transfer-send'));
    const err = page.locator(tid('transfer-error'));
    await err.waitFor();
    check(/insufficient funds/.test(await err.innerText()), `error says ${JSON.stringify(await err.innerText())}`);
    check(await ownBalance(page) === before, 'the balance changed after a refused transfer');
  });

  await step('send 1.5 credits: final, the balance falls by amount + fee without a reload', async () => {
    await page.fill(tid('transfer-dst'), dst);
    await page.fill(tid('transfer-amount'), '1.5');
    await page.click(tid('transfer-send'));
    const sent = page.locator(tid('transfer-sent'));
    await sent.waitFor();
    check(await sent.getAttribute('data-state') === 'final', `the transfer is ${await sent.getAttribute('data-state')}, want final`);
    await page.waitForFunction(([sel, want]) => {
      const el = document.querySelector(sel);
      if (!el) return false;
      const [i, f = ''] = el.firstChild.textContent.trim().split('.');
      const v = Number(i) * 1e6 + Number((f + '000000').slice(0, 6));
      return v < want;
    }, [tid('own-balance'), before - 1.5e6 + 1]);
    const after = await ownBalance(page);
    const fee = before - 1.5e6 - after;
    check(fee >= 0 && fee <= 1e6, `balance ${before} -> ${after}: a fee of ${fee} micro-credits`);
    console.log(`     balance ${before / 1e6} -> ${after / 1e6} (fee ${fee / 1e6})`);
  });

  await step('the feed lists the final transfer', async () => {
    await page.locator(`${tid('feed-item')}[data-kind="transfer_final"]`).first().waitFor();
  });

  await step('desktop and phone screenshots; no sideways scrolling on a phone', async () => {
    await shot(page, 'wallet-desktop', { fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(200);
    await shot(page, 'wallet-phone', { fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(overflow <= 0, `the phone layout scrolls sideways by ${overflow} px`);
  });

  check(problems.length === 0, problems.join('\n'));
  console.log('PASS wallet');
} catch (err) {
  console.error(`FAIL [${current}]: ${err.message}`);
  process.exitCode = 1;
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
}
