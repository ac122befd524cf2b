#!/usr/bin/env node
// An echo bot as an immp operator, in Node: "!echo words" -> "words".
"use strict";
const path = require("path");
const { Operator } = require(path.join(__dirname, "..", "..", "sdk", "node", "immp-operator.js"));

const op = new Operator();
op.onMessage(async (event) => {
  const prefix = op.config.prefix || "!";
  if (event.operator || !event.text.startsWith(prefix + "echo ")) return;
  await op.send(event.source, event.text.slice(prefix.length + 5));
});
op.connect()
  .then(() => {
    const prefix = (op.config.prefix || "!").replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    return op.run({ filter: { kinds: ["message"], text: "^" + prefix + "echo " } });
  })
  .catch((e) => {
    console.error(`ERROR: ${e.message}`);
    process.exit(1);
  });
