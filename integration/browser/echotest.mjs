// Real-browser test: headless Chromium with fake media devices opens the *unchanged* EchoTest
// page of Debian's janus-demos (with Debian's janus.js) pointed at portunus, once over HTTP
// long-poll and once over WebSocket, and checks that the echoed video plays and that a
// data-channel message comes back.
//
// Env: PORTUNUS_HTTP (default http://127.0.0.1:8088/janus), PORTUNUS_WS (default
// ws://127.0.0.1:8188), JANUS_DEMOS (default /usr/share/janus/demos), CHROMIUM (default
// /usr/bin/chromium), TRANSPORTS (default "http,ws").

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';

const GATEWAY = {
  http: process.env.PORTUNUS_HTTP || 'http://127.0.0.1:8088/janus',
  ws: process.env.PORTUNUS_WS || 'ws://127.0.0.1:8188',
};
const DEMOS = process.env.JANUS_DEMOS || '/usr/share/janus/demos';
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TRANSPORTS = (process.env.TRANSPORTS || 'http,ws').split(',').filter(Boolean);
const STEP_TIMEOUT = 30_000;
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream',
];

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
    // Debian's echotest.js reads `token` and `apisecret`, which its settings.js never
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

async function runOnce(kind, browser, log) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `portunus-demos-${kind}-`));
  const root = path.join(dir, 'demos');
  copyDemos(root);
  writeSettings(root, GATEWAY[kind]);
  const server = await serveStatic(root);
  const page = await browser.newPage();
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => consoleLines.push(`[pageerror] ${e.message}`));
  page.on('dialog', (d) => { consoleLines.push(`[dialog] ${d.message()}`); d.dismiss().catch(() => {}); });
  try {
    const url = `http://127.0.0.1:${server.address().port}/echotest.html`;
    await page.goto(url);
    // The demo binds Start inside Janus.init's callback; click until the page reacts (the
    // button turns disabled or "Stop"), never once it has.
    let started = false;
    for (let i = 0; i < 20 && !started; i++) {
      await page.click('#start', { timeout: STEP_TIMEOUT });
      started = await page.waitForFunction(() => {
        const b = document.querySelector('#start');
        return b.disabled || b.textContent.trim() !== 'Start';
      }, null, { timeout: 500, polling: 50 }).then(() => true, () => false);
    }
    if (!started) throw new Error('the Start button never reacted');
    const t0 = Date.now();
    // Remote video: janus.js attaches the echoed stream to #videoright video (peervideo<mid>).
    await page.waitForFunction(() => {
      const v = document.querySelector('#videoright video');
      return v && v.videoWidth > 0 && v.currentTime > 0;
    }, null, { timeout: STEP_TIMEOUT, polling: 100 });
    const first = await page.evaluate(() => {
      const v = document.querySelector('#videoright video');
      return { w: v.videoWidth, h: v.videoHeight, t: v.currentTime };
    });
    log(`${kind}: remote video ${first.w}x${first.h} playing after ${Date.now() - t0} ms`);
    await page.waitForTimeout(1500);
    const later = await page.evaluate(() => document.querySelector('#videoright video').currentTime);
    if (!(later > first.t)) throw new Error(`video currentTime not advancing (${first.t} -> ${later})`);
    log(`${kind}: currentTime advanced ${first.t.toFixed(2)} -> ${later.toFixed(2)}`);
    // The SRTP profile Chromium negotiated with us: it must be an AEAD GCM one (about 2.4x
    // cheaper per packet than AES-CM + HMAC-SHA1, which Chromium itself would prefer).
    const cipher = await page.evaluate(async () => {
      const stats = await echotest.webrtcStuff.pc.getStats();
      for (const s of stats.values()) if (s.type === 'transport' && s.srtpCipher) return s.srtpCipher;
      return null;
    });
    if (!cipher || !cipher.includes('GCM')) throw new Error(`SRTP cipher is ${cipher}, not AEAD GCM`);
    log(`${kind}: SRTP cipher ${cipher}`);
    // Data channel: the input is enabled on ondataopen; Enter sends it; the echo lands in #datarecv.
    const text = `hello from chromium over ${kind}`;
    await page.waitForSelector('#datasend:not([disabled])', { timeout: STEP_TIMEOUT });
    await page.fill('#datasend', text);
    await page.press('#datasend', 'Enter');
    const expected = `Janus EchoTest here! You wrote: ${text}`;
    await page.waitForFunction((e) => document.querySelector('#datarecv').value === e,
      expected, { timeout: STEP_TIMEOUT, polling: 100 });
    log(`${kind}: data channel echoed "${expected}"`);
  } catch (e) {
    log(`${kind}: page console (last 40 lines):\n  ${consoleLines.slice(-40).join('\n  ')}`);
    throw e;
  } finally {
    await page.close().catch(() => {});
    server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'portunus-chromium-'));
  const log = (s) => console.log(s);
  // Exactly our flags (ignoreDefaultArgs), plus the fresh profile and the pipe Playwright
  // drives the browser through.
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    ignoreDefaultArgs: true,
    args: [...FLAGS, `--user-data-dir=${profile}`, '--remote-debugging-pipe'],
    timeout: 60_000,
  });
  let passed = 0;
  let failed = 0;
  for (const kind of TRANSPORTS) {
    try {
      await runOnce(kind, browser, log);
      console.log(`ok - echotest over ${kind}`);
      passed++;
    } catch (e) {
      console.log(`not ok - echotest over ${kind}: ${e.message}`);
      failed++;
    }
  }
  await browser.close();
  fs.rmSync(profile, { recursive: true, force: true });
  console.log(`browser: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}

main().catch((e) => {
  console.log(`browser: 0 passed, 1 failed (${e.message})`);
  process.exit(1);
});
