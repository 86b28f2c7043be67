// Real-browser VideoRoom tests: headless Chromium with fake media devices opens Debian's
// *unchanged* janus-demos VideoRoom page (videoroomtest.html, with Debian's janus.js) pointed
// at portunus, in the sample room 1234.
//
// 1. Two pages (two browser contexts, one over HTTP long-poll and one over WebSocket) register
//    different display names and publish; each must play the other's video (decoded frames,
//    currentTime advancing) and receive its audio, under the other's name; when one stops, the
//    other's page takes its panel down.
// 2. A publisher with simulcast (the demo's ?simulcast=true) and a viewer (?subscriber-mode=true):
//    the viewer clicks the demo's substream buttons SL 0 then SL 2; each switch must be confirmed
//    by the plugin's `substream` event (the demo turns that button green) and change what the
//    viewer decodes (frame size and received bitrate: low layer smaller than high); then the
//    temporal buttons TL 0 and TL 1: a `temporal` event each, and the decoded frame rate
//    follows (TL 0 < TL 1 < all layers).
//
// 3. VP9 SVC (room 5678, Debian's unchanged vp9svctest.html): two publishers; the one under test
//    switches its camera's encoding to L3T3_KEY (Chromium sends L2T3_KEY for the demo's 640x480) (janus.js's `svc` track option, which the 1.1.2
//    demo does not pass and Chromium's old field trial no longer honours, so it is set on the
//    sender as a user could from the console); the other page's SL/TL buttons must each be
//    confirmed by the plugin's spatial_layer / temporal_layer event and change what it decodes
//    (frame width: the publisher's, then its lowest layer's, then the publisher's again; frame
//    rate TL 0 < TL 1 < all temporal layers).
//
// Env: see lib.mjs; VIDEOROOM_TESTS (comma list of "pair", "simulcast", "svc"; default all).

import {
  clickStart, launchBrowser, leaveJanus, recordConsole, runTests, saveArtifacts, serveDemos, waitFor,
  waitInPage, STEP_TIMEOUT,
} from './lib.mjs';

const ONLY = (process.env.VIDEOROOM_TESTS || 'pair,simulcast,svc').split(',').filter(Boolean);

// A participant: its own browser context (separate cookies/storage, like another user) with one
// page on the demo served for `kind`; it is added to `people` at once, so that a failure while
// joining still leaves its screenshot and console log.
async function openParticipant(browser, demos, people, name, kind, query = '', demo = 'videoroomtest.html') {
  const context = await browser.newContext();
  if (demo === 'vp9svctest.html') {
    // Debian's vp9svctest.js (1.1.2) publishes with `simulcast: doSimulcast` but never defines
    // it (copied from videoroomtest.js), so as shipped it cannot publish at all; the page stays
    // unchanged and gets the missing global.
    await context.addInitScript(() => { window.doSimulcast = false; });
  }
  const page = await context.newPage();
  const p = { name, kind, context, page, lines: recordConsole(page) };
  people.push(p);
  await page.goto(demos[kind].url(`${demo}${query}`), { timeout: STEP_TIMEOUT });
  await clickStart(page);
  // Attached: the demo shows the registration form.
  await page.waitForSelector('#username', { state: 'visible', timeout: STEP_TIMEOUT });
  await page.fill('#username', name);
  await page.click('#register', { timeout: STEP_TIMEOUT });
  return p;
}

// The demo subscribes to each remote feed with its own handle and shows it in the first free
// slot #videoremote1..5 under a label #remote<N> holding the publisher's display name. Returns
// the slot showing `display`.
async function slotOf(p, display) {
  return waitInPage(p.page, `${p.name} to show a remote feed labelled "${display}"`, (d) => {
    for (let i = 1; i <= 5; i++) {
      const label = document.querySelector(`#remote${i}`);
      if (label && label.textContent.trim() === d && getComputedStyle(label).display !== 'none') return i;
    }
    return 0;
  }, display);
}

