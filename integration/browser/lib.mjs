// What the browser tests share: the gateway URLs, the Chromium launch (the team's fixed flags),
// serving Debian's unchanged janus-demos with a settings.js that points at portunus, page
// logging, failure artefacts (screenshot + full console log) and bounded waits.
//
// Env: PORTUNUS_HTTP (default http://127.0.0.1:8088/janus), PORTUNUS_WS (default
// ws://127.0.0.1:8188), JANUS_DEMOS (default /usr/share/janus/demos), CHROMIUM (default
// /usr/bin/chromium), BROWSER_ARTIFACTS (folder for failure screenshots and console logs,
// default <tmp>/portunus-browser-artifacts).

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

export const GATEWAY = {
  http: process.env.PORTUNUS_HTTP || 'http://127.0.0.1:8088/janus',
  ws: process.env.PORTUNUS_WS || 'ws://127.0.0.1:8188',
};
const DEMOS = process.env.JANUS_DEMOS || '/usr/share/janus/demos';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = process.env.BROWSER_ARTIFACTS
  || path.join(os.tmpdir(), 'portunus-browser-artifacts');
// The longest any single step may wait; every wait in the tests is bounded by this or less.
export const STEP_TIMEOUT = 30_000;
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
];

// Exactly our flags (ignoreDefaultArgs), plus a fresh profile and the pipe Playwright drives
// the browser through. Returns { browser, close }.
export async function launchBrowser() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'portunus-chromium-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    ignoreDefaultArgs: true,
    args: [...FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-pipe'],
    timeout: 60_000,
  });
  return {
    browser,
    close: async () => {
      await bounded(browser.close(), 15_000, 'closing Chromium').catch((e) => {
        // A browser that does not close is killed: its processes are the ones running with
        // this test's own fresh profile.
        console.log(`  ${e.message}; killing its processes`);
        for (const pid of processesWith(`--user-data-dir=${profile}`)) {
          try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
        }
      });
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

// Ids of the processes whose command line has `arg`.
function processesWith(arg) {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (argv.includes(arg)) pids.push(Number(entry));
    } catch { /* exited meanwhile */ }
  }
  return pids;
}

