// The shared part of the browser tests in this folder. It is not a test
// itself: cmd/offgrid's TestBrowser runs every other *.mjs here.
//
// A test script imports what it needs and hands its steps to run():
//
//   import { run, step, check, shot, tid, login } from './harness.mjs';
//   await run({ name: 'wallet' }, async (page) => {
//     await step('log in', () => login(page, '/wallet'));
//     ...
//   });
//
// Env (read here for every script; a script documents its own extras):
//   OFFGRID_URL          base URL of a running node (required)
//   OFFGRID_TOKEN        the node's admin token (required)
//   OFFGRID_SCREENSHOTS  directory for screenshots (default: web/screenshots)
//   OFFGRID_CHROMIUM     browser binary (default: /usr/bin/chromium)
//
// run() checks the environment (exit status 2 with a FAIL line when a
// required variable is missing), starts Chromium headless with a
// throw-away profile at 1280x800, and collects every console error and
// uncaught page error, tagged with the step it happened in, as a problem.
// After the script's steps it adds the step "no console or page errors",
// then prints PASS, or the failed step and the problems as a FAIL line
// with exit status 1. It always closes the browser, removes the profile
// (and the downloads folder), after the script's own cleanup.
//
// Options of run():
//   name           what the PASS line calls the test
//   env            extra required variables, name -> what it is, e.g.
//                  { OFFGRID_WC_WASM: 'the wc module' }
//   timeout        Playwright's default timeout in ms (default 10000)
//   viewport       the desktop size (default DESKTOP, 1280x800)
//   ignoreConsole  a RegExp or a function of the text: console errors it
//                  matches are expected (say why next to it), not problems
//   downloads      true: accept downloads into a folder of their own,
//                  removed at the end; run passes its path to the script
//   failLines      how many lines of the error the FAIL line shows (6)
//   cleanup        async function run before the browser is closed, also
//                  on failure (e.g. to stop a process the script started)
//
// The body gets the page and { downloads } (the downloads folder's path).
// The other exports are what the scripts used to write for themselves:
// base, token and shots from the environment, usage for a script's own
// environment checks, step/check/shot/tid, api for the node's HTTP API,
// login and openFromHeader, feedLive, markPage/samePage, drop, and the
// layout sizes DESKTOP and PHONE with the two phone layout checks,
// checkPhone and desktopPhoneShots (and wider, their measure).

import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const base = (process.env.OFFGRID_URL || '').replace(/\/+$/, '');
export const token = process.env.OFFGRID_TOKEN || '';
export const shots = resolve(process.env.OFFGRID_SCREENSHOTS || fileURLToPath(new URL('../screenshots', import.meta.url)));
const executablePath = process.env.OFFGRID_CHROMIUM || '/usr/bin/chromium';

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

// usage reports a wrong environment: exit status 2, not a test failure.
export function usage(msg) {
  console.error(`FAIL: ${msg}`);
  process.exit(2);
}

let current = 'start';

// step runs one named part of a test, logs it with its duration and
// returns what fn returns. A failure names the step it happened in.
export async function step(name, fn) {
  current = name;
  const t0 = Date.now();
  const result = await fn();
  console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  return result;
}

export function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

// shot saves a screenshot. caret: 'initial' stops Playwright injecting a
// <style> element, which the dashboard's CSP (rightly) refuses and logs.
export async function shot(page, name, opts = {}) {
  await page.screenshot({ path: join(shots, `${name}.png`), caret: 'initial', ...opts });
}

export const tid = (id) => `[data-testid="${id}"]`;