// Waits until the slot's <video> shows decoded frames, then checks that playback advances.
async function assertPlaying(p, slot, log) {
  const first = await waitInPage(p.page, `${p.name}'s remote video #${slot} to play`, (i) => {
    const v = document.querySelector(`#videoremote${i} video`);
    return v && v.videoWidth > 0 && v.videoHeight > 0 && v.currentTime > 0
      && { w: v.videoWidth, h: v.videoHeight, t: v.currentTime };
  }, slot);
  await p.page.waitForTimeout(2000);
  const later = await p.page.evaluate((i) => document.querySelector(`#videoremote${i} video`).currentTime, slot);
  if (!(later > first.t + 0.5)) {
    throw new Error(`${p.name}: remote video #${slot} is not advancing (currentTime ${first.t} -> ${later} in 2 s)`);
  }
  log(`${p.name} (${p.kind}): remote video #${slot} ${first.w}x${first.h}, currentTime ${first.t.toFixed(2)} -> ${later.toFixed(2)}`);
}

// The slot's audio: the demo's hidden <audio> exists and Opus packets keep arriving.
async function assertAudio(p, slot, log) {
  const received = () => p.page.evaluate(async (i) => {
    if (!document.querySelector(`#videoremote${i} audio`)) return -1;
    const stats = await feeds[i].webrtcStuff.pc.getStats();
    for (const s of stats.values()) if (s.type === 'inbound-rtp' && s.kind === 'audio') return s.packetsReceived;
    return 0;
  }, slot);
  const first = await waitFor(`${p.name}'s remote audio #${slot}`, received, (n) => n > 0);
  const later = await waitFor(`${p.name}'s remote audio #${slot} to keep arriving`, received,
    (n) => n >= first + 25, { timeout: 5_000 });
  log(`${p.name} (${p.kind}): remote audio #${slot} ${first} -> ${later} packets`);
}

async function withParticipants(test, log, body) {
  const { browser, close } = await launchBrowser();
  const demos = { http: await serveDemos('http'), ws: await serveDemos('ws') };
  const people = [];
  try {
    await body({
      join: (...args) => openParticipant(browser, demos, people, ...args),
    });
  } catch (e) {
    await saveArtifacts(test, people, log);
    throw e;
  } finally {
    for (const p of people) {
      // Leave cleanly, so the room is empty for the next test.
      const how = await leaveJanus(p.page);
      if (!['destroyed', 'no session'].includes(how)) log(`${p.name}: session not destroyed cleanly (${how})`);
    }
    demos.http.close();
    demos.ws.close();
    await close();
  }
}

async function twoPublishers(log) {
  await withParticipants('videoroom-pair', log, async ({ join }) => {
    const alice = await join('alice', 'http');
    const bob = await join('bob', 'ws');
    const slots = new Map();
    for (const [me, other] of [[alice, bob], [bob, alice]]) {
      const slot = await slotOf(me, other.name);
      slots.set(me, slot);
      await assertPlaying(me, slot, log);
      await assertAudio(me, slot, log);
    }
    // Alice clicks Stop (the demo destroys her session): the plugin tells bob she left, and his
    // page takes her panel down.
    await alice.page.click('#start:has-text("Stop")', { timeout: STEP_TIMEOUT });
    const t0 = Date.now();
    await waitInPage(bob.page, 'bob to take down the panel of alice, who left', (i) => {
      const label = document.querySelector(`#remote${i}`);
      return getComputedStyle(label).display === 'none' && !document.querySelector(`#videoremote${i} video`);
    }, slots.get(bob), { timeout: 10_000 });
    log(`bob (ws): alice's panel gone ${Date.now() - t0} ms after she left`);
  });
}

// Per-layer view of the publisher's video sender: outbound-rtp by rid.
async function outboundLayers(p) {
  return p.page.evaluate(async () => {
    const layers = {};
    const stats = await sfutest.webrtcStuff.pc.getStats();
    for (const s of stats.values()) {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        layers[s.rid || '-'] = {
          rid: s.rid, w: s.frameWidth || 0, h: s.frameHeight || 0, bytes: s.bytesSent, at: s.timestamp,
        };
      }
    }
    return layers;
  });
}

// What the viewer's subscriber handle for `slot` receives: inbound-rtp video (frame size,
// bytes) and the <video>'s size.
async function inbound(p, slot) {
  return p.page.evaluate(async (i) => {
    const out = { w: 0, h: 0, bytes: 0, frames: 0 };
    const stats = await feeds[i].webrtcStuff.pc.getStats();
    for (const s of stats.values()) {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        Object.assign(out, {
          w: s.frameWidth || 0, h: s.frameHeight || 0, bytes: s.bytesReceived, frames: s.framesDecoded,
        });
      }
    }
    const v = document.querySelector(`#videoremote${i} video`);
    out.videoW = v ? v.videoWidth : 0;
    out.videoH = v ? v.videoHeight : 0;
    return out;
  }, slot);
}

