// Operators for immp in Node: the local bus socket, no dependencies.
//
//   const { Operator } = require("immp-operator");
//   const op = new Operator();
//   op.onMessage(async (event) => {
//     if (event.text === "!hello") await op.send(event.source, `Hello, ${event.username}!`);
//   });
//   op.run({ filter: { kinds: ["message"] } });
//
// The protocol is docs/protocol.md of the immp repository. Pings are
// answered; `reload` updates op.config and calls onReload handlers;
// `shutdown` (or SIGTERM) calls onShutdown handlers and closes.
"use strict";

const net = require("net");
const { EventEmitter } = require("events");

const MAX_LINE = 4 * 1024 * 1024;

class OperatorError extends Error {
  constructor(error, field = "") {
    super(error);
    this.error = error;
    this.field = field;
  }
}

class Event {
  constructor(envelope) {
    this.raw = envelope;
    this.id = envelope.id;
    this.type = envelope.type;
    this.source = envelope.source;
    this.subject = envelope.subject;
    this.data = envelope.data || {};
  }
  get text() {
    if (typeof this.data.plain === "string") return this.data.plain;
    const t = this.data.text;
    if (Array.isArray(t)) return t.map((s) => s.text || "").join("");
    return t || "";
  }
  get user() { return this.data.user || {}; }
  get username() {
    const u = this.user;
    return u.username || u.real_name || u.id || "";
  }
  get operator() { return this.raw.immpoperator; }
}

class Operator extends EventEmitter {
  constructor({ name, token, path } = {}) {
    super();
    this.name = name || process.env.IMMP_OPERATOR_NAME || "";
    this.token = token || process.env.IMMP_OPERATOR_TOKEN || "";
    this.path = path || process.env.IMMP_BUS_SOCKET || "";
    this.scratch = process.env.IMMP_SCRATCH_DIR;
    this.dataDir = process.env.IMMP_DATA_DIR;
    this.config = {};
    this.seq = 0;
    this._socket = null;
    this._buffer = "";
    this._nextRef = 0;
    this._waiting = new Map();
  }

  onMessage(handler) { return this.on("message", handler); }
  onEvent(handler) { return this.on("event", handler); }
  onReload(handler) { return this.on("reload", handler); }
  onShutdown(handler) { return this.on("shutdown", handler); }

  connect() {
    if (!this.path || !this.token) {
      return Promise.reject(new OperatorError("not started by immp: IMMP_BUS_SOCKET and IMMP_OPERATOR_TOKEN are unset"));
    }
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(this.path);
      socket.setEncoding("utf8");
      socket.once("error", reject);
      socket.on("data", (chunk) => this._data(chunk));
      socket.on("close", () => {
        for (const [, w] of this._waiting) w.reject(new OperatorError("the host closed the connection"));
        this._waiting.clear();
        this.emit("close");
      });
      socket.once("connect", async () => {
        this._socket = socket;
        try {
          const welcome = await this.request({ op: "hello", name: this.name, token: this.token, version: 1 });
          this.config = welcome.config || {};
          this.seq = welcome.seq || 0;
          this.scratch = welcome.scratch || this.scratch;
          this.dataDir = welcome.data || this.dataDir;
          resolve(welcome);
        } catch (e) {
          reject(e);
        }
      });
    });
  }

  close() {
    if (this._socket) this._socket.end();
    this._socket = null;
  }

  write(frame) {
    this._socket.write(JSON.stringify(frame) + "\n");
  }

  request(frame) {
    const ref = ++this._nextRef;
    return new Promise((resolve, reject) => {
      this._waiting.set(ref, { resolve, reject });
      this.write({ ...frame, ref });
    });
  }

  subscribe(filter = null, since = undefined, own = false) {
    const frame = { op: "subscribe", filter };
    if (since !== undefined) frame.since = since;
    if (own) frame.own = true;
    return this.request(frame);
  }

  ready() { this.write({ op: "ready" }); }

  send(channel, text, extra = {}) {
    const event = { specversion: "1.0", id: `${this.name}-${++this._nextRef}`, source: channel,
                    type: "message", data: { ...extra, text } };
    return this.request({ op: "send", event });
  }

  async emitEvent(type, data, source) {
    const event = { specversion: "1.0", id: `${this.name}-${++this._nextRef}`, source: source || this.name, type };
    if (data !== undefined) event.data = data;
    return (await this.request({ op: "emit", event })).id;
  }

  log(message, level = "info", logger = undefined) {
    const frame = { op: "log", message, level };
    if (logger) frame.logger = logger;
    this.write(frame);
  }

  async setConfig(config) {
    this.config = (await this.request({ op: "config", set: config })).config;
    return this.config;
  }

  async status() { return (await this.request({ op: "status" })).operators; }

  // Connects (unless connected), subscribes, says ready; resolves when the
  // connection ends.
  async run({ filter = null, since = undefined, ready = true } = {}) {
    process.once("SIGTERM", () => this._shutdown());
    process.on("SIGHUP", () => {});  // the reload frame carries the config
    if (!this._socket) await this.connect();
    const closed = new Promise((resolve) => this.once("close", resolve));
    if (filter !== false) await this.subscribe(filter, since);
    if (ready) this.ready();
    await closed;
  }

  _shutdown() {
    this.emit("shutdown");
    this.close();
  }

  _data(chunk) {
    this._buffer += chunk;
    let nl;
    while ((nl = this._buffer.indexOf("\n")) >= 0) {
      const line = this._buffer.slice(0, nl);
      this._buffer = this._buffer.slice(nl + 1);
      if (line.trim()) this._frame(JSON.parse(line));
    }
    if (this._buffer.length > MAX_LINE) {
      this._socket.destroy(new OperatorError(`the host sent a line longer than ${MAX_LINE} bytes`));
    }
  }

  _frame(frame) {
    if (frame.ref !== undefined && this._waiting.has(frame.ref)) {
      const w = this._waiting.get(frame.ref);
      this._waiting.delete(frame.ref);
      if (frame.op === "error") w.reject(new OperatorError(frame.error, frame.field));
      else w.resolve(frame);
      return;
    }
    switch (frame.op) {
      case "ping": this.write({ op: "pong" }); break;
      case "event": {
        const event = new Event(frame.event);
        const id = Number(event.id);
        if (Number.isFinite(id) && id > this.seq) this.seq = id;
        this.emit("event", event);
        if (event.type === "message") this.emit("message", event);
        break;
      }
      case "reload": this.config = frame.config || {}; this.emit("reload", this.config); break;
      case "shutdown": this._shutdown(); break;
      case "dropped": this.log(`fell behind: ${frame.count} events dropped`, "warning"); break;
      case "error": this.emit("hostError", new OperatorError(frame.error, frame.field)); break;
      default: break;
    }
  }
}

module.exports = { Operator, Event, OperatorError };
