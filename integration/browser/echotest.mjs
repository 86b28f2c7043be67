// Real-browser test: headless Chromium with fake media devices opens the *unchanged* EchoTest
// page of Debian's janus-demos (with Debian's janus.js) pointed at portunus, once over HTTP
// long-poll and once over WebSocket, and checks that the echoed video plays and that a
// data-channel message comes back.
//
// Env: see lib.mjs; TRANSPORTS (default "http,ws").

import {
  clickStart, launchBrowser, leaveJanus, recordConsole, runTests, saveArtifacts, serveDemos, STEP_TIMEOUT,
} from './lib.mjs';

const TRANSPORTS = (process.env.TRANSPORTS || 'http,ws').split(',').filter(Boolean);

async function echo(kind, browser, log) {
  const demos = await serveDemos(kind);
  const page = await browser.newPage();
  const lines = recordConsole(page);
  try {
    await page.goto(demos.url('echotest.html'), { timeout: STEP_TIMEOUT });
    await clickStart(page);
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
    await saveArtifacts(`echotest-${kind}`, [{ name: 'page', page, lines }], log);
    throw e;
  } finally {
    const how = await leaveJanus(page);
    if (!['destroyed', 'no session'].includes(how)) log(`${kind}: session not destroyed cleanly (${how})`);
    demos.close();
  }
}

const { browser, close } = await launchBrowser();
const { failed, passed } = await runTests('echotest',
  TRANSPORTS.map((kind) => [`echo over ${kind}`, (log) => echo(kind, browser, log)]))
  .catch((e) => {
    console.log(`echotest: 0 passed, 1 failed (${e.message})`);
    return { passed: 0, failed: 1 };
  });
await close();
process.exit(failed === 0 && passed > 0 ? 0 : 1);