// api calls the node's HTTP API with the admin token and returns the
// JSON answer; any status but 2xx fails.
export async function api(method, path, body) {
  const r = await fetch(base + path, {
    method,
    headers: { Accept: 'application/json', Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  check(r.ok, `${method} ${path} = ${r.status}: ${text}`);
  return JSON.parse(text);
}

// login opens path, which sends a browser without a session to /login,
// logs in with the admin token and waits for the overview it lands on.
export async function login(page, path) {
  await page.goto(base + path);
  await page.waitForURL(/\/login$/);
  await page.fill(tid('login-token'), token);
  await page.click(tid('login-submit'));
  await page.waitForURL(base + '/');
}

// openFromHeader clicks the header's link nav (a data-testid), waits for
// path and for each of the ready selectors, and checks the link is marked
// as the current page.
export async function openFromHeader(page, nav, path, ...ready) {
  await page.click(tid(nav));
  await page.waitForURL(base + path);
  for (const sel of ready) await page.locator(sel).waitFor();
  check(await page.locator(tid(nav)).getAttribute('aria-current') === 'page', `the ${nav} link is not marked current`);
}

// feedLive waits for the live feed's websocket to connect.
export async function feedLive(page) {
  await page.locator(`${tid('feed-status')}[data-state="live"]`).waitFor();
}

// markPage leaves a marker that survives only as long as the page is not
// reloaded; samePage says whether it is still there.
export async function markPage(page) {
  await page.evaluate(() => { window.offgridE2E = 'same-page'; });
}
export async function samePage(page) {
  return await page.evaluate(() => window.offgridE2E) === 'same-page';
}

// drop fires dragenter, dragover and drop on the zone (a selector) with a
// DataTransfer holding one file of the given bytes, as the browser does
// for a file dragged from the desktop.
export async function drop(page, zone, name, bytes, type) {
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

// The phone layout is checked two ways, as the scripts always have:
// checkPhone allows the page to be 1 px wider than the window (its
// innerWidth), desktopPhoneShots allows no sideways scrolling at all
// (against clientWidth). Each script keeps the one it had.

// wider is how many px the page is wider than the window.
export async function wider(page) {
  return page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
}

// checkPhone resizes to a phone, asserts the page is not wider than the
// screen and takes the full-page screenshot NAME-phone; then back to the
// desktop size. Options: what (the page's name in the message), settle
// (ms to wait after the resize), elements (also no visible element of
// main past the right edge), top (also the screenshot NAME-phone-top of
// the top of the page).
export async function checkPhone(page, name, { what = 'page', settle = 0, elements = false, top = false } = {}) {
  await page.setViewportSize(PHONE);
  if (settle) await page.waitForTimeout(settle);
  const overflow = await wider(page);
  if (elements) {
    // Visible elements only: a stacked table's header row is clipped to
    // nothing on purpose (it stays for screen readers).
    const wide = await page.evaluate(() => [...document.querySelectorAll('main *')]
      .filter((e) => !e.closest('thead, .visually-hidden') && e.getClientRects().length &&
        e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 3).map((e) => `${e.tagName.toLowerCase()}.${e.className}`));
    check(overflow <= 1, `${name}: ${what} is ${overflow}px wider than a ${PHONE.width}px phone screen (past the edge: ${wide.join(', ')})`);
    check(wide.length === 0, `${name}: elements past the right edge: ${wide.join(', ')}`);
  } else {
    check(overflow <= 1, `${what} is ${overflow}px wider than a ${PHONE.width}px phone screen`);
  }
  await shot(page, `${name}-phone`, { fullPage: true });
  if (top) {
    await page.evaluate(() => window.scrollTo(0, 0));
    await shot(page, `${name}-phone-top`);
  }
  await page.setViewportSize(DESKTOP);
}

// desktopPhoneShots takes the full-page screenshots NAME-desktop and,
// resized to a phone, NAME-phone, and asserts the phone layout does not
// scroll sideways. It leaves the page at the phone size.
export async function desktopPhoneShots(page, name, what = 'the phone layout') {
  await shot(page, `${name}-desktop`, { fullPage: true });
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(200);
  await shot(page, `${name}-phone`, { fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  check(overflow <= 0, `${what} scrolls sideways by ${overflow} px`);
}

// run runs a test's body against a fresh browser page; see the top.
export async function run(opts, body) {
  const {
    name, env = {}, timeout = 10_000, viewport = DESKTOP, ignoreConsole = null,
    downloads = false, failLines = 6, cleanup = null,
  } = opts;
  if (!base || !token || Object.keys(env).some((k) => !process.env[k])) {
    const need = { OFFGRID_URL: 'base URL of a running node', OFFGRID_TOKEN: 'its admin token', ...env };
    const list = Object.entries(need).map(([k, what]) => `${k} (${what})`);
    usage(`set ${list.slice(0, -1).join(', ')} and ${list[list.length - 1]}`);
  }
  const ignored = typeof ignoreConsole === 'function' ? ignoreConsole
    : ignoreConsole ? (text) => ignoreConsole.test(text) : () => false;

  const profile = mkdtempSync(join(tmpdir(), 'offgrid-e2e-'));
  const downloadsPath = downloads ? mkdtempSync(join(tmpdir(), 'offgrid-e2e-dl-')) : undefined;
  let context;
  const problems = [];
  try {
    mkdirSync(shots, { recursive: true });
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      ...(downloads ? { acceptDownloads: true, downloadsPath } : {}),
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport,
    });
    context.setDefaultTimeout(timeout);
    const page = context.pages()[0] || await context.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && !ignored(m.text())) problems.push(`[${current}] console error: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`[${current}] page error: ${e.message}`));

    await body(page, { downloads: downloadsPath });

    await step('no console or page errors', async () => {
      check(problems.length === 0, problems.join('\n'));
    });
    console.log(`PASS ${name}; screenshots in ${shots}`);
  } catch (err) {
    console.error(`FAIL at "${current}": ${err.message.split('\n').slice(0, failLines).join('\n')}`);
    if (problems.length) console.error(problems.join('\n'));
    process.exitCode = 1;
  } finally {
    if (cleanup) await cleanup();
    if (context) await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
    if (downloadsPath) rmSync(downloadsPath, { recursive: true, force: true });
  }
}
