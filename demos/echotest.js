// The Echo Test page: camera + microphone + data channel to janus.plugin.echotest and back.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { client: null, handle: null, pc: null, dc: null, stream: null };

function log(text) {
  const line = new Date().toLocaleTimeString() + "  " + text + "\n";
  $("log").textContent += line;
  $("log").scrollTop = $("log").scrollHeight;
}

function status(text) {
  $("status").textContent = text;
}

function defaultServer(transport) {
  const host = location.hostname || "127.0.0.1";
  if (transport === "ws") return (location.protocol === "https:" ? "wss://" : "ws://") + host + ":8188";
  // The page is served by the gateway's HTTP transport, so its API is on the same origin.
  return location.protocol.startsWith("http") ? location.origin + "/janus" : "http://" + host + ":8088/janus";
}

// Query parameters: transport=http|ws, server=<url>, autostart=1.
function setTransport() {
  const q = new URLSearchParams(location.search);
  const t = q.get("transport");
  if (t === "ws" || t === "http") $("transport").value = t;
  $("server").value = q.get("server") || defaultServer($("transport").value);
  if (q.get("autostart") === "1") start();
}

async function start() {
  $("start").disabled = true;
  $("stop").disabled = false;
  try {
    status("connecting");
    const client = new JanusClient($("server").value, {
      onError: (e) => { log("connection: " + e); stop(); },
    });
    state.client = client;
    const session = await client.connect();
    log("session " + session);
    const handle = await client.attach("janus.plugin.echotest");
    state.handle = handle;
    log("attached to janus.plugin.echotest, handle " + handle.id);
    handle
      .on("event", onPluginEvent)
      .on("webrtcup", () => { status("connected"); log("webrtcup"); })
      .on("media", (e) => log("media " + e.type + " (mid " + e.mid + ") receiving: " + e.receiving))
      .on("slowlink", (e) => log("slowlink " + e.media + " lost " + e.lost))
      .on("hangup", (e) => { log("hangup: " + e.reason); closePeer(); status("hung up"); })
      .on("detached", () => log("detached"));

    state.stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
    $("local").srcObject = state.stream;
    const pc = new RTCPeerConnection({ iceServers: [] });
    state.pc = pc;
    state.stream.getTracks().forEach((t) => pc.addTrack(t, state.stream));
    pc.ontrack = (e) => {
      if (!$("remote").srcObject) $("remote").srcObject = new MediaStream();
      $("remote").srcObject.addTrack(e.track);
    };
    pc.onicecandidate = (e) => handle.trickle(e.candidate).catch((err) => log("trickle: " + err.message));
    pc.oniceconnectionstatechange = () => log("ICE " + pc.iceConnectionState);
    const dc = pc.createDataChannel("JanusDataChannel", { ordered: true });
    state.dc = dc;
    dc.onopen = () => { $("text").disabled = false; log("data channel open"); };
    dc.onmessage = (e) => addChat("← " + e.data);
    dc.onclose = () => { $("text").disabled = true; };

    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    status("negotiating");
    await handle.message({ audio: $("audio").checked, video: $("video").checked }, offer);
  } catch (e) {
    log("error: " + e.message);
    status("failed");
    stop();
  }
}

async function onPluginEvent(e) {
  const data = (e.plugindata && e.plugindata.data) || {};
  if (data.error) log("plugin error " + data.error_code + ": " + data.error);
  else if (data.result) log("echotest: " + JSON.stringify(data.result));
  if (e.jsep && state.pc) {
    await state.pc.setRemoteDescription(e.jsep);
    log("got the " + e.jsep.type);
  }
  if (data.result === "done") closePeer();
}

function addChat(text) {
  const div = document.createElement("div");
  div.textContent = text;
  $("chat").appendChild(div);
}

function sendText(ev) {
  if (ev.key !== "Enter" || !state.dc || state.dc.readyState !== "open") return;
  const text = $("text").value;
  if (!text) return;
  state.dc.send(text);
  addChat("→ " + text);
  $("text").value = "";
}

function setting(body) {
  if (state.handle) state.handle.message(body).catch((e) => log("settings: " + e.message));
}

function closePeer() {
  if (state.pc) state.pc.close();
  state.pc = null;
  state.dc = null;
  $("text").disabled = true;
}

async function stop() {
  closePeer();
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
  $("local").srcObject = null;
  $("remote").srcObject = null;
  const client = state.client;
  state.client = null;
  state.handle = null;
  if (client) await client.destroy();
  $("start").disabled = false;
  $("stop").disabled = true;
  if ($("status").textContent !== "failed") status("idle");
}

$("transport").onchange = () => { $("server").value = defaultServer($("transport").value); };
$("start").onclick = start;
$("stop").onclick = stop;
$("text").onkeydown = sendText;
$("audio").onchange = () => setting({ audio: $("audio").checked });
$("video").onchange = () => setting({ video: $("video").checked });
$("bitrate").onchange = () => setting({ bitrate: parseInt($("bitrate").value, 10) });
window.addEventListener("beforeunload", () => { if (state.client) state.client.destroy(); });
setTransport();
