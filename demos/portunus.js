// portunus.js: a small client for the Janus API, over HTTP long-poll or WebSocket.
// Written for the portunus demos; it speaks the same protocol as janus.js, but only the
// parts the demos need (sessions, handles, messages, trickle, events).
"use strict";

class JanusClient {
  // url: "http(s)://host:8088/janus" or "ws(s)://host:8188".
  constructor(url, { onEvent = () => {}, onError = () => {}, apisecret, token } = {}) {
    this.url = url.replace(/\/+$/, "");
    this.websocket = /^wss?:/.test(this.url);
    this.onEvent = onEvent; // (event) for async events (by handle: see Handle.on)
    this.onError = onError; // (message) when the connection is lost
    this.credentials = {};
    if (apisecret) this.credentials.apisecret = apisecret;
    if (token) this.credentials.token = token;
    this.pending = new Map(); // transaction -> {resolve, reject, keepAck}
    this.handles = new Map(); // handle id -> Handle
    this.session = null;
    this.closed = false;
  }

  static transaction() {
    return Math.random().toString(36).slice(2, 14);
  }

  // Creates the session (and opens the WebSocket first when using one).
  async connect() {
    if (this.websocket) await this.openSocket();
    const reply = await this.request({ janus: "create" });
    this.session = reply.data.id;
    if (this.websocket) {
      this.keepalive = setInterval(() => {
        this.request({ janus: "keepalive", session_id: this.session }).catch(() => {});
      }, 25000);
    } else {
      this.poll();
    }
    return this.session;
  }

  openSocket() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, "janus-protocol");
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error("WebSocket error"));
      ws.onclose = () => {
        if (!this.closed) this.onError("WebSocket closed");
        this.closed = true;
      };
      ws.onmessage = (m) => {
        let msg;
        try { msg = JSON.parse(m.data); } catch (e) { return; }
        this.dispatch(msg);
      };
      this.ws = ws;
    });
  }

  // Sends one request; resolves with its reply (for `message`, a later event may follow).
  request(body, path = "") {
    const transaction = JanusClient.transaction();
    const msg = Object.assign({ transaction }, this.credentials, body);
    if (this.websocket) {
      return new Promise((resolve, reject) => {
        this.pending.set(transaction, { resolve, reject });
        this.ws.send(JSON.stringify(msg));
      });
    }
    // Over HTTP the ids go in the path (as janus.js does).
    let url = this.url;
    if (msg.session_id) { url += "/" + msg.session_id; delete msg.session_id; }
    if (msg.handle_id) { url += "/" + msg.handle_id; delete msg.handle_id; }
    return fetch(url + path, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(msg),
    }).then((r) => r.json()).then((reply) => {
      if (reply.janus === "error") throw new Error(reply.error.code + " " + reply.error.reason);
      return reply;
    });
  }

  // Routes a WebSocket message: replies by transaction, the rest as events.
  dispatch(msg) {
    const waiting = msg.transaction && this.pending.get(msg.transaction);
    if (waiting && msg.janus !== "event") {
      this.pending.delete(msg.transaction);
      if (msg.janus === "error") waiting.reject(new Error(msg.error.code + " " + msg.error.reason));
      else waiting.resolve(msg);
      return;
    }
    this.event(msg);
  }

  event(msg) {
    if (msg.janus === "keepalive" || msg.janus === "ack") return;
    if (msg.janus === "timeout") {
      this.onError("session timed out");
      this.close();
      return;
    }
    const handle = this.handles.get(msg.sender);
    if (handle) handle.emit(msg);
    this.onEvent(msg);
  }

  // The HTTP long poll loop: one GET at a time, up to 10 events per answer.
  async poll() {
    let failures = 0;
    while (!this.closed && this.session) {
      try {
        const q = new URLSearchParams({ maxev: "10", rid: Date.now().toString() });
        if (this.credentials.apisecret) q.set("apisecret", this.credentials.apisecret);
        if (this.credentials.token) q.set("token", this.credentials.token);
        const r = await fetch(this.url + "/" + this.session + "?" + q);
        if (!r.ok) throw new Error("HTTP " + r.status);
        const events = await r.json();
        (Array.isArray(events) ? events : [events]).forEach((e) => this.event(e));
        failures = 0;
      } catch (e) {
        if (this.closed) return;
        if (++failures > 3) {
          this.onError("lost the server: " + e.message);
          this.closed = true;
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  async attach(plugin) {
    const reply = await this.request({ janus: "attach", plugin, session_id: this.session,
      opaque_id: plugin + "-" + JanusClient.transaction() });
    const handle = new Handle(this, reply.data.id, plugin);
    this.handles.set(handle.id, handle);
    return handle;
  }

  async destroy() {
    if (!this.session || this.closed) return;
    try { await this.request({ janus: "destroy", session_id: this.session }); } catch (e) { /* gone */ }
    this.close();
  }

  close() {
    this.closed = true;
    clearInterval(this.keepalive);
    if (this.ws) this.ws.close();
  }
}

// A handle attached to a plugin. Events for it arrive through `on(kind, fn)`:
// "event" (plugin data, jsep), "webrtcup", "media", "slowlink", "hangup", "detached".
class Handle {
  constructor(client, id, plugin) {
    this.client = client;
    this.id = id;
    this.plugin = plugin;
    this.listeners = {};
  }

  on(kind, fn) {
    (this.listeners[kind] = this.listeners[kind] || []).push(fn);
    return this;
  }

  emit(msg) {
    (this.listeners[msg.janus] || []).forEach((fn) => fn(msg));
  }

  ids() {
    return { session_id: this.client.session, handle_id: this.id };
  }

  // Sends a message to the plugin; resolves with the sync data, or null after an ack.
  async message(body, jsep) {
    const req = Object.assign({ janus: "message", body }, this.ids());
    if (jsep) req.jsep = { type: jsep.type, sdp: jsep.sdp };
    const reply = await this.client.request(req);
    return reply.janus === "success" && reply.plugindata ? reply.plugindata.data : null;
  }

  // A local ICE candidate (null = gathering done).
  trickle(candidate) {
    const c = candidate && candidate.candidate
      ? { candidate: candidate.candidate, sdpMid: candidate.sdpMid, sdpMLineIndex: candidate.sdpMLineIndex }
      : { completed: true };
    return this.client.request(Object.assign({ janus: "trickle", candidate: c }, this.ids()));
  }

  hangup() {
    return this.client.request(Object.assign({ janus: "hangup" }, this.ids()));
  }

  detach() {
    return this.client.request(Object.assign({ janus: "detach" }, this.ids()));
  }
}

window.JanusClient = JanusClient;