// What the viewer receives over `ms`: video bit rate (kbit/s) and decoded frame rate.
async function receiving(p, slot, ms) {
  const a = await inbound(p, slot);
  const t0 = Date.now();
  await p.page.waitForTimeout(ms);
  const b = await inbound(p, slot);
  const dt = Date.now() - t0;
  return { kbps: ((b.bytes - a.bytes) * 8) / dt, fps: ((b.frames - a.frames) * 1000) / dt };
}

// Clicks the demo's "SL n" / "TL n" button for `slot` and waits for the plugin's substream /
// temporal event, which the demo shows by turning that button green (btn-success, set only
// from msg.substream / msg.temporal).
async function switchLayer(p, slot, kind, n, log) {
  const id = `#${kind}${slot}-${n}`;
  const t0 = Date.now();
  if (kind === 'sl') {
    await p.page.click(id, { timeout: STEP_TIMEOUT });
  } else {
    // The demo's layout lays the video panel over its TL row (Playwright: "<div
    // id=videoremote1> intercepts pointer events"), so the button gets its click event directly.
    await p.page.locator(id).dispatchEvent('click', {}, { timeout: STEP_TIMEOUT });
  }
  const what = `${kind === 'sl' ? 'substream/spatial' : 'temporal'} layer`;
  await waitInPage(p.page, `the ${what} ${n} event (button ${kind.toUpperCase()} ${n} turning green)`,
    (sel) => document.querySelector(sel)?.classList.contains('btn-success'), id);
  log(`${p.name}: ${what} ${n} event after ${Date.now() - t0} ms`);
}

// Caps the viewer's feed to temporal layer 0, then 1, with the demo's TL buttons: each cap must
// be confirmed by the plugin's temporal event and lower the decoded frame rate below the next
// (TL 0 < TL 1 < `allFps`, measured with every layer).
async function assertTemporalCaps(viewer, slot, allFps, log) {
  await switchLayer(viewer, slot, 'tl', 0, log);
  await viewer.page.waitForTimeout(500);
  const { fps: fps0 } = await receiving(viewer, slot, 3000);
  await switchLayer(viewer, slot, 'tl', 1, log);
  await viewer.page.waitForTimeout(500);
  const { fps: fps1 } = await receiving(viewer, slot, 3000);
  log(`${viewer.name} (${viewer.kind}): ${allFps.toFixed(1)} fps with every temporal layer, ${fps1.toFixed(1)} up to TL 1, ${fps0.toFixed(1)} with TL 0`);
  if (!(fps0 > 0 && fps0 < fps1 && fps1 < allFps)) {
    throw new Error(`decoded frame rate does not follow the temporal cap (all ${allFps.toFixed(1)}, TL 1 ${fps1.toFixed(1)}, TL 0 ${fps0.toFixed(1)} fps)`);
  }
}

