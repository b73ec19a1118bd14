// Browser test of the overview, the per-file and per-peer pages, the live
// feed's history and the phone layout, against a running node.
//
//   OFFGRID_URL=http://127.0.0.1:7420 OFFGRID_TOKEN=... node web/e2e/detail.mjs
//
// Env: OFFGRID_URL (required; it must have live peers to store files on
// and record its history often: offgrid node --history-interval 1s),
// OFFGRID_TOKEN (required), OFFGRID_SCREENSHOTS and OFFGRID_CHROMIUM, as
// harness.mjs describes.
//
// It logs in, stores 16 small files through the storage page, opens a
// file's page (stripes and hosts) and a peer's page (one state, shards
// and bytes exchanged, a measured round trip, a 24 h timeline), waits
// for the overview's charts to draw lines from the node's history,
// reloads the dashboard and checks the live feed still shows the events
// from before, and on a 390x844 phone checks that no
// page is wider than the screen and that the 16 files are not a
// 4,000-pixel column. On a file's page it checks the audits, downloads a
// share manifest for a peer, and at the end deletes two of the files from
// their pages (one at 1280x800, one at 390x844), back to the storage page
// with a notice. Screenshots of every page at 1280x800 and 390x844. It
// stores 16 files and deletes 2 of them. Exit status 1 with a FAIL line on
// any failure.

import { randomBytes } from 'node:crypto';
import {
  base, check, checkPhone, DESKTOP, drop, feedLive, login, PHONE, run, shot, step, tid, wider,
} from './harness.mjs';

const meshTimeout = 60_000;
const files = 16;
// The tallest the 16-file list may be on a phone: well under the 4,000
// pixels a labelled block per cell made it.
const maxListHeight = 1800;

// phoneCheck resizes to a phone, asserts nothing is wider than the
// screen, not even one element of main, takes a full-page screenshot and
// goes back to the desktop size.
const phoneCheck = (page, name) => checkPhone(page, name, { settle: 100, elements: true });

