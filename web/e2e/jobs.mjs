// Browser test of the jobs page (/compute) against a running node of a mesh whose
// nodes run jobs.
//
//   OFFGRID_URL=http://127.0.0.1:8081 OFFGRID_TOKEN=... OFFGRID_WC_WASM=compute/testdata/wasm/wc.wasm node web/e2e/jobs.mjs
//
// Env: OFFGRID_URL, OFFGRID_TOKEN (required), OFFGRID_SCREENSHOTS and
// OFFGRID_CHROMIUM, as harness.mjs describes, and
//   OFFGRID_WC_WASM      the word-count WASI module (required; make wasm)
//
// It logs in, opens /jobs from the header, submits a form without a module
// and sees the form's error, then drops the wc module and an input file on
// the form's drop zones (a DataTransfer in a synthetic drop event, as a
// real drag delivers it), submits with r = 2, watches the job's state
// change to done in the list without a reload, opens its detail: two
// candidates with their scores and why, two dispatches in the majority
// with the same output hash as the job's, downloads the output and checks
// its content. Desktop and phone screenshots; the phone layout must not
// scroll sideways. Exit status 1 with a FAIL line on any failure.

import { readFileSync } from 'node:fs';
import {
  base, check, DESKTOP, desktopPhoneShots, drop, login, openFromHeader, run, step, tid,
} from './harness.mjs';

const input = 'the quick brown fox\njumps over\nthe lazy dog\n';
const want = '3 9 44\n';

// The form sent without a module comes back with an expected 422.
await run({
  name: 'jobs', timeout: 15_000, env: { OFFGRID_WC_WASM: 'the wc module' },
  ignoreConsole: /status of 422/, downloads: true,
}, async (page) => {
  const module = readFileSync(process.env.OFFGRID_WC_WASM);

  await step('log in and open /compute from the header', async () => {
    await login(page, '/compute');
    await openFromHeader(page, 'nav-jobs', '/compute', tid('job-form'));
  });

  await step('a form without a module is refused with the reason', async () => {
    await page.click(tid('job-submit'));
    const err = page.locator(tid('job-error'));
    await err.waitFor();
    check(/WebAssembly module/.test(await err.innerText()), `error says ${JSON.stringify(await err.innerText())}`);
    check(await page.locator(tid('job-row')).count() === 0, 'a refused form listed a job');
  });

  await step('drop the wc module and an input on the form', async () => {
    await drop(page, tid('drop-module'), 'wc.wasm', module, 'application/wasm');
    await drop(page, tid('drop-input'), 'fox.txt', Buffer.from(input), 'text/plain');
    const names = await page.locator('.job-drop .dz-hint').allInnerTexts();
    check(/wc\.wasm/.test(names[0]) && /fox\.txt/.test(names[1]), `drop zones show ${JSON.stringify(names)}`);
    check(await page.locator(tid('job-module')).evaluate((el) => el.files.length) === 1, 'the module input holds no file');
  });

  const id = await step('submit with r = 2: the job is listed', async () => {
    await page.fill(tid('job-r'), '2');
    await page.fill(tid('job-timeout'), '30');
    await page.click(tid('job-submit'));
    await page.locator(tid('job-submitted')).waitFor();
    const row = page.locator(tid('job-row')).first();
    await row.waitFor();
    return row.getAttribute('data-job-id');
  });

  await step('the state changes to done live, without a reload', async () => {
    const url = page.url();
    const row = `${tid('job-row')}[data-job-id="${id}"]`;
    const seen = new Set([await page.locator(row).getAttribute('data-state')]);
    for (const t0 = Date.now(); !seen.has('done');) {
      check(Date.now() - t0 < 60_000, `job ${id} still ${[...seen].pop()} after 60 s`);
      const s = await page.locator(row).getAttribute('data-state');
      if (s === 'failed') {
        const d = await page.request.get(`${base}/ui/jobs/${id}`);
        const text = (await d.text()).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');
        throw new Error(`job ${id} failed: ${text}`);
      }
      seen.add(s);
      await page.waitForTimeout(200);
    }
    check(page.url() === url, 'the page was reloaded');
    console.log(`     states seen: ${[...seen].join(' -> ')}`);
    await page.locator(`${row} ${tid('job-download')}`).waitFor();
  });

  await step('desktop and phone screenshots of the list', async () => {
    await desktopPhoneShots(page, 'jobs');
    await page.setViewportSize(DESKTOP);
  });

  await step('the detail shows two scored candidates and two matching outputs', async () => {
    await page.click(`${tid('job-row')}[data-job-id="${id}"] ${tid('job-link')}`);
    await page.waitForURL(base + '/compute/' + id);
    const detail = page.locator(tid('job-detail'));
    check(await detail.getAttribute('data-state') === 'done', 'the detail is not done');
    const whys = await page.locator(`${tid('job-candidate')} td[data-label="Why"]`).allInnerTexts();
    check(whys.length >= 2 && whys.every((w) => /reliability/.test(w) || /skipped/.test(w)), `candidates' why: ${JSON.stringify(whys)}`);
    const hash = (await page.locator(tid('job-output-hash')).innerText()).trim();
    const majority = await page.locator(`${tid('job-dispatch')}[data-outcome="majority"]`).evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-output-hash')));
    check(majority.length === 2 && majority.every((h) => h === hash), `majority hashes ${JSON.stringify(majority)}, job's ${hash}`);
    await desktopPhoneShots(page, 'job-detail', 'the phone layout of the detail');
  });

  await step('download the output: the word count of the input', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('job-download'))]);
    const got = readFileSync(await download.path(), 'utf8');
    check(got === want, `downloaded ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    check(download.suggestedFilename() === `${id}.out`, `file name ${download.suggestedFilename()}`);
  });
});
