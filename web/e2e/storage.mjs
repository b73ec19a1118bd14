// Browser test of the storage page against a running node.
//
//   OFFGRID_URL=http://127.0.0.1:7420 OFFGRID_TOKEN=... node web/e2e/storage.mjs
//
// Env: OFFGRID_URL (required; it must have enough live hosts to store a
// file), OFFGRID_TOKEN (required), OFFGRID_SCREENSHOTS and OFFGRID_CHROMIUM,
// as harness.mjs describes, and
//   OFFGRID_E2E_SIZE     bytes of the test file (default: 5 MiB)
//
// It logs in, opens /storage, makes a file of random bytes in the page
// (hashing it there with SHA-256), drags it onto the drop zone, watches the
// progress bar reach 100 %, waits for the file's row to say "stored",
// downloads it back through the page's link and compares the SHA-256 of
// the saved file with the page's. Dropped again, the same file is hashed
// with BLAKE3 in the page, the node answers that it is stored already, and
// the page does not send it.
// It also checks that k/n the node refuses (k above n, or n above the live
// hosts) are reported without the file being sent, and takes desktop and
// phone screenshots. It stores one file (plus nothing for the refused
// ones) and deletes nothing. Exit status
// 1 with a FAIL line on any failure.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  check, checkPhone, feedLive, login, markPage, openFromHeader, run, samePage, shot, step, tid, usage,
} from './harness.mjs';

const size = Number(process.env.OFFGRID_E2E_SIZE || 5 * 1024 * 1024);
// Storing and fetching go over the mesh: allow them longer.
const meshTimeout = 60_000;

if (!Number.isInteger(size) || size < 1) {
  usage(`OFFGRID_E2E_SIZE=${process.env.OFFGRID_E2E_SIZE} is not a positive whole number`);
}

// dropFile makes a File of random bytes in the page, hashes it, and drops
// it on the drop zone the way a browser does: dragenter, dragover, drop,
// each carrying a DataTransfer with the file. It returns the file's name
// and hex SHA-256.
async function dropFile(page, name, bytes, mark = false) {
  return page.evaluate(async ({ name, bytes, mark, sel }) => {
    const parts = [];
    for (let left = bytes; left > 0;) {
      const chunk = new Uint8Array(Math.min(left, 65536)); // getRandomValues' limit
      crypto.getRandomValues(chunk);
      parts.push(chunk);
      left -= chunk.length;
    }
    const file = new File(parts, name, { type: 'application/octet-stream' });
    window.offgridE2EFile = file; // for dropAgain
    const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
    const hash = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
    const zone = document.querySelector(sel);
    const dt = new DataTransfer();
    dt.items.add(file);
    const fire = (type) => zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    fire('dragenter');
    fire('dragover');
    const highlighted = zone.classList.contains('dragover');
    if (mark) return { hash, highlighted, dropped: false };
    fire('drop');
    return { hash, highlighted, dropped: true, stillHighlighted: zone.classList.contains('dragover') };
  }, { name, bytes, mark, sel: tid('dropzone') });
}

// dropAgain drops the file dropFile made last once more.
async function dropAgain(page) {
  return page.evaluate((sel) => {
    const zone = document.querySelector(sel);
    const dt = new DataTransfer();
    dt.items.add(window.offgridE2EFile);
    for (const type of ['dragenter', 'dragover', 'drop']) {
      zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
    }
  }, tid('dropzone'));
}

// countUploads counts the page's uploads (POST /ui/assets) until the
// function it returns is called, which returns the count.
function countUploads(page) {
  let n = 0;
  const count = (req) => {
    if (req.method() === 'POST' && new URL(req.url()).pathname === '/ui/assets') n++;
  };
  page.on('request', count);
  return () => {
    page.off('request', count);
    return n;
  };
}