async function simulcast(log) {
  await withParticipants('videoroom-simulcast', log, async ({ join }) => {
    const pub = await join('simon', 'ws', '?simulcast=true');
    // Room 1234 caps publishers at 128 kbit/s by REMB, under which Chromium sends only the lowest
    // layer; a real user lifts the cap from the demo's Bandwidth menu ("No limit": configure
    // bitrate 0), shown once the PeerConnection is up.
    await pub.page.waitForSelector('#bitrateset', { state: 'visible', timeout: STEP_TIMEOUT });
    await pub.page.click('#bitrateset', { timeout: STEP_TIMEOUT });
    await pub.page.click('#bitrate a[id="0"]', { timeout: STEP_TIMEOUT });
    // Chromium sends a layer only when the capture size and bandwidth estimate allow: wait for
    // all three (janus.js asks 1280x720 from the fake camera; h, m, l = 1, 1/2, 1/4 of it).
    const sending = (a, b) => Object.fromEntries(Object.entries(b).map(([rid, l]) => [rid,
      { ...l, kbps: a[rid] ? ((l.bytes - a[rid].bytes) * 8) / (l.at - a[rid].at) : 0 }]));
    const probe = async (ms) => {
      const a = await outboundLayers(pub);
      await pub.page.waitForTimeout(ms);
      return sending(a, await outboundLayers(pub));
    };
    await waitFor('the publisher to send the simulcast layers h, m and l', () => probe(1000),
      (l) => ['h', 'm', 'l'].every((r) => l[r] && l[r].w > 0 && l[r].kbps > 0),
      { timeout: STEP_TIMEOUT, interval: 0 });
    const layers = await probe(2000);
    const missing = ['h', 'm', 'l'].filter((r) => !layers[r]);
    if (missing.length) throw new Error(`publisher stopped sending layer(s) ${missing}: ${JSON.stringify(layers)}`);
    log(`simon (ws): sending ${['h', 'm', 'l'].map((r) => layers[r])
      .map((l) => `${l.rid}=${l.w}x${l.h}@${l.kbps.toFixed(0)}kbit/s`).join(' ')}`);
    if (!(layers.l.w < layers.h.w)) throw new Error(`layer l (${layers.l.w}) is not smaller than h (${layers.h.w})`);

    const viewer = await join('viewer', 'http', '?subscriber-mode=true');
    const slot = await slotOf(viewer, pub.name);
    await assertPlaying(viewer, slot, log);
    // The demo adds its SL/TL buttons on the first substream/temporal event of the feed.
    await viewer.page.waitForSelector(`#simulcast${slot}`, { timeout: STEP_TIMEOUT });

    // Janus forwards substream 2 by default: the viewer gets the high layer.
    // Chromium may scale its layers down under CPU load, so what the viewer decodes is compared
    // with the sizes the publisher sends at that moment.
    const decoding = async () => ({ ...(await inbound(viewer, slot)), sent: await outboundLayers(pub) });
    const showing = (rid) => (s) => s.sent[rid] && s.w === s.sent[rid].w && s.videoW === s.w
      && s.sent.l && s.sent.h && s.sent.l.w < s.sent.h.w;
    const high = await waitFor('the viewer to decode the high layer', decoding, showing('h'));
    const { kbps: highKbps } = await receiving(viewer, slot, 3000);
    log(`viewer (http): high layer ${high.w}x${high.h}, ${highKbps.toFixed(0)} kbit/s`);

    await switchLayer(viewer, slot, 'sl', 0, log);
    const low = await waitFor('the viewer to decode the low layer', decoding, showing('l'));
    const { kbps: lowKbps } = await receiving(viewer, slot, 3000);
    log(`viewer (http): low layer ${low.w}x${low.h}, ${lowKbps.toFixed(0)} kbit/s`);
    if (!(lowKbps < highKbps)) {
      throw new Error(`received bitrate did not drop with the low layer (${highKbps.toFixed(0)} -> ${lowKbps.toFixed(0)} kbit/s)`);
    }
    await assertPlaying(viewer, slot, log);

    await switchLayer(viewer, slot, 'sl', 2, log);
    const back = await waitFor('the viewer to decode the high layer again', decoding, showing('h'));
    const { kbps: backKbps, fps: allFps } = await receiving(viewer, slot, 3000);
    log(`viewer (http): back to ${back.w}x${back.h}, ${backKbps.toFixed(0)} kbit/s, ${allFps.toFixed(1)} fps`);
    if (!(backKbps > lowKbps)) {
      throw new Error(`received bitrate did not rise with the high layer (${lowKbps.toFixed(0)} -> ${backKbps.toFixed(0)} kbit/s)`);
    }
    await assertPlaying(viewer, slot, log);

    // Temporal layers (Chromium's VP8 simulcast is L1T3; the demo offers TL 0 and TL 1 for it).
    await assertTemporalCaps(viewer, slot, allFps, log);
  });
}

// The publisher's video sender, as janus.js set it up.
async function videoSender(p) {
  return p.page.evaluate(() => {
    const s = sfutest.webrtcStuff.pc.getSenders().find((x) => x.track && x.track.kind === 'video');
    const e = s && s.getParameters().encodings;
    return e && e.length ? e[0].scalabilityMode || '' : null;
  });
}

