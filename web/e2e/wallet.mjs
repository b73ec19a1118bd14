// Browser test of the wallet page against a running node whose cluster
// has an economy with credits for it.
//
//   OFFGRID_URL=http://127.0.0.1:8081 OFFGRID_TOKEN=... node web/e2e/wallet.mjs
//
// Env: OFFGRID_URL, OFFGRID_TOKEN (required), OFFGRID_SCREENSHOTS and
// OFFGRID_CHROMIUM, as harness.mjs describes.
//
// It logs in, opens /wallet from the header, waits for the live feed,
// reads this node's balance, sends 1.5 credits to another account with
// the form and checks that the answer says final, that the balance fell by
// the amount and the fee without a reload, and that the feed lists the
// transfer. A transfer of more than the balance is refused with the form's
// error and changes nothing. Desktop and phone screenshots; the phone
// layout must not scroll sideways. Exit status 1 with a FAIL line on any
// failure.

import {
  check, desktopPhoneShots, feedLive, login, openFromHeader, run, step, tid,
} from './harness.mjs';

// micro reads a decimal credit string as integer micro-credits.
function micro(s) {
  const [i, f = ''] = s.trim().split('.');
  return Number(i) * 1e6 + Number((f + '000000').slice(0, 6));
}

async function ownBalance(page) {
  return micro(await page.locator(tid('own-balance')).evaluate((el) => el.firstChild.textContent));
}

// The refused transfer of more than the balance is an expected 422.
await run({ name: 'wallet', timeout: 15_000, ignoreConsole: /status of 422/ }, async (page) => {
  await step('log in and open /wallet from the header', async () => {
    await login(page, '/wallet');
    await openFromHeader(page, 'nav-wallet', '/wallet', tid('balances-table'));
  });

  await step('live feed connects', () => feedLive(page));

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

  await step('desktop and phone screenshots; no sideways scrolling on a phone', () => desktopPhoneShots(page, 'wallet'));
});