// The one refused upload (bad k/n) is an expected 4xx; anything else in
// the console is a problem.
let expect4xx = false;
await run({
  name: 'storage e2e', downloads: true,
  ignoreConsole: (text) => expect4xx && /status of 4\d\d\b/.test(text),
}, async (page, { downloads }) => {
  await step('log in and open /storage from the header', async () => {
    await login(page, '/storage');
    await openFromHeader(page, 'nav-storage', '/storage', tid('dropzone'), tid('assets-table'));
  });

  await step('live feed connects', () => feedLive(page));

  await step('drop zone highlights on dragover', async () => {
    const r = await dropFile(page, 'not-dropped.bin', 16, true);
    check(r.highlighted, 'drop zone has no .dragover class during dragover');
    await page.waitForTimeout(300); // the highlight's transition
    await shot(page, 'storage-dragover-desktop');
    await page.locator(tid('dropzone')).dispatchEvent('dragleave');
    check(!await page.locator(tid('dropzone')).evaluate((z) => z.classList.contains('dragover')),
      'drop zone still highlighted after dragleave');
  });

  await markPage(page);

  const name = `e2e-${Date.now()}.bin`;
  let id;
  let hash;
  await step(`drop a ${size}-byte random file; progress reaches 100 %`, async () => {
    const rowsBefore = await page.locator(tid('put-result')).count();
    const r = await dropFile(page, name, size);
    hash = r.hash;
    check(r.dropped && !r.stillHighlighted, 'drop zone still highlighted after the drop');
    // The bar fills once while the page hashes the file and again while it
    // sends it: wait for the upload's end.
    await page.locator(`${tid('put-progress')}[data-state="done"][data-percent="100"]`).waitFor({ timeout: meshTimeout });
    const text = await page.locator(tid('put-progress-text')).innerText();
    check(/100 %/.test(text) && /MB\/s|MB/.test(text), `progress text = ${JSON.stringify(text)}, want 100 % and MB`);
    const result = page.locator(tid('put-result')).nth(0);
    await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length > n, [tid('put-result'), rowsBefore],
      { timeout: meshTimeout });
    const err = await page.locator(tid('put-error')).count();
    check(err === 0, `upload refused: ${err && await page.locator(tid('put-error')).first().innerText()}`);
    id = await result.getAttribute('data-asset-id');
    check(id && id.length >= 8, `put-result data-asset-id = ${JSON.stringify(id)}`);
    const shown = (await result.locator(tid('put-result-id')).innerText()).trim();
    check(shown === id, `put-result shows ID ${JSON.stringify(shown)}, want ${JSON.stringify(id)}`);
    const state = await result.getAttribute('data-state');
    check(['pending', 'stored', 'degraded'].includes(state), `put-result state = ${JSON.stringify(state)}`);
    check(await samePage(page), 'the page reloaded');
  });

  const row = () => page.locator(`${tid('asset-row')}[data-asset-id="${id}"]`);
  await step('the file\'s row says "stored"', async () => {
    await row().locator(tid('asset-state'), { hasText: /^stored$/ }).waitFor({ timeout: meshTimeout });
    const text = await row().innerText();
    check(text.includes(name), `row ${id} does not show the name ${name}: ${JSON.stringify(text)}`);
    const shards = (await row().locator(tid('asset-shards')).innerText()).trim();
    const [live, n] = shards.split('/').map(Number);
    check(n > 0 && live > 0 && live <= n, `shards cell = ${JSON.stringify(shards)}, want live/n`);
    const survives = (await row().locator(tid('asset-survives')).innerText()).trim();
    check(/^[0-9]+$/.test(survives) && Number(survives) < n, `survives cell = ${JSON.stringify(survives)}, want 0..${n - 1}`);
  });
  await shot(page, 'storage-desktop', { fullPage: true });

  await step('drop the same file again: the page hashes it, the node says it is stored already, and nothing is sent', async () => {
    const rowsBefore = await page.locator(tid('put-result')).count();
    const uploads = countUploads(page);
    await dropAgain(page);
    await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length > n, [tid('put-result'), rowsBefore],
      { timeout: meshTimeout });
    const sent = uploads();
    check(sent === 0, `the stored file was sent again (${sent} uploads)`);
    const result = page.locator(tid('put-result')).nth(0);
    check(await result.getAttribute('data-already-stored') === 'true', 'the second upload of the same file was stored again');
    check(await result.getAttribute('data-asset-id') === id, `the second upload answered ${await result.getAttribute('data-asset-id')}, want ${id}`);
    const text = await result.locator(tid('put-result-already')).innerText();
    check(text.includes(`Already stored as ${id}`), `already-stored line = ${JSON.stringify(text)}`);
    check(await page.locator(`${tid('asset-row')}[data-asset-id="${id}"]`).count() === 1, 'the file is listed more than once');
  });

  await step('download it back: same SHA-256', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: meshTimeout }),
      row().locator(tid('asset-download')).click(),
    ]);
    const failure = await download.failure();
    check(failure === null, `download failed: ${failure}`);
    check(download.suggestedFilename() === name, `suggested filename = ${JSON.stringify(download.suggestedFilename())}, want ${JSON.stringify(name)}`);
    const path = join(downloads, 'downloaded.bin');
    await download.saveAs(path);
    const got = readFileSync(path);
    check(got.length === size, `downloaded ${got.length} bytes, want ${size}`);
    const gotHash = createHash('sha256').update(got).digest('hex');
    check(gotHash === hash, `downloaded SHA-256 ${gotHash}, want the page's ${hash}`);
    check(await samePage(page), 'the download navigated away');
  });

  // dropRefused drops a file with k and n the node refuses and checks the
  // page shows the node's reason, naming the file and saying want, with
  // nothing sent.
  const dropRefused = async (k, n, name, want) => {
    await page.fill(tid('put-k'), k);
    await page.fill(tid('put-n'), n);
    const errors = await page.locator(tid('put-error')).count();
    expect4xx = true;
    const uploads = countUploads(page);
    await dropFile(page, name, 4096);
    await page.waitForFunction(([sel, n]) => document.querySelectorAll(sel).length > n, [tid('put-error'), errors]);
    const sent = uploads();
    check(sent === 0, `a file with k=${k} n=${n}, which the node refuses, was sent (${sent} uploads)`);
    const msg = await page.locator(tid('put-error')).first().innerText();
    check(msg.includes(name) && msg.includes(want), `error ${JSON.stringify(msg)} does not name the file and say ${JSON.stringify(want)}`);
    check(!msg.includes('connection to the node failed'), `the node's answer did not reach the page: ${JSON.stringify(msg)}`);
    expect4xx = false;
  };

  await step('k/n the node refuses are reported, and the file is not sent', async () => {
    await page.locator('details.advanced summary').click();
    await page.selectOption(tid('put-mode'), 'ec');
    await dropRefused('20', '12', 'refused.bin', 'k=20 n=12');
    await shot(page, 'storage-error-desktop');
    await dropRefused('2', '40', 'wide.bin', 'distinct live hosts');
    await page.fill(tid('put-k'), '');
    await page.fill(tid('put-n'), '');
  });

  await step('phone layout', () => checkPhone(page, 'storage', { top: true }));
});
