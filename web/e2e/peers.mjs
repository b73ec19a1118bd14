// Browser test of the peers and mesh pages against a running node.
//
//   OFFGRID_URL=http://127.0.0.1:7420 OFFGRID_TOKEN=... \
//   OFFGRID_START_PEER_CMD='offgrid node --data /tmp/n2 --listen 127.0.0.1:7421 ...' \
//   OFFGRID_START_PEER_URL=http://127.0.0.1:7421 node web/e2e/peers.mjs
//
// Env: OFFGRID_URL, OFFGRID_TOKEN (required), OFFGRID_SCREENSHOTS and
// OFFGRID_CHROMIUM, as harness.mjs describes, and
//   OFFGRID_START_PEER_CMD  shell command that starts a new node the first
//                           one will discover (run with sh after the page
//                           is open, in its own process group, killed at
//                           the end); optional, with OFFGRID_START_PEER_URL
//   OFFGRID_START_PEER_URL  that new node's endpoint URL, as the peer table
//                           will show it
//   OFFGRID_PEER_WAIT_MS    how long the new peer may take to show up as
//                           up (default 20000)
//
// It logs in, opens /network/peers from the header, waits for the live
// feed, records the peer rows and checks the "N up of M" summary against
// them. With a start command, it runs it and waits for a row whose
// data-endpoint is OFFGRID_START_PEER_URL to show state "up", without a
// reload or any navigation, and for a peer entry in the feed. It takes
// desktop and phone screenshots of the peers page, then opens /network/mesh
// and screenshots it too. The started process group is killed at the end,
// also on failure. Exit status 1 with a FAIL line on any failure.

import { spawn } from 'node:child_process';
import {
  base, check, checkPhone, feedLive, login, markPage, openFromHeader, run, samePage, shot, step, tid, usage,
} from './harness.mjs';

const startCmd = process.env.OFFGRID_START_PEER_CMD || '';
const startURL = process.env.OFFGRID_START_PEER_URL || '';
const peerWait = Number(process.env.OFFGRID_PEER_WAIT_MS || 20_000);

if (!startCmd !== !startURL) usage('set both OFFGRID_START_PEER_CMD and OFFGRID_START_PEER_URL, or neither');
if (!Number.isFinite(peerWait) || peerWait <= 0) {
  usage(`OFFGRID_PEER_WAIT_MS=${process.env.OFFGRID_PEER_WAIT_MS} is not a positive number`);
}

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

// The start command's output can run long: show more of a failure.
await run({ name: 'peers e2e', failLines: 12, cleanup: stopPeer }, async (page) => {
  let navigations = 0;
  page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations++; });

  await step('log in and open /network/peers from the header', async () => {
    await login(page, '/network/peers');
    await openFromHeader(page, 'nav-peers', '/network/peers', tid('peers-table'));
  });

  await step('live feed connects', () => feedLive(page));

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
      await markPage(page);
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
      check(await samePage(page), 'the page reloaded');
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
    await checkPhone(page, 'peers', { what: 'peers page', top: true });
  });

  await step('open /network/mesh from the header', async () => {
    await openFromHeader(page, 'nav-mesh', '/network/mesh', tid('mesh-card'));
    await feedLive(page);
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
    await checkPhone(page, 'mesh', { what: 'mesh page' });
  });

});
