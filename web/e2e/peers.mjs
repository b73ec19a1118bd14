// Browser test of the peers and mesh pages against a running node.
//
//   OFFGRID_URL=http://127.0.0.1:7420 OFFGRID_TOKEN=... \
//   OFFGRID_START_PEER_CMD='offgrid node --data /tmp/n2 --listen 127.0.0.1:7421 ...' \
//   OFFGRID_START_PEER_URL=http://127.0.0.1:7421 node web/e2e/peers.mjs
//
// Env:
//   OFFGRID_URL             base URL of a running node (required)
//   OFFGRID_TOKEN           the node's admin token (required)
//   OFFGRID_START_PEER_CMD  shell command that starts a new node the first
//                           one will discover (run with sh after the page
//                           is open, in its own process group, killed at
//                           the end); optional, with OFFGRID_START_PEER_URL
//   OFFGRID_START_PEER_URL  that new node's endpoint URL, as the peer table
//                           will show it
//   OFFGRID_PEER_WAIT_MS    how long the new peer may take to show up as
//                           up (default 20000)
//   OFFGRID_SCREENSHOTS     directory for screenshots (default: web/screenshots)
//   OFFGRID_CHROMIUM        browser binary (default: /usr/bin/chromium)
//
// It logs in, opens /network/peers from the header, waits for the live
// feed, records the peer rows and checks the "N up of M" summary against
// them. With a start command, it runs it and waits for a row whose
// data-endpoint is OFFGRID_START_PEER_URL to show state "up", without a
// reload or any navigation, and for a peer entry in the feed. It takes
// desktop and phone screenshots of the peers page, then opens /network/mesh
// and screenshots it too. The started process group is killed at the end,
// also on failure. Exit status 1 with a FAIL line on any failure.

import { chromium } from 'playwright-core';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const base = (process.env.OFFGRID_URL || '').replace(/\/+$/, '');
const token = process.env.OFFGRID_TOKEN || '';
const startCmd = process.env.OFFGRID_START_PEER_CMD || '';
const startURL = process.env.OFFGRID_START_PEER_URL || '';
const peerWait = Number(process.env.OFFGRID_PEER_WAIT_MS || 20_000);
const shots = resolve(process.env.OFFGRID_SCREENSHOTS || fileURLToPath(new URL('../screenshots', import.meta.url)));
const executablePath = process.env.OFFGRID_CHROMIUM || '/usr/bin/chromium';
const timeout = 10_000;

