// The Node SDK's NATS side against a real nats-server (loopback, a temp
// dir), with the test playing the immp host: it publishes envelopes under
// the host's subjects and answers send requests as the host does.
// (tests/integration/nats_node_test.cpp runs it against a real host.)
"use strict";
const test = require("node:test");
const assert = require("node:assert");
const { spawn, spawnSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { NatsOperator, escapeToken, unescapeToken, eventSubject } = require("../immp-nats.js");
const { OperatorError } = require("../immp-operator.js");
const { connect, headers } = require("nats");

function findServer() {
  for (const p of ["/usr/sbin/nats-server", "/usr/bin/nats-server"]) if (fs.existsSync(p)) return p;
  const r = spawnSync("sh", ["-c", "command -v nats-server"], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : "";
}

// Starts nats-server on a free loopback port; resolves with its url and a
// stop function once it accepts clients.
function startServer() {
  const bin = findServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "immp-node-nats-"));
  const child = spawn(bin, ["-a", "127.0.0.1", "-p", "-1", "-l", path.join(dir, "nats.log")], {
    stdio: "ignore",
  });
  const stop = () => {
    child.kill("SIGKILL");
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const look = () => {
      const log = fs.existsSync(path.join(dir, "nats.log")) ? fs.readFileSync(path.join(dir, "nats.log"), "utf8") : "";
      const m = log.match(/Listening for client connections on 127\.0\.0\.1:(\d+)/);
      if (m) return resolve({ url: `nats://127.0.0.1:${m[1]}`, stop });
      if (Date.now() - started > 10000) {
        stop();
        return reject(new Error(`nats-server did not start: ${log}`));
      }
      setTimeout(look, 20);
    };
    child.once("exit", (code) => reject(new Error(`nats-server exited with ${code}`)));
    look();
  });
}

const available = findServer() !== "";

test("subject tokens escape as the host does", () => {
  assert.strictEqual(escapeToken("#a.b c"), "%23a%2Eb%20c");
  assert.strictEqual(escapeToken("*"), "%2A");
  assert.strictEqual(escapeToken(""), "%");
  assert.strictEqual(escapeToken("é"), "%C3%A9");
  assert.strictEqual(unescapeToken("%23a%2Eb%20c"), "#a.b c");
  assert.strictEqual(unescapeToken("%C3%A9"), "é");
  assert.strictEqual(eventSubject({ host: "alpha", plug: "irc", kind: "message" }), "immp.alpha.irc.*.message");
});

test("an operator over NATS gets a channel's messages and its answer reaches the channel",
     { skip: !available && "nats-server is not installed" }, async () => {
  const server = await startServer();
  const host = await connect({ servers: server.url });
  try {
    // The host's side: send requests answered with a receipt, or an error
    // naming the field for a channel it does not have.
    const posted = [];
    const requests = host.subscribe("immp.alpha.send");
    (async () => {
      for await (const m of requests) {
        const env = JSON.parse(Buffer.from(m.data).toString());
        const answer = env.source === "lobby" || env.source === "irc/#a b"
          ? { op: "receipt", id: env.id, channel: "irc/#a b", ids: [`m-${posted.push(env.data.text)}`] }
          : { op: "error", id: env.id, error: `source: no channel '${env.source}'`, field: "source" };
        m.respond(Buffer.from(JSON.stringify(answer)));
      }
    })();
    await host.flush();

    const op = new NatsOperator({ servers: server.url, host: "alpha", name: "echo" });
    const seen = [];
    const receipts = [];
    op.onMessage(async (event) => {
      seen.push(`${event.host} ${event.source} ${event.username}: ${event.text}`);
      if (event.text.startsWith("!echo ")) receipts.push(await op.reply(event, event.text.slice(6)));
    });
    await op.connect();
    await op.subscribe({ plug: "irc", channel: "#a b", kinds: ["message"] });

    const envelope = (id, type, text) => JSON.stringify({
      specversion: "1.0", id, source: "irc/#a b", type,
      data: { text, user: { id: "alice", username: "alice" }, plain: text },
    });
    // An edit, and another channel, are not what it subscribed to.
    host.publish("immp.alpha.irc.%23a%20b.edit", Buffer.from(envelope("alpha-1-1", "edit", "!echo no")));
    host.publish("immp.alpha.irc.%23other.message", Buffer.from(envelope("alpha-1-2", "message", "!echo no")));
    const h = headers();
    h.set("Nats-Msg-Id", "alpha-1-3");
    host.publish("immp.alpha.irc.%23a%20b.message", Buffer.from(envelope("alpha-1-3", "message", "!echo hi there")), { headers: h });
    await host.flush();
    const deadline = Date.now() + 10000;
    while (receipts.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));

    assert.deepStrictEqual(seen, ["alpha irc/#a b alice: !echo hi there"]);
    assert.deepStrictEqual(posted, ["hi there"]);
    assert.strictEqual(receipts[0].op, "receipt");
    assert.deepStrictEqual(receipts[0].ids, ["m-1"]);

    await assert.rejects(op.send("nowhere", "lost"),
                         (e) => e instanceof OperatorError && e.field === "source" && /no channel 'nowhere'/.test(e.message));
    await assert.rejects(op.subscribe({ kinds: ["shout"] }), (e) => e instanceof OperatorError && e.field === "kinds");
    await op.close();
  } finally {
    await host.close();
    server.stop();
  }
});
