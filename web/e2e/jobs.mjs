// Browser test of the jobs page (/compute) against a running node of a mesh whose
// nodes run jobs.
//
//   OFFGRID_URL=http://127.0.0.1:8081 OFFGRID_TOKEN=... OFFGRID_WC_WASM=compute/testdata/wasm/wc.wasm node web/e2e/jobs.mjs
//
// Env:
//   OFFGRID_URL          base URL of a running node (required)
//   OFFGRID_TOKEN        the node's admin token (required)
//   OFFGRID_WC_WASM      the word-count WASI module (required; make wasm)
//   OFFGRID_SCREENSHOTS  directory for screenshots (default: web/screenshots)
//   OFFGRID_CHROMIUM     browser binary (default: /usr/bin/chromium)
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

import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const base = (process.env.OFFGRID_URL || '').replace(/\/+$/, '');
const token = process.env.OFFGRID_TOKEN || '';
const wasmPath = process.env.OFFGRID_WC_WASM || '';
const shots = resolve(process.env.OFFGRID_SCREENSHOTS || fileURLToPath(new URL('../screenshots', import.meta.url)));
const executablePath = process.env.OFFGRID_CHROMIUM || '/usr/bin/chromium';
const timeout = 15_000;

if (!base || !token || !wasmPath) {
  console.error('FAIL: set OFFGRID_URL (base URL of a running node), OFFGRID_TOKEN (its admin token) and OFFGRID_WC_WASM (the wc module)');
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

// drop fires dragenter, dragover and drop on the zone with a DataTransfer
// holding one file, as the browser does for a file dragged from the desktop.
async function drop(page, zone, name, bytes, type) {
  await page.evaluate(([sel, name, b64, type]) => {
    const data = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([data], name, { type }));
    const el = document.querySelector(sel);
    for (const kind of ['dragenter', 'dragover', 'drop']) {
      el.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: dt }));
    }
  }, [zone, name, Buffer.from(bytes).toString('base64'), type]);
}

const input = 'the quick brown fox\njumps over\nthe lazy dog\n';
const want = '3 9 44\n';
const module = readFileSync(wasmPath);
const profile = mkdtempSync(join(tmpdir(), 'offgrid-e2e-'));
let context;
const problems = [];

try {
  mkdirSync(shots, { recursive: true });
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    acceptDownloads: true,
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

  await step('log in and open /compute from the header', async () => {
    await page.goto(base + '/compute');
    await page.waitForURL(/\/login$/);
    await page.fill(tid('login-token'), token);
    await page.click(tid('login-submit'));
    await page.waitForURL(base + '/');
    await page.click(tid('nav-jobs'));
    await page.waitForURL(base + '/compute');
    await page.locator(tid('job-form')).waitFor();
    check(await page.locator(tid('nav-jobs')).getAttribute('aria-current') === 'page', 'the Jobs link is not marked current');
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
    await shot(page, 'jobs-desktop', { fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(200);
    await shot(page, 'jobs-phone', { fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(overflow <= 0, `the phone layout scrolls sideways by ${overflow} px`);
    await page.setViewportSize({ width: 1280, height: 800 });
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
    await shot(page, 'job-detail-desktop', { fullPage: true });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(200);
    await shot(page, 'job-detail-phone', { fullPage: true });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    check(overflow <= 0, `the phone layout of the detail scrolls sideways by ${overflow} px`);
  });

  await step('download the output: the word count of the input', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('job-download'))]);
    const got = readFileSync(await download.path(), 'utf8');
    check(got === want, `downloaded ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    check(download.suggestedFilename() === `${id}.out`, `file name ${download.suggestedFilename()}`);
  });

  check(problems.length === 0, problems.join('\n'));
  console.log('PASS jobs');
} catch (err) {
  console.error(`FAIL [${current}]: ${err.message}`);
  process.exitCode = 1;
} finally {
  await context?.close();
  rmSync(profile, { recursive: true, force: true });
}