// `promise`, or a rejection naming `what` after `ms`.
export function bounded(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// Copy the demo folder as it is, then re-point its relative symlinks (Debian links
// `javascript -> ../../javascript` and `fonts/font-awesome`) at what they resolve to in the
// original tree, so janus.js, jQuery, adapter.js etc. are served from the Debian packages.
function copyDemos(dst) {
  fs.cpSync(DEMOS, dst, { recursive: true, verbatimSymlinks: true });
  const fix = (rel) => {
    for (const entry of fs.readdirSync(path.join(dst, rel), { withFileTypes: true })) {
      const r = path.join(rel, entry.name);
      if (entry.isSymbolicLink()) {
        const target = fs.realpathSync(path.join(DEMOS, r));
        fs.unlinkSync(path.join(dst, r));
        fs.symlinkSync(target, path.join(dst, r));
      } else if (entry.isDirectory()) {
        fix(r);
      }
    }
  };
  fix('.');
}

function writeSettings(dir, server) {
  fs.writeFileSync(path.join(dir, 'settings.js'),
    `// Written by portunus' browser test: point the demos at the gateway under test.\n` +
    `var server = ${JSON.stringify(server)};\nvar iceServers = null;\n` +
    // Debian's demo scripts read `token` and `apisecret`, which its settings.js never
    // declares (a ReferenceError on Start); declaring them empty is what settings.js is for.
    `var token = null;\nvar apisecret = null;\n`);
}

const TYPES = {
  '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png',
  '.ico': 'image/x-icon', '.svg': 'image/svg+xml', '.woff': 'font/woff', '.woff2': 'font/woff2',
  '.ttf': 'font/ttf', '.map': 'application/json',
};

// A tiny static server on another port than the gateway, so the page is cross-origin to it
// (as with the Debian demos: CORS preflights on every POST).
function serveStatic(root) {
  return new Promise((resolve) => {
    const server = http.createServer((req, res) => {
      const url = new URL(req.url, 'http://x');
      const file = path.join(root, path.normalize(decodeURIComponent(url.pathname)));
      if (!file.startsWith(root)) { res.writeHead(403).end(); return; }
      fs.readFile(file, (err, data) => {
        if (err) { res.writeHead(404).end(); return; }
        res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream' });
        res.end(data);
      });
    });
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// Debian's demos served over HTTP with settings.js pointing at the given transport ("http" or
// "ws"). Returns { url(page) -> full URL of a demo page, close }.
export async function serveDemos(kind) {
  if (!GATEWAY[kind]) throw new Error(`unknown transport ${kind}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `portunus-demos-${kind}-`));
  const root = path.join(dir, 'demos');
  copyDemos(root);
  writeSettings(root, GATEWAY[kind]);
  const server = await serveStatic(root);
  return {
    url: (page) => `http://127.0.0.1:${server.address().port}/${page}`,
    close: () => {
      server.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Records everything a page says (console, uncaught errors, dialogs, which are dismissed so they
// never block the page). Returns the array the lines go into.
export function recordConsole(page) {
  const lines = [];
  const at = () => new Date().toISOString().slice(11, 23);
  page.on('console', (m) => lines.push(`${at()} [${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => lines.push(`${at()} [pageerror] ${e.message}`));
  page.on('dialog', (d) => {
    lines.push(`${at()} [dialog] ${d.message()}`);
    d.dismiss().catch(() => {});
  });
  return lines;
}

// On failure: a screenshot and the whole console log of each page into ARTIFACTS, the last
// lines of each log on stdout. `pages` is [{ name, page, lines }].
export async function saveArtifacts(test, pages, log) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const slug = test.replace(/[^a-zA-Z0-9]+/g, '-').replace(/^-|-$/g, '');
  for (const { name, page, lines } of pages) {
    const base = path.join(ARTIFACTS, `${slug}-${name}`);
    await page.screenshot({ path: `${base}.png`, fullPage: true, timeout: 5_000 })
      .catch((e) => log(`  (no screenshot of ${name}: ${e.message})`));
    fs.writeFileSync(`${base}.console.log`, lines.join('\n') + '\n');
    // The demos report errors in bootbox modals (HTML, not JS dialogs): name any shown.
    const alerts = await page.evaluate(() => [...document.querySelectorAll('.bootbox-body')]
      .map((b) => b.textContent.trim())).catch(() => []);
    for (const a of alerts) log(`  ${name}: the page shows "${a}"`);
    log(`  ${name}: screenshot ${base}.png, console ${base}.console.log; last lines:\n    `
      + lines.slice(-25).map((l) => l.replace(/\s*\n\s*/g, ' | ').slice(0, 240)).join('\n    '));
  }
}

// The demos bind Start inside Janus.init's callback; click until the page reacts (the button
// turns disabled or "Stop"), never once it has.
export async function clickStart(page) {
  for (let i = 0; i < 20; i++) {
    await page.click('#start', { timeout: STEP_TIMEOUT });
    const started = await page.waitForFunction(() => {
      const b = document.querySelector('#start');
      return b.disabled || b.textContent.trim() !== 'Start';
    }, null, { timeout: 500, polling: 50 }).then(() => true, () => false);
    if (started) return;
  }
  throw new Error('the Start button never reacted');
}

// Leaves cleanly: destroys the demo's Janus session (its global `janus`), as its Stop button
// does, so the gateway drops the handles at once. Resolves to 'destroyed', 'no session' (none
// or already left: the demos reload themselves once destroyed) or what went wrong.
// (The page itself is left to go with the browser: closing a page that ran a PeerConnection
// sometimes hangs in headless Chromium.)
export async function leaveJanus(page) {
  const leave = () => bounded(page.evaluate(() => new Promise((resolve) => {
    if (typeof janus === 'undefined' || !janus) { resolve('no session'); return; }
    janus.destroy({ success: () => resolve('destroyed'), error: (e) => resolve(`error ${e}`) });
    setTimeout(() => resolve('no answer in 3 s'), 3000);
  })), 5_000, 'leaving');
  try {
    return await leave();
  } catch (e) {
    if (!/Execution context was destroyed/.test(e.message)) return e.message;
    // The page was reloading (as the demos do once their session is destroyed): ask the new one.
    await page.waitForLoadState('load', { timeout: 5_000 }).catch(() => {});
    return leave().catch((e2) => e2.message);
  }
}

// Polls `fn(arg)` in the page until it returns a truthy value, which is returned; throws
// `what` (with the last value seen, when `describe` is given) after `timeout` ms.
export async function waitInPage(page, what, fn, arg, { timeout = STEP_TIMEOUT, polling = 100 } = {}) {
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout, polling });
    return await handle.jsonValue();
  } catch (e) {
    if (/Timeout/.test(e.message)) throw new Error(`timed out after ${timeout} ms waiting for ${what}`);
    throw e;
  }
}

// Polls an async Node-side `probe()` every `interval` ms until `ok(value)`; returns the value or
// throws with the last value seen after `timeout` ms.
export async function waitFor(what, probe, ok, { timeout = STEP_TIMEOUT, interval = 500 } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await probe();
    if (ok(last)) return last;
    if (Date.now() >= end) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

// Runs the named tests in order (each an async (log) => void), printing TAP-like lines and the
// summary line run.sh greps for; exits non-zero on any failure.
export async function runTests(suite, tests) {
  let passed = 0;
  let failed = 0;
  for (const [name, fn] of tests) {
    const t0 = Date.now();
    try {
      await fn((s) => console.log(`  ${s}`));
      console.log(`ok - ${suite}: ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      passed++;
    } catch (e) {
      // Playwright's messages carry a multi-line, colored call log: first line on the verdict
      // line, the rest indented below.
      const [first, ...rest] = String(e.message).replace(/\x1b\[[0-9;]*m/g, '').split('\n');
      console.log(`not ok - ${suite}: ${name}: ${first}`);
      for (const l of rest.filter((x) => x.trim())) console.log(`    ${l.trim()}`);
      failed++;
    }
  }
  console.log(`${suite}: ${passed} passed, ${failed} failed`);
  return { passed, failed };
}