await run({ name: 'detail e2e', downloads: true }, async (page) => {
  await step('log in', () => login(page, '/storage'));

  const stamp = Date.now();
  await step(`store ${files} files through the storage page`, async () => {
    await page.goto(base + '/storage');
    await feedLive(page);
    for (let i = 0; i < files; i++) {
      const name = `detail-${stamp}-${String(i).padStart(2, '0')}.txt`;
      await drop(page, tid('dropzone'), name, randomBytes(2048 + i), 'application/octet-stream');
      // The page keeps only its newest answers: wait for this file's.
      await page.waitForFunction(([sel, name]) => [...document.querySelectorAll(sel)].some((e) => e.innerText.includes(name)),
        [`${tid('put-result')}, ${tid('put-error')}`, name], { timeout: meshTimeout });
      if (await page.locator(tid('put-error')).count() > 0) {
        throw new Error(`upload refused: ${await page.locator(tid('put-error')).first().innerText()}`);
      }
    }
    await page.goto(base + `/storage?q=detail-${stamp}`);
    await page.locator(tid('asset-row')).first().waitFor();
    check(await page.locator(tid('asset-row')).count() === files, `search shows ${await page.locator(tid('asset-row')).count()} rows, want ${files}`);
  });
  await shot(page, 'storage-search-desktop', { fullPage: true });

  await step(`the ${files} files on a phone: no sideways scrolling, not a 4,000-pixel column`, async () => {
    await page.setViewportSize(PHONE);
    const h = await page.locator(tid('assets-table')).evaluate((t) => t.getBoundingClientRect().height);
    check(h <= maxListHeight, `the list of ${files} files is ${Math.round(h)}px tall on a phone, want at most ${maxListHeight}`);
    await page.setViewportSize(DESKTOP);
    await phoneCheck(page, 'storage-search');
  });

  let fileURL;
  await step('open a file\'s page from the list: stripes, hosts, live shards', async () => {
    const link = page.locator(tid('asset-link')).first();
    fileURL = base + await link.getAttribute('href');
    await link.click();
    await page.waitForURL(fileURL);
    await page.locator(tid('file-page')).waitFor();
    const stripes = await page.locator(tid('file-stripe')).count();
    check(stripes >= 1, 'the file page shows no stripe');
    const hosts = await page.locator(tid('file-host')).count();
    check(hosts >= 1, 'the file page shows no host');
    const live = await page.locator(`${tid('file-shard')}[data-state="live"]`).count();
    check(live >= 1, 'the file page shows no live shard');
    const name = (await page.locator(tid('file-name')).innerText()).trim();
    check(name.startsWith(`detail-${stamp}-`), `file page name ${JSON.stringify(name)}`);
    check(await page.locator(tid('file-download')).count() === 1, 'the file page has no download link');
  });
  await step('the file page shows its audits and shares the file with a peer', async () => {
    const audits = page.locator(tid('file-audits'));
    check(await audits.count() === 1, 'the file page shows no audits');
    check(/^\d+$/.test(await audits.getAttribute('data-passed')), 'audits passed is not a number');
    const to = page.locator(tid('file-share-to'));
    check(await to.locator('option').count() >= 1, 'the share form offers no peer');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('file-share-submit'))]);
    const name = (await page.locator(tid('file-name')).innerText()).trim();
    check(download.suggestedFilename() === `${name}.share.json`, `share download is called ${download.suggestedFilename()}`);
    const manifest = JSON.parse(await new Response(await download.createReadStream()).text());
    check(manifest.recipient === await to.inputValue(), `manifest recipient ${manifest.recipient}`);
    check(typeof manifest.signature === 'string' && manifest.signature.length === 128, 'manifest has no signature');
  });
  await shot(page, 'file-desktop', { fullPage: true });
  await step('file page on a phone', () => phoneCheck(page, 'file'));

  await step('open a peer\'s page from the peer table: one state, shards exchanged', async () => {
    await page.goto(base + '/network/peers');
    const link = page.locator(`${tid('peer-row')}[data-state="up"] ${tid('peer-link')}`).first();
    await link.waitFor();
    const href = await link.getAttribute('href');
    await link.click();
    await page.waitForURL(base + href);
    await page.locator(tid('peer-page')).waitFor();
    const badges = await page.locator(`main ${tid('peer-state')}`).count();
    check(badges === 1, `${badges} state badges on the peer page, want 1`);
    const status = await page.locator(`main ${tid('peer-state')}`).getAttribute('data-status');
    check(['up', 'idle'].includes(status), `peer status ${status}, want up or idle`);
    for (const id of ['peer-held-for-us', 'peer-held-for-them', 'peer-endpoint', 'peer-via', 'peer-last-seen',
      'peer-rtt', 'peer-bytes-sent', 'peer-bytes-received', 'peer-timeline']) {
      check(await page.locator(tid(id)).count() === 1, `the peer page has no ${id}`);
    }
    // An up peer of a node that polls it has a measured round trip.
    const rtt = Number(await page.locator(tid('peer-rtt')).getAttribute('data-rtt-us'));
    check(rtt > 0, `peer round trip ${rtt} µs, want measured`);
    check(/\d ms/.test(await page.locator(tid('peer-rtt')).innerText()), 'the round trip is not shown in ms');
    // The shards it holds for us were sent to it by this node.
    const heldForUs = Number(await page.locator(tid('peer-held-for-us')).getAttribute('data-bytes'));
    const sent = Number(await page.locator(tid('peer-bytes-sent')).getAttribute('data-bytes'));
    check(heldForUs === 0 || sent >= heldForUs, `sent ${sent} bytes to a peer that holds ${heldForUs} for us`);
    // The timeline ends in the peer's state now, up, and is drawn.
    const spans = page.locator(`${tid('peer-timeline-span')}`);
    const last = await spans.nth((await spans.count()) - 1).getAttribute('data-state');
    check(last === 'up', `the timeline ends ${last}, want up`);
    const box = await page.locator(tid('peer-timeline')).boundingBox();
    check(box && box.width > 100 && box.height > 10, `peer timeline is ${JSON.stringify(box)}`);
  });
  await shot(page, 'peer-desktop', { fullPage: true });
  await step('peer page on a phone', () => phoneCheck(page, 'peer'));
  await page.goto(base + '/network/peers');
  await step('peers page on a phone', () => phoneCheck(page, 'peers'));
  await page.goto(base + '/network/mesh');
  await step('mesh page on a phone', () => phoneCheck(page, 'mesh'));

  await step('the overview\'s charts draw lines from the node\'s history', async () => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      await page.goto(base + '/?range=1h');
      const lines = await page.locator(`${tid('chart-traffic')} ${tid('chart-line')}`).count();
      const peers = await page.locator(`${tid('chart-peers')} ${tid('chart-line')}`).count();
      if (lines === 2 && peers === 1) break;
      check(Date.now() < deadline, `charts have ${peers} peer and ${lines} traffic lines after 30 s, want 1 and 2`);
      await page.waitForTimeout(1000);
    }
    const d = await page.locator(`${tid('chart-peers')} ${tid('chart-line')}`).getAttribute('d');
    check(/^M[0-9.]+ [0-9.]+/.test(d), `peer line path ${JSON.stringify(d)}`);
    const box = await page.locator(`${tid('chart-peers')} svg`).boundingBox();
    check(box && box.width > 100 && box.height > 20, `peer chart is ${JSON.stringify(box)}`);
    const free = await page.locator(tid('stat-disk')).getAttribute('data-free');
    check(Number(free) > 0, `disk free ${free}, want the file system's free bytes`);
    const owned = await page.locator(tid('stat-files')).getAttribute('data-owned');
    check(Number(owned) >= files, `files owned ${owned}, want at least ${files}`);
  });

  await step('the live feed shows its history again after a reload', async () => {
    await feedLive(page);
    const before = await page.locator(`${tid('feed')} ${tid('feed-item')}`).evaluateAll((els) => els.map((e) => e.id));
    check(before.length >= 10, `the feed shows ${before.length} entries before the reload, want the uploads' events`);
    await page.reload();
    await feedLive(page);
    const after = await page.locator(`${tid('feed')} ${tid('feed-item')}`).evaluateAll((els) => els.map((e) => e.id));
    const kept = before.filter((id) => after.includes(id));
    check(kept.length === before.length, `after a reload the feed shows ${kept.length} of the ${before.length} entries it had`);
    check(new Set(after).size === after.length, 'the feed shows an entry twice');
  });
  await shot(page, 'overview-desktop', { fullPage: true });
  await step('dashboard on a phone', () => phoneCheck(page, 'overview'));

  // deleteFromPage opens the file page of the list's first match, checks
  // it fits the screen, deletes the file with its Delete button (accepting
  // the confirmation) and checks the storage page says so and no longer
  // lists it.
  async function deleteFromPage(size) {
    await page.goto(base + `/storage?q=detail-${stamp}`);
    const link = page.locator(tid('asset-link')).first();
    const href = await link.getAttribute('href');
    const name = (await link.innerText()).trim();
    await link.click();
    await page.waitForURL(base + href);
    await page.locator(tid('file-delete')).waitFor();
    const overflow = await wider(page);
    check(overflow <= 1, `${size}: the file page is ${overflow}px wider than the screen`);
    await shot(page, `file-actions-${size}`, { fullPage: true });
    page.once('dialog', (d) => d.accept());
    await page.click(tid('file-delete'));
    await page.waitForURL(/\/storage\?deleted=/);
    const notice = (await page.locator(tid('assets-notice')).innerText()).trim();
    check(notice.startsWith('Deleted '), `${size}: storage notice ${JSON.stringify(notice)}`);
    check(await page.locator(`${tid('asset-link')}[href="${href}"]`).count() === 0, `${size}: ${name} is still listed`);
    await shot(page, `storage-deleted-${size}`, { fullPage: true });
  }
  await step('delete a file from its page', () => deleteFromPage('desktop'));
  await step('delete a file from its page on a phone', async () => {
    await page.setViewportSize(PHONE);
    await deleteFromPage('phone');
    await page.setViewportSize(DESKTOP);
    await phoneCheck(page, 'storage-deleted');
  });

});
