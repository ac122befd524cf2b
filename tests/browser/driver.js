// Drives Debian's headless Chromium for immp's browser tests
// (tests/integration/web_*_test.cpp), which own the assertions.
//
// One Chromium per run. The test writes one JSON request per line on stdin,
// {"id": 1, "op": "open", "url": "..."}, and reads one JSON answer per line
// on stdout, {"id": 1, "ok": true, "value": ...} or {"id": 1, "ok": false,
// "error": "..."}. The first line out is {"ready": true, "version": "..."}.
// Pages are named ("page", default "main"); each opened page has a fresh
// browser context (no cookies, no storage), 1000x700.
//
// Ops: open {url}, goto {url}, close, fill {selector, value},
// press {selector, key}, click {selector}, text {selector},
// wait_text {selector, text}, wait_fn {expr}, eval {expr},
// screenshot {path}, offline {value}, errors (what the page logged as an
// error, and uncaught exceptions, since it was opened or last asked). Waits take
// "timeout" in ms (default 10000).
"use strict";

const path = require("path");
const readline = require("readline");
const { chromium } = require(path.join(__dirname, "node_modules", "playwright-core"));

const executablePath = process.env.IMMP_CHROMIUM || "/usr/bin/chromium";
const pages = new Map();  // name -> {context, page, errors}

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

async function main() {
  const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  out({ ready: true, version: browser.version() });

  const get = (req) => {
    const entry = pages.get(req.page || "main");
    if (!entry) throw new Error("no page '" + (req.page || "main") + "' is open");
    return entry;
  };
  const ops = {
    async open(req) {
      const name = req.page || "main";
      if (pages.has(name)) await pages.get(name).context.close();
      const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
      const page = await context.newPage();
      const errors = [];
      page.on("pageerror", (e) => errors.push("exception: " + e.message));
      page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
      pages.set(name, { context, page, errors });
      const res = await page.goto(req.url);
      return res ? res.status() : null;
    },
    async goto(req) {
      const res = await get(req).page.goto(req.url);
      return res ? res.status() : null;
    },
    async close(req) {
      const entry = get(req);
      pages.delete(req.page || "main");
      await entry.context.close();
    },
    async fill(req) { await get(req).page.fill(req.selector, req.value, { timeout: req.timeout }); },
    async press(req) { await get(req).page.press(req.selector, req.key, { timeout: req.timeout }); },
    async click(req) {
      await get(req).page.click(req.selector, { timeout: req.timeout, force: !!req.force });
    },
    async text(req) { return await get(req).page.innerText(req.selector, { timeout: req.timeout }); },
    async wait_text(req) {
      await get(req).page.waitForFunction(
        ([sel, text]) => [...document.querySelectorAll(sel)].some((e) => e.innerText.includes(text)),
        [req.selector, req.text], { timeout: req.timeout });
    },
    // Polled through the DevTools protocol: waitForFunction with a string
    // would eval() in the page, which the pages' CSP rightly forbids.
    async wait_fn(req) {
      const page = get(req).page;
      const end = Date.now() + req.timeout;
      for (;;) {
        if (await page.evaluate(req.expr).catch(() => false)) return;
        if (Date.now() > end) throw new Error("timed out waiting for " + req.expr);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async eval(req) { return await get(req).page.evaluate(req.expr); },
    async screenshot(req) { await get(req).page.screenshot({ path: req.path, fullPage: !!req.full }); },
    async offline(req) { await get(req).context.setOffline(!!req.value); },
    async errors(req) { return get(req).errors.splice(0); },
  };

  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      out({ ok: false, error: "not JSON: " + line });
      continue;
    }
    if (req.timeout === undefined) req.timeout = 10000;
    try {
      const op = ops[req.op];
      if (!op) throw new Error("unknown op '" + req.op + "'");
      const value = await op(req);
      out({ id: req.id, ok: true, value: value === undefined ? null : value });
    } catch (e) {
      out({ id: req.id, ok: false, error: String(e && e.message || e).split("\n")[0] });
    }
  }
  await browser.close();
}

main().catch((e) => {
  out({ ready: false, error: String(e && e.message || e) });
  process.exit(1);
});
