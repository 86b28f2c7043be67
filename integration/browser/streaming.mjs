// Real-browser test: headless Chromium opens the *unchanged* Streaming demo page of Debian's
// janus-demos (with Debian's janus.js) pointed at portunus, over HTTP long-poll and over
// WebSocket. ffmpeg feeds Janus's sample mountpoint "rtp-sample" (id 1, config.toml: Opus pt
// 111 on 5002, VP8 pt 100 on 5004) with a test pattern and a tone; the page lists it, watches
// it, and its video plays: frames decoded (getStats) and currentTime advancing.
//
// ffmpeg (Debian package `ffmpeg`) is needed: without it the test is skipped, unless
// PORTUNUS_REQUIRE_FFMPEG is set (CI), where it fails.
// Env: see lib.mjs; TRANSPORTS (default "http,ws"); STREAM_AUDIO_PORT (5002),
// STREAM_VIDEO_PORT (5004).

import { spawn, spawnSync } from 'node:child_process';

import {
  clickStart, launchBrowser, leaveJanus, recordConsole, runTests, saveArtifacts, serveDemos,
  STEP_TIMEOUT, waitFor, waitInPage,
} from './lib.mjs';

const TRANSPORTS = (process.env.TRANSPORTS || 'http,ws').split(',').filter(Boolean);
const AUDIO_PORT = process.env.STREAM_AUDIO_PORT || '5002';
const VIDEO_PORT = process.env.STREAM_VIDEO_PORT || '5004';
// The sample mountpoint's description, as the page lists it.
const SAMPLE = 'Opus/VP8 live stream coming from external source';

// ffmpeg sending VP8 + Opus RTP to the sample mountpoint for at most `seconds`.
function feed(seconds) {
  const t = String(seconds);
  const args = [
    '-hide_banner', '-loglevel', 'error', '-nostdin', '-re',
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=15',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', t, '-map', '0:v', '-c:v', 'libvpx', '-deadline', 'realtime', '-b:v', '300k', '-g', '15',
    '-payload_type', '100', '-f', 'rtp', `rtp://127.0.0.1:${VIDEO_PORT}?pkt_size=1200`,
    '-t', t, '-map', '1:a', '-c:a', 'libopus', '-b:a', '32k',
    '-payload_type', '111', '-f', 'rtp', `rtp://127.0.0.1:${AUDIO_PORT}`,
  ];
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr.on('data', (d) => { errors += d; });
  return {
    stop: () => { if (child.exitCode === null) child.kill('SIGKILL'); },
    errors: () => errors,
  };
}

async function watch(kind, browser, log) {
  const demos = await serveDemos(kind);
  const page = await browser.newPage();
  const lines = recordConsole(page);
  const ff = feed(60);
  try {
    await page.goto(demos.url('streamingtest.html'), { timeout: STEP_TIMEOUT });
    await clickStart(page);
    // The page lists the mountpoints (request "list") in #streamslist.
    await page.waitForSelector('#streamslist a[id="1"]', { state: 'attached', timeout: STEP_TIMEOUT });
    const listed = await page.evaluate(() => [...document.querySelectorAll('#streamslist a')]
      .map((a) => a.textContent));
    if (!listed.some((t) => t.startsWith(SAMPLE))) throw new Error(`rtp-sample not listed: ${listed}`);
    log(`${kind}: listed ${JSON.stringify(listed)}`);
    await page.click('#streamset');
    await page.click('#streamslist a[id="1"]');
    await page.click('#watch');
    const t0 = Date.now();
    const first = await waitInPage(page, 'the sample video to play', () => {
      const v = [...document.querySelectorAll('video[id^="remotevideo"]')]
        .find((e) => e.videoWidth > 0 && e.currentTime > 0);
      return v && { id: v.id, w: v.videoWidth, h: v.videoHeight, t: v.currentTime };
    });
    log(`${kind}: ${first.id} ${first.w}x${first.h} playing after ${Date.now() - t0} ms`);
    const stats = await waitFor('decoded video frames and audio packets', () => page.evaluate(async () => {
      const out = { frames: 0, audio: 0 };
      for (const s of (await streaming.webrtcStuff.pc.getStats()).values()) {
        if (s.type !== 'inbound-rtp') continue;
        if (s.kind === 'video') out.frames += s.framesDecoded || 0;
        if (s.kind === 'audio') out.audio += s.packetsReceived || 0;
      }
      return out;
    }), (s) => s.frames > 10 && s.audio > 10);
    log(`${kind}: ${stats.frames} frames decoded, ${stats.audio} audio packets`);
    await page.waitForTimeout(1000);
    const later = await page.evaluate((id) => document.getElementById(id).currentTime, first.id);
    if (!(later > first.t)) throw new Error(`video currentTime not advancing (${first.t} -> ${later})`);
    log(`${kind}: currentTime advanced ${first.t.toFixed(2)} -> ${later.toFixed(2)}`);
    // The info request the page sends on watch shows the metadata.
    const md = await page.evaluate(() => document.querySelector('#metadata').textContent);
    log(`${kind}: metadata "${md}"`);
    // Stop: the page sends "stop" and resets its Watch button.
    await page.click('#watch');
    await waitInPage(page, 'the Watch button back', () => {
      const b = document.querySelector('#watch');
      return b && b.textContent.includes('Watch') && !b.disabled;
    });
    log(`${kind}: stopped`);
    // Watch again on the same handle (a new PeerConnection): the video plays again.
    await page.click('#watch');
    const again = await waitInPage(page, 'the video to play again', () => {
      const v = [...document.querySelectorAll('video[id^="remotevideo"]')]
        .find((e) => e.videoWidth > 0 && e.currentTime > 0.5);
      return v && { id: v.id, t: v.currentTime };
    });
    log(`${kind}: watching again, ${again.id} at ${again.t.toFixed(2)} s`);
  } catch (e) {
    if (ff.errors()) log(`ffmpeg: ${ff.errors().slice(0, 400)}`);
    await saveArtifacts(`streaming-${kind}`, [{ name: 'page', page, lines }], log);
    throw e;
  } finally {
    ff.stop();
    const how = await leaveJanus(page);
    if (!['destroyed', 'no session'].includes(how)) log(`${kind}: session not destroyed cleanly (${how})`);
    demos.close();
  }
}

if (spawnSync('ffmpeg', ['-version']).status !== 0) {
  if (process.env.PORTUNUS_REQUIRE_FFMPEG) {
    console.log('streaming: 0 passed, 1 failed (ffmpeg is required here)');
    process.exit(1);
  }
  console.log('streaming: SKIPPED, no ffmpeg');
  console.log('streaming: 0 passed, 0 failed');
  process.exit(0);
}
const { browser, close } = await launchBrowser();
const { failed, passed } = await runTests('streaming',
  TRANSPORTS.map((kind) => [`watch rtp-sample over ${kind}`, (log) => watch(kind, browser, log)]))
  .catch((e) => {
    console.log(`streaming: 0 passed, 1 failed (${e.message})`);
    return { passed: 0, failed: 1 };
  });
await close();
process.exit(failed === 0 && passed > 0 ? 0 : 1);
