#include "hooks/webui/webui_assets.hpp"

namespace immp::webui {

const std::string_view kAdminCss =
    R"css(:root { color-scheme: light dark; --muted: #777; --line: #ccc; --bar: #1f3347; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, sans-serif; }
header { display: flex; align-items: center; justify-content: space-between; padding: .5em 1em; background: var(--bar); color: #fff; }
header h1 { font-size: 1.1em; margin: 0; }
main { padding: .5em 1em 2em; max-width: 70em; }
main.narrow { max-width: 24em; margin: 3em auto; }
h2 { font-size: 1.05em; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid var(--line); vertical-align: middle; }
th { font-size: .85em; color: var(--muted); font-weight: 600; }
td.actions form { display: inline; margin-right: .3em; }
.state { font-weight: 600; }
.state[data-state="active"] { color: #2e7d32; }
.state[data-state="failed"] { color: #c62828; }
.state[data-state="disabled"], .state[data-state="inactive"] { color: var(--muted); }
.muted { color: var(--muted); font-size: .9em; }
.notice { background: #e8f0fe; color: #123; padding: .5em .8em; border-radius: 4px; }
.error { background: #fdecea; color: #611a15; padding: .5em .8em; border-radius: 4px; }
form.inline, form.login { display: flex; flex-wrap: wrap; gap: .5em; align-items: end; margin-top: .6em; }
form.login { flex-direction: column; align-items: stretch; }
label { display: flex; flex-direction: column; font-size: .85em; color: var(--muted); }
input, select, button, textarea { font: inherit; padding: .25em .5em; }
form.config { display: flex; flex-direction: column; gap: .6em; max-width: 48em; }
form.config textarea { font: 13px/1.45 ui-monospace, monospace; width: 100%; resize: vertical; }
header a.back { color: #fff; font-size: .9em; }
#config-error code.path { font-weight: 600; }
dl.stats { display: grid; grid-template-columns: max-content max-content; gap: .2em 1.5em; }
dl.stats dd { margin: 0; font-variant-numeric: tabular-nums; }
td.count { font-variant-numeric: tabular-nums; white-space: nowrap; }
.live { font-size: .85em; margin-left: auto; margin-right: 1em; }
.live[data-live="yes"]::before { content: "● "; color: #66bb6a; }
.live[data-live="no"]::before { content: "○ "; }
ol.log { list-style: none; margin: 0; padding: .4em; max-height: 24em; overflow-y: auto; font: 12px/1.4 ui-monospace, monospace; border: 1px solid var(--line); border-radius: 4px; }
ol.log li { white-space: pre-wrap; word-break: break-word; }
ol.log .level { font-weight: 600; }
ol.log .level-WARNING .level { color: #b26a00; }
ol.log .level-ERROR .level, ol.log .level-CRITICAL .level { color: #c62828; }
ol.log .logger, ol.log time { color: var(--muted); }
)css";

const std::string_view kAdminJs = R"js("use strict";
// Keeps the admin page live from route/events (Server-Sent Events): the
// host's state as it changes, message counts every second, the log's tail.
// Rows are rendered as the server renders them; text goes in as text.
const base = document.currentScript.src.replace(/\/admin\.js$/, "");
const csrf = (document.querySelector('input[name="csrf"]') || {}).value || "";
const kLogKept = 500;
const liveMark = document.getElementById("live");
let last = null;  // the previous counts, for rates

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}
function actionForm(kind, name, action) {
  return el("form", { method: "post", action: `${base}/${kind}/${encodeURIComponent(name)}/${action}` },
    el("input", { type: "hidden", name: "csrf", value: csrf }),
    el("button", { type: "submit", class: action, "aria-label": `${action} ${name}` }, action));
}
function editLink(kind, name) {
  return el("a", { class: "edit", href: `${base}/edit/${kind}/${encodeURIComponent(name)}`,
    "aria-label": `config of ${name}` }, "config");
}
function actionsFor(state) {
  if (state === "active" || state === "starting") return ["stop", "restart", "disable"];
  if (state === "disabled") return ["enable"];
  return ["start", "disable"];
}
function countCells(of) {
  const cell = (dir) => {
    const td = el("td", { class: "count", "data-count": `${of}:${dir}` });
    const old = document.querySelector(`td[data-count="${CSS.escape(of + ":" + dir)}"]`);
    td.textContent = old ? old.textContent : "0";
    return td;
  };
  return [cell("in"), cell("out")];
}
// A channel's outbox figure ("waiting" or "dropped"), keeping what the
// live counts last said.
function outboxCell(what, name) {
  const td = el("td", { class: "count", [`data-${what}`]: name });
  const old = document.querySelector(`td[data-${what}="${CSS.escape(name)}"]`);
  td.textContent = old ? old.textContent : "0";
  return td;
}
function fill(id, rows) {
  document.querySelector(`#${id} tbody`).replaceChildren(...rows);
}

function showState(s) {
  fill("plugs", s.plugs.map((p) => {
    const link = p.state === "active" || p.state === "starting" ? (p.online ? "online" : "offline") : "—";
    return el("tr", { "data-name": p.name }, el("td", {}, p.name), el("td", {}, p.network),
      el("td", { class: "state", "data-of": `plug:${p.name}`, "data-state": p.state }, p.state),
      el("td", { class: "link", "data-of": `plug:${p.name}` }, link), el("td", {}, String(p.channels)),
      ...countCells(`plug:${p.name}`),
      el("td", { class: "actions" }, ...actionsFor(p.state).map((a) => actionForm("plug", p.name, a)),
        ...(p.editable ? [editLink("plug", p.name)] : [])));
  }));
  fill("hooks", s.hooks.map((h) => el("tr", { "data-name": h.name }, el("td", {}, h.name),
    el("td", { class: "state", "data-of": `hook:${h.name}`, "data-state": h.state }, h.state),
    el("td", {}, h.priority === null ? "—" : String(h.priority)),
    el("td", { class: "actions" }, ...(h.fixed ? [el("span", { class: "muted" }, "serves this page")]
      : [...actionsFor(h.state).map((a) => actionForm("hook", h.name, a)),
        ...(h.editable ? [editLink("hook", h.name)] : [])])))));
  fill("channels", s.channels.map((c) => el("tr", { "data-name": c.name }, el("td", {}, c.name),
    el("td", {}, c.plug), el("td", {}, c.source), ...countCells(`channel:${c.name}`),
    outboxCell("waiting", c.name), outboxCell("dropped", c.name),
    el("td", { class: "actions" }, el("form", { method: "post",
      action: `${base}/channel/${encodeURIComponent(c.name)}/remove` },
      el("input", { type: "hidden", name: "csrf", value: csrf }),
      el("button", { type: "submit", class: "remove", "aria-label": `remove ${c.name}` }, "remove"))))));
  const select = document.querySelector('#add-channel select[name="plug"]');
  if (select) {
    const chosen = select.value;
    select.replaceChildren(...s.plugs.map((p) => el("option", {}, p.name)));
    if (s.plugs.some((p) => p.name === chosen)) select.value = chosen;
  }
  fill("events", s.events.map((e) => el("tr", {}, el("td", {}, e.time), el("td", {}, `${e.kind} ${e.name}`),
    el("td", {}, e.state), el("td", {}, e.reason))));
  if (s.operators && document.getElementById("operators")) {
    fill("operators", s.operators.map((o) => {
      let actions = [];
      if (o.phase === "ready" || o.phase === "starting") actions = [o.halted ? "resume" : "halt", "restart", "stop"];
      else if (o.phase === "backoff") actions = ["stop"];
      else if (o.phase === "stopped" || o.phase === "failed") actions = ["start"];
      return el("tr", { "data-name": o.name }, el("td", {}, o.name),
        el("td", { class: "state", "data-of": `operator:${o.name}`, "data-state": o.phase },
          o.phase + (o.halted ? ", halted" : "")),
        el("td", {}, o.pid ? String(o.pid) : "—"), el("td", {}, String(o.restarts)),
        el("td", {}, `${o.queued} (${o.dropped} dropped)`), el("td", {}, o.status),
        el("td", { class: "actions" }, ...actions.map((a) => actionForm("operator", o.name, a))));
    }));
  }
}

function showCounts(c) {
  for (const kind of ["plug", "channel"]) {
    for (const [name, n] of Object.entries(c[kind + "s"])) {
      for (const dir of ["in", "out"]) {
        const cell = document.querySelector(`td[data-count="${CSS.escape(kind + ":" + name + ":" + dir)}"]`);
        if (!cell) continue;
        const before = last && last[kind + "s"][name] ? last[kind + "s"][name][dir] : n[dir];
        const seconds = last ? (c.at - last.at) / 1000 : 0;
        const rate = seconds > 0 ? (n[dir] - before) / seconds : 0;
        cell.textContent = rate > 0 ? `${n[dir]} (${rate.toFixed(1)}/s)` : String(n[dir]);
      }
    }
  }
  for (const what of ["waiting", "dropped"]) {
    for (const [name, n] of Object.entries(c[what] || {})) {
      const cell = document.querySelector(`td[data-${what}="${CSS.escape(name)}"]`);
      if (cell) cell.textContent = String(n);
    }
  }
  for (const [key, n] of Object.entries(c.delivery)) {
    const dd = document.querySelector(`[data-delivery="${key}"]`);
    if (dd) dd.textContent = String(n);
  }
  last = c;
}

function showLog(r) {
  const list = document.getElementById("log");
  const atEnd = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  const item = el("li", { class: "level-" + r.level, "data-seq": String(r.seq) },
    el("time", {}, r.time), " ", el("span", { class: "level" }, r.level), " ",
    el("span", { class: "logger" }, r.logger), " ", el("span", { class: "text" }, r.text));
  list.append(item);
  while (list.children.length > kLogKept) list.firstElementChild.remove();
  if (atEnd) list.scrollTop = list.scrollHeight;
}

function mark(live, text) {
  liveMark.dataset.live = live ? "yes" : "no";
  liveMark.textContent = text;
}

function connect() {
  const source = new EventSource(base + "/events");
  let seq = 0;
  source.onopen = () => mark(true, "live");
  source.addEventListener("state", (e) => showState(JSON.parse(e.data)));
  source.addEventListener("counts", (e) => showCounts(JSON.parse(e.data)));
  source.addEventListener("log", (e) => {
    const r = JSON.parse(e.data);
    // A reconnect sends the kept records again.
    if (r.seq > seq) { seq = r.seq; showLog(r); }
  });
  source.addEventListener("logout", () => { source.close(); location.href = base + "/login"; });
  source.onerror = async () => {
    mark(false, "reconnecting…");
    if (source.readyState !== EventSource.CLOSED) return;  // the browser retries by itself
    // Refused (not 200): logged out, or the host is gone for now.
    const res = await fetch(base + "/state.json", { credentials: "same-origin" }).catch(() => null);
    if (res && res.status === 401) { location.href = base + "/login"; return; }
    setTimeout(connect, 2000);
  };
}
connect();
)js";

}  // namespace immp::webui