if (!base || !token) {
  console.error('FAIL: set OFFGRID_URL (base URL of a running node) and OFFGRID_TOKEN (its admin token)');
  process.exit(2);
}
if (!startCmd !== !startURL) {
  console.error('FAIL: set both OFFGRID_START_PEER_CMD and OFFGRID_START_PEER_URL, or neither');
  process.exit(2);
}
if (!Number.isFinite(peerWait) || peerWait <= 0) {
  console.error(`FAIL: OFFGRID_PEER_WAIT_MS=${process.env.OFFGRID_PEER_WAIT_MS} is not a positive number`);
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

// shot saves a screenshot. caret: 'initial' stops Playwright injecting a
// <style> element, which the dashboard's CSP (rightly) refuses and logs.
async function shot(page, name, opts = {}) {
  await page.screenshot({ path: join(shots, `${name}.png`), caret: 'initial', ...opts });
}

const tid = (id) => `[data-testid="${id}"]`;
const cssString = (s) => JSON.stringify(s); // a quoted CSS attribute value

// The started peer: its own process group, so killing it also ends what
// the shell started.
let child = null;
let childExit = null; // { code, signal } once it has exited
let childOutput = '';

function startPeer() {
  child = spawn(startCmd, { shell: true, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const keep = (b) => { childOutput = (childOutput + b.toString()).slice(-4000); };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.on('exit', (code, signal) => { childExit = { code, signal }; });
  child.on('error', (err) => { childExit = { code: -1, signal: null }; keep(`spawn: ${err.message}\n`); });
}

// killGroup signals the started process group; it is synchronous so it
// can run from an 'exit' handler.
function killGroup(signal) {
  if (!child || childExit || !child.pid) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone.
  }
}

async function stopPeer() {
  if (!child) return;
  killGroup('SIGTERM');
  const deadline = Date.now() + 5000;
  while (!childExit && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (!childExit) {
    killGroup('SIGKILL');
    console.error('warning: the started peer ignored SIGTERM for 5 s; sent SIGKILL');
  }
}

process.on('exit', () => killGroup('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    killGroup('SIGTERM');
    process.exit(130);
  });
}

// rows reads the peer table as the page shows it.
async function rows(page) {
  return page.locator(tid('peer-row')).evaluateAll((trs) => trs.map((tr) => ({
    endpoint: tr.getAttribute('data-endpoint'),
    state: tr.querySelector('[data-testid="peer-state"]')?.getAttribute('data-state'),
    via: tr.querySelector('[data-testid="peer-via"]')?.getAttribute('data-via'),
  })));
}

// checkSummary compares "N up of M" with the rows.
async function checkSummary(page) {
  const rs = await rows(page);
  const s = page.locator(tid('peers-summary'));
  const up = Number(await s.getAttribute('data-up'));
  const total = Number(await s.getAttribute('data-total'));
  const text = (await s.innerText()).replace(/\s+/g, ' ').trim();
  check(total === rs.length, `summary says ${total} peers, the table has ${rs.length} rows`);
  check(up === rs.filter((r) => r.state === 'up').length, `summary says ${up} up, the table shows ${rs.filter((r) => r.state === 'up').length}`);
  check(text === `${up} up of ${total}`, `summary text ${JSON.stringify(text)}, want "${up} up of ${total}"`);
  return rs;
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
    if (m.type() === 'error') problems.push(`[${current}] console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`[${current}] page error: ${e.message}`));
  let navigations = 0;
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });

  await step('log in and open /network/peers from the header', async () => {
    await page.goto(base + '/network/peers');
    await page.waitForURL(/\/login$/);
    await page.fill(tid('login-token'), token);
    await page.click(tid('login-submit'));
    await page.waitForURL(base + '/');
    await page.click(tid('nav-peers'));
    await page.waitForURL(base + '/network/peers');
    await page.locator(tid('peers-table')).waitFor();
    check(await page.locator(tid('nav-peers')).getAttribute('aria-current') === 'page', 'the Peers link is not marked current');
  });

  await step('live feed connects', async () => {
    await page.locator(`${tid('feed-status')}[data-state="live"]`).waitFor();
  });

  const before = await step('record the peer rows; the summary matches them', async () => {
    const rs = await checkSummary(page);
    for (const r of rs) {
      check(['up', 'down', 'unknown'].includes(r.state), `row ${r.endpoint}: state ${JSON.stringify(r.state)}`);
      check(r.endpoint, 'a row has no data-endpoint');
    }
    console.log(`     ${rs.length} peers: ${rs.map((r) => `${r.endpoint} ${r.via} ${r.state}`).join(', ') || 'none'}`);
    return rs;
  });

  if (startCmd) {
    const row = page.locator(`${tid('peer-row')}[data-endpoint=${cssString(startURL)}]`);
    await step(`start a new node; it is pending until admitted, then ${startURL} shows up as "up" without a reload`, async () => {
      const old = before.find((r) => r.endpoint === startURL);
      check(!old || old.state !== 'up', `${startURL} is already listed as up before the new node started`);
      // A marker that survives only as long as the page is not reloaded.
      await page.evaluate(() => { window.offgridE2E = 'same-page'; });
      const navBefore = navigations;
      const peerItems = await page.locator(`${tid('feed-item')}[data-kind="peer"]`).count();
      startPeer();
      const t0 = Date.now();
      // A stranger is not a peer: it shows up under pending nodes (the
      // card refreshes by its button), and the admin admits it.
      const pendingNode = page.locator(`${tid('pending-node')}[data-endpoint=${cssString(startURL)}]`);
      for (;;) {
        await page.click(tid('cluster-refresh'));
        await page.locator(tid('cluster-card')).waitFor();
        if (await pendingNode.count() > 0) break;
        if (childExit && childExit.code !== 0) {
          throw new Error(`the start command exited with ${childExit.code ?? childExit.signal} before the node was pending:\n${childOutput}`);
        }
        if (Date.now() - t0 > peerWait) throw new Error(`${startURL} not pending after ${peerWait} ms`);
        check(await row.count() === 0, `${startURL} is in the peer table before it was admitted`);
        await page.waitForTimeout(200);
      }
      console.log(`     pending after ${Date.now() - t0} ms`);
      await pendingNode.locator(tid('admit-button')).click();
      await page.locator(`${tid('cluster-member')}`).nth(3).waitFor();
      const up = row.locator(`${tid('peer-state')}[data-state="up"]`);
      // Poll, so a start command that fails is reported at once.
      for (;;) {
        if (await up.count() > 0) break;
        if (childExit && childExit.code !== 0) {
          throw new Error(`the start command exited with ${childExit.code ?? childExit.signal} before the peer showed up:\n${childOutput}`);
        }
        if (Date.now() - t0 > peerWait) {
          const now = (await rows(page)).find((r) => r.endpoint === startURL);
          throw new Error(`${startURL} not up after ${peerWait} ms (row: ${JSON.stringify(now || null)}); start command output:\n${childOutput}`);
        }
        await page.waitForTimeout(100);
      }
      console.log(`     up after ${Date.now() - t0} ms`);
      check(await page.evaluate(() => window.offgridE2E) === 'same-page', 'the page reloaded');
      check(navigations === navBefore, `the page navigated ${navigations - navBefore} time(s) while waiting`);
      check(page.url() === base + '/network/peers', `the page is at ${page.url()}`);
      await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length > n,
        [`${tid('feed-item')}[data-kind="peer"]`, peerItems]);
      const after = await checkSummary(page);
      check(after.filter((r) => r.endpoint === startURL).length === 1, `${startURL} has more than one row`);
      for (const r of before) {
        check(after.some((a) => a.endpoint === r.endpoint), `${r.endpoint} disappeared from the table`);
      }
      const text = (await row.innerText()).replace(/\s+/g, ' ');
      check(text.includes(startURL), `the new row does not show its endpoint: ${JSON.stringify(text)}`);
    });
  } else {
    console.log('skip start a new node (OFFGRID_START_PEER_CMD and OFFGRID_START_PEER_URL not set)');
  }

  await step('peers screenshots: desktop and phone', async () => {
    await page.waitForTimeout(700); // the feed entry's highlight
    await shot(page, 'peers-desktop', { fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `peers page is ${overflow}px wider than a 390px phone screen`);
    await shot(page, 'peers-phone', { fullPage: true });
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, 'peers-phone-top');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await step('open /network/mesh from the header', async () => {
    await page.click(tid('nav-mesh'));
    await page.waitForURL(base + '/network/mesh');
    await page.locator(tid('mesh-card')).waitFor();
    check(await page.locator(tid('nav-mesh')).getAttribute('aria-current') === 'page', 'the Mesh link is not marked current');
    await page.locator(`${tid('feed-status')}[data-state="live"]`).waitFor();
    const ok = page.locator(tid('mesh-ok'));
    const err = page.locator(tid('mesh-error'));
    check(await ok.count() + await err.count() === 1, 'the mesh card shows neither a mesh-ok badge nor an error');
    if (await ok.count()) {
      const found = await ok.getAttribute('data-found');
      if (found === 'true') {
        await page.locator(tid('mesh-neighbors')).waitFor();
        await page.locator(tid('mesh-routes')).waitFor();
      } else {
        await page.locator(tid('mesh-none')).waitFor();
      }
      console.log(`     mesh-ok=${await ok.getAttribute('data-ok')} found=${found}`);
    } else {
      console.log(`     mesh error: ${await err.innerText()}`);
    }
  });

  await step('mesh screenshots: desktop and phone', async () => {
    await shot(page, 'mesh-desktop', { fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 1, `mesh page is ${overflow}px wider than a 390px phone screen`);
    await shot(page, 'mesh-phone', { fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await step('no console or page errors', async () => {
    check(problems.length === 0, problems.join('\n'));
  });
  console.log(`PASS peers e2e; screenshots in ${shots}`);
} catch (err) {
  console.error(`FAIL at "${current}": ${err.message.split('\n').slice(0, 12).join('\n')}`);
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  await stopPeer();
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}