async function svc(log) {
  const demo = 'vp9svctest.html';
  await withParticipants('videoroom-svc', log, async ({ join }) => {
    const pub = await join('svetlana', 'ws', '', demo);
    await pub.page.waitForSelector('#bitrateset', { state: 'visible', timeout: STEP_TIMEOUT });
    // Room 5678 caps publishers at 512 kbit/s by REMB; lift it as a user would (Bandwidth menu).
    await pub.page.click('#bitrateset', { timeout: STEP_TIMEOUT });
    await pub.page.click('#bitrate a[id="0"]', { timeout: STEP_TIMEOUT });
    await waitFor('the publisher\'s video sender', () => videoSender(pub), (m) => m !== null);
    const mode = await pub.page.evaluate(async () => {
      const s = sfutest.webrtcStuff.pc.getSenders().find((x) => x.track && x.track.kind === 'video');
      const params = s.getParameters();
      params.encodings[0].scalabilityMode = 'L3T3_KEY';
      await s.setParameters(params);
      return s.getParameters().encodings[0].scalabilityMode;
    });
    if (mode !== 'L3T3_KEY') throw new Error(`Chromium did not take scalabilityMode L3T3_KEY (${mode})`);
    const sent = async () => pub.page.evaluate(async () => {
      for (const s of (await sfutest.webrtcStuff.pc.getStats()).values()) {
        if (s.type === 'outbound-rtp' && s.kind === 'video') return { w: s.frameWidth || 0, h: s.frameHeight || 0, mode: s.scalabilityMode };
      }
      return { w: 0, h: 0 };
    });
    // Chromium picks the number of spatial layers from the capture size (the demo captures
    // 640x480: two layers, L2T3_KEY); each lower layer is half the width of the one above.
    const full = await waitFor('the publisher to send at least two spatial layers', sent,
      (o) => /^L[23]T3_KEY$/.test(o.mode || '') && o.w >= 320, { timeout: STEP_TIMEOUT });
    const layers = Number(full.mode[1]);
    const lowW = full.w >> (layers - 1);
    log(`svetlana (ws): sending VP9 ${full.mode} ${full.w}x${full.h}`);

    const viewer = await join('viktor', 'http', '', demo);
    const slot = await slotOf(viewer, pub.name);
    await assertPlaying(viewer, slot, log);
    // The demo adds its SL/TL buttons on the first spatial_layer/temporal_layer event.
    await viewer.page.waitForSelector(`#layers${slot}`, { timeout: STEP_TIMEOUT });
    const decoded = () => inbound(viewer, slot);
    const top = await waitFor(`the viewer to decode the top spatial layer (${full.w} wide)`, decoded,
      (s) => s.w === full.w && s.videoW === s.w);
    log(`viktor (http): top spatial layer ${top.w}x${top.h}`);

    await switchLayer(viewer, slot, 'sl', 0, log);
    const low = await waitFor(`the viewer to decode spatial layer 0 (${lowW} wide)`, decoded,
      (s) => s.w === lowW && s.videoW === s.w);
    log(`viktor (http): spatial layer 0 ${low.w}x${low.h}`);
    await assertPlaying(viewer, slot, log);

    // Back up to the top layer: SL 1 of two, SL 2 of three (the event names the layer forwarded).
    await switchLayer(viewer, slot, 'sl', layers - 1, log);
    const back = await waitFor('the viewer to decode the top spatial layer again', decoded,
      (s) => s.w === full.w && s.videoW === s.w);
    const { fps: fps2 } = await receiving(viewer, slot, 3000);
    log(`viktor (http): back to ${back.w}x${back.h}, ${fps2.toFixed(1)} fps`);

    await assertTemporalCaps(viewer, slot, fps2, log);
    await assertPlaying(viewer, slot, log);
  });
}

const TESTS = [
  ['pair', 'two pages (alice over HTTP, bob over WebSocket) see and hear each other; alice leaves', twoPublishers],
  ['simulcast', 'simulcast publisher, viewer switches substream 2 -> 0 -> 2, temporal cap 0 -> 1', simulcast],
  ['svc', 'VP9 SVC publisher (L2T3_KEY / L3T3_KEY), the other page switches spatial layer top -> 0 -> top, temporal cap 0 -> 1', svc],
].filter(([key]) => ONLY.includes(key)).map(([, name, fn]) => [name, fn]);

const { passed, failed } = await runTests('videoroom', TESTS).catch((e) => {
  console.log(`videoroom: 0 passed, 1 failed (${e.message})`);
  return { passed: 0, failed: 1 };
});
process.exit(failed === 0 && passed > 0 ? 0 : 1);
