// Operators for immp in Node over NATS (docs/protocol.md, "Transport: NATS"):
// for an operator that runs on another machine than its immp hosts. Needs
// the `nats` npm package (a dependency of this SDK); the local socket's
// immp-operator.js needs nothing.
//
//   const { NatsOperator } = require("immp-operator/immp-nats.js");
//   const op = new NatsOperator({ servers: "nats://10.0.0.2:4222", host: "alpha" });
//   op.onMessage(async (event) => {
//     if (event.text === "!hello") await op.reply(event, `Hello, ${event.username}!`);
//   });
//   await op.connect();
//   await op.subscribe({ plug: "irc", channel: "#immp", kinds: ["message"] });
//
// Events are the host's envelopes (the same Event as on the local socket,
// plus `host` and `subject`); sends are NATS requests to
// <root>.<host>.send, resolved with the receipt or rejected with an
// OperatorError naming the field.
"use strict";

const { connect } = require("nats");
const { EventEmitter } = require("events");
const { Event, OperatorError } = require("./immp-operator.js");

const KINDS = ["message", "edit", "delete", "join", "part", "reaction"];

// A name as one subject token: ASCII letters, digits, '-' and '_' stay,
// every other byte of its UTF-8 is %XX (upper-case hex); "" is "%".
function escapeToken(name) {
  if (name === "") return "%";
  let out = "";
  for (const b of Buffer.from(String(name), "utf8")) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9_-]/.test(c)) out += c;
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function unescapeToken(token) {
  if (token === "%") return "";
  const bytes = [];
  for (let i = 0; i < token.length; ++i) {
    if (token[i] === "%") {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(token.charCodeAt(i));
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

// The subject of a host's events: each of host, plug, channel, kind is a
// name (escaped here) or undefined for any ("*").
function eventSubject({ root = "immp", host, plug, channel, kind } = {}) {
  const token = (v) => (v === undefined || v === null || v === "*" ? "*" : escapeToken(v));
  return [root, token(host), token(plug), token(channel), token(kind)].join(".");
}

class NatsOperator extends EventEmitter {
  // servers: a url or a list; host: the immp host (its bus.prefix) that
  // sends go to by default; root: the bus.root of the hosts ("immp").
  constructor({ servers = "nats://127.0.0.1:4222", host = "", root = "immp", name = "", timeout = 10000 } = {}) {
    super();
    this.servers = servers;
    this.host = host;
    this.root = root;
    this.name = name || process.env.IMMP_OPERATOR_NAME || `node-${process.pid}`;
    this.timeout = timeout;
    this.nc = null;
    this._nextRef = 0;
    this._subs = [];
  }

  onMessage(handler) { return this.on("message", handler); }
  onEvent(handler) { return this.on("event", handler); }

  async connect(options = {}) {
    this.nc = await connect({ servers: this.servers, name: this.name, ...options });
    return this;
  }

  // Receives the events of the subjects the filter names (any field left
  // out is a wildcard); `kinds` takes several kinds (one subscription
  // each). Resolves once the server has the interest.
  async subscribe({ host = this.host || undefined, plug, channel, kinds } = {}) {
    const list = kinds && kinds.length ? kinds : [undefined];
    for (const kind of list) {
      if (kind !== undefined && !KINDS.includes(kind)) {
        throw new OperatorError(`'${kind}' is not a kind: expected ${KINDS.join(", ")}`, "kinds");
      }
      const subject = eventSubject({ root: this.root, host, plug, channel, kind });
      const sub = this.nc.subscribe(subject);
      this._subs.push(sub);
      this._read(sub);
    }
    await this.nc.flush();
  }

  async _read(sub) {
    for await (const m of sub) {
      let envelope;
      try {
        envelope = JSON.parse(Buffer.from(m.data).toString("utf8"));
      } catch (e) {
        this.emit("error", new OperatorError(`${m.subject}: not a JSON envelope: ${e.message}`));
        continue;
      }
      const event = new Event(envelope);
      const tokens = m.subject.split(".");
      event.host = unescapeToken(tokens[tokens.length - 4]);
      event.natsSubject = m.subject;
      event.relayed = (m.headers && m.headers.get("Immp-Relayed")) || "";
      try {
        await this._dispatch(event);
      } catch (e) {
        this.emit("error", e);
      }
    }
  }

  async _dispatch(event) {
    for (const h of this.listeners("event")) await h(event);
    if (event.type === "message") for (const h of this.listeners("message")) await h(event);
  }

  // Sends a message to `channel` (a channel's name in that host's config,
  // or plug/source) of `host`; resolves with the receipt.
  async send(channel, text, { host = this.host, extra = {} } = {}) {
    if (!host) throw new OperatorError("no host to send to: give NatsOperator({host}) or send(..., {host})", "host");
    const event = { specversion: "1.0", id: `${this.name}-${++this._nextRef}`, source: channel,
                    type: "message", data: { ...extra, text } };
    return this.request(host, event);
  }

  // Answers an event in its own channel, on the host that published it.
  reply(event, text, extra = {}) {
    return this.send(event.source, text, { host: event.host, extra });
  }

  // Sends one envelope as a request to <root>.<host>.send.
  async request(host, envelope) {
    const subject = `${this.root}.${escapeToken(host)}.send`;
    let m;
    try {
      m = await this.nc.request(subject, Buffer.from(JSON.stringify(envelope)), { timeout: this.timeout });
    } catch (e) {
      throw new OperatorError(`no answer from host '${host}' on ${subject}: ${e.message}`);
    }
    const answer = JSON.parse(Buffer.from(m.data).toString("utf8"));
    if (answer.op === "error") throw new OperatorError(answer.error, answer.field || "");
    return answer;
  }

  async close() {
    if (!this.nc) return;
    const nc = this.nc;
    this.nc = null;
    await nc.drain();
  }

  // Resolves when the connection closes (close(), or the server is gone
  // for good); SIGTERM and SIGINT close it.
  async run() {
    const stop = () => { this.close(); };
    process.once("SIGTERM", stop);
    process.once("SIGINT", stop);
    const err = await this.nc.closed();
    if (err) throw err;
  }
}

module.exports = { NatsOperator, escapeToken, unescapeToken, eventSubject };
