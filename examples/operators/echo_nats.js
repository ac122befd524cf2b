#!/usr/bin/env node
// The echo bot over NATS, for an operator on another machine than its immp
// host: "!echo words" -> "words" in the same channel.
//
//   IMMP_NATS_URL=nats://10.0.0.2:4222 IMMP_NATS_HOST=alpha node echo_nats.js
//
// IMMP_NATS_HOST is the host's `bus.prefix`; IMMP_NATS_PLUG and
// IMMP_NATS_CHANNEL narrow what it listens to (default: every channel).
// Needs the Node SDK's `nats` package (scripts/setup.sh installs it).
"use strict";
const path = require("path");
const { NatsOperator } = require(path.join(__dirname, "..", "..", "sdk", "node", "immp-nats.js"));

const host = process.env.IMMP_NATS_HOST;
if (!host) {
  console.error("ERROR: IMMP_NATS_HOST (the immp host's bus.prefix) is unset");
  process.exit(2);
}
const op = new NatsOperator({ servers: process.env.IMMP_NATS_URL || "nats://127.0.0.1:4222", host, name: "echo" });
op.onMessage(async (event) => {
  if (!event.text.startsWith("!echo ")) return;
  await op.reply(event, event.text.slice(6));
});
op.on("error", (e) => console.error(`ERROR: ${e.message}`));
op.connect()
  .then(() => op.subscribe({ plug: process.env.IMMP_NATS_PLUG, channel: process.env.IMMP_NATS_CHANNEL, kinds: ["message"] }))
  .then(() => {
    console.log(`subscribed to ${host}`);
    return op.run();
  })
  .catch((e) => {
    console.error(`ERROR: ${e.message}`);
    process.exit(1);
  });
