// Browser test of the ledger page against a running node.
//
//   OFFGRID_URL=http://127.0.0.1:7420 OFFGRID_TOKEN=... node web/e2e/ledger.mjs
//
// Env: OFFGRID_URL, OFFGRID_TOKEN (required), OFFGRID_SCREENSHOTS and
// OFFGRID_CHROMIUM, as harness.mjs describes.
//
// Through the API it runs three jobs and seals their receipts into a
// block. Then it logs in, opens the ledger page from the header, finds
// the block, and clicks "Check" on every receipt: the page recomputes the
// RFC 6962 hashes in the browser and must say each receipt is included.
// It then changes one byte of a receipt's leaf data in the page and checks
// that the same button now says the proof does not lead to the root.
// Desktop and phone screenshots. Exit status 1 with a FAIL line on any
// failure.

import { api, check, desktopPhoneShots, login, openFromHeader, run, step, tid } from './harness.mjs';

await run({ name: 'ledger page', viewport: { width: 1280, height: 900 } }, async (page) => {
  const block = await step('seal three receipts into a block', async () => {
    const stamp = Date.now();
    for (let i = 0; i < 3; i++) {
      await api('POST', '/run', { job_id: `ledger-e2e-${stamp}-${i}`, metrics: { compute_tokens_m: i + 1 } });
    }
    const s = await api('POST', '/ledger/seal');
    check(s.sealed && s.block && s.block.receipts >= 3, `seal answered ${JSON.stringify(s)}`);
    return s.block;
  });

  await step('log in and open the ledger page', async () => {
    await login(page, '/ledger');
    await openFromHeader(page, 'nav-ledger', '/ledger', `${tid('block-row')}[data-name="${block.name}"]`);
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

  await step('screenshots; no sideways scrolling on a phone', () => desktopPhoneShots(page, 'ledger'));
});
