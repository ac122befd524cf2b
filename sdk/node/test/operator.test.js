// The Node SDK against a scripted host on a real Unix socket.
"use strict";
const test = require("node:test");
const assert = require("node:assert");
const fs = require("fs");
const net = require("net");
const os = require("os");
const path = require("path");
const { Operator, Event, OperatorError } = require("../immp-operator.js");

// A host that answers each frame with script(frame, send, end).
function fakeHost(script) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "immp-node-"));
  const file = path.join(dir, "bus.sock");
  const received = [];
  const server = net.createServer((conn) => {
    let buf = "";
    const send = (f) => conn.write(JSON.stringify(f) + "\n");
    conn.on("data", (d) => {
      buf += d;
      let nl;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const frame = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        received.push(frame);
        script(frame, send, () => conn.end());
      }
    });
  });
  server.listen(file);
  return { file, received, close: () => { server.close(); fs.rmSync(dir, { recursive: true, force: true }); } };
}

const welcome = (f, send, config = {}) =>
  send({ op: "welcome", name: f.name, version: 1, config, scratch: "/s", data: "/d", seq: 3, ref: f.ref });

test("events reach handlers, sends get receipts, shutdown ends run", async () => {
  const host = fakeHost((f, send) => {
    if (f.op === "hello") welcome(f, send, { prefix: "!" });
    if (f.op === "subscribe") {
      send({ op: "subscribed", seq: 3, ref: f.ref });
      send({ op: "ping" });
    }
    if (f.op === "ready") {
      send({ op: "event", event: { specversion: "1.0", id: "4", source: "irc/#a", type: "message",
                                    data: { text: [{ text: "!hi" }], user: { id: "alice", username: "alice" } } } });
    }
    if (f.op === "send") {
      send({ op: "receipt", channel: "irc/#a", ids: ["m-1"], ref: f.ref });
      send({ op: "shutdown", grace_ms: 1000 });
    }
  });
  const op = new Operator({ name: "dice", token: "t", path: host.file });
  const seen = [];
  const receipts = [];
  op.onMessage(async (e) => {
    seen.push(`${e.username}: ${e.text}`);
    receipts.push(await op.send(e.source, "hello"));
  });
  await op.run({ filter: { kinds: ["message"] } });
  host.close();
  assert.deepStrictEqual(seen, ["alice: !hi"]);
  assert.deepStrictEqual(receipts[0].ids, ["m-1"]);
  assert.strictEqual(op.config.prefix, "!");
  assert.strictEqual(op.seq, 4);
  assert.ok(host.received.some((f) => f.op === "pong"));
  assert.strictEqual(host.received[0].token, "t");
});

test("an error answer rejects with its field", async () => {
  const host = fakeHost((f, send) => {
    if (f.op === "hello") welcome(f, send);
    if (f.op === "send") send({ op: "error", error: "event.source: no channel", field: "event.source", ref: f.ref });
  });
  const op = new Operator({ name: "x", token: "t", path: host.file });
  await op.connect();
  await assert.rejects(op.send("nope", "hi"), (e) => e instanceof OperatorError && e.field === "event.source");
  op.close();
  host.close();
});

test("event text from segments or plain", () => {
  assert.strictEqual(new Event({ data: { text: [{ text: "a" }, { text: "b" }] } }).text, "ab");
  assert.strictEqual(new Event({ data: { text: "x", plain: "y" } }).text, "y");
  assert.strictEqual(new Event({ type: "join" }).text, "");
});
