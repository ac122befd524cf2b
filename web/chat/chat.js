// The web chat: a page on immp's web API (docs/plugs/web.md). The token
// comes from the page's address (#token=... or ?token=...), never from a
// server-rendered page.
//
// What the page shows is the channel's history and then its live stream.
// Every (re)connection first opens the stream, then reads the history after
// the last cursor it read (the history lives in the database, so it
// survives a restart of immp, which the stream's cursors do not), then
// applies what the stream brought meanwhile: nothing said while the page
// was away is missed, and a message shown twice is drawn in one place.
"use strict";

const params = new URLSearchParams(location.hash.slice(1) || location.search.slice(1));
const token = params.get("token") || "";
const api = new URL("../api/v1/", location.href);
const $ = (id) => document.getElementById(id);
const byId = new Map();  // message id -> its element, for edits, deletes and replies
let channel = null;
let socket = null;
let streamCursor = null;   // the stream's cursor: resumes a dropped socket
let historyCursor = null;  // the history's cursor: catches up after a restart
let replyTo = null;
let editing = null;
let retry = null;

$("name").value = localStorage.getItem("immp-name") || "";
$("name").addEventListener("change", () => localStorage.setItem("immp-name", $("name").value));

// The ids this browser posted: only those offer edit and delete (the
// server checks too: only the token that posted a message may change it).
function mine() {
  try {
    return new Set(JSON.parse(localStorage.getItem("immp-mine") || "[]"));
  } catch {
    return new Set();
  }
}
function remember(id) {
  const ids = [...mine(), id].slice(-500);
  localStorage.setItem("immp-mine", JSON.stringify(ids));
}

async function call(path, options = {}) {
  const res = await fetch(new URL(path, api), {
    ...options,
    headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function status(text, state) {
  $("status").textContent = text;
  document.body.dataset.state = state || "";
}

function plain(text) {
  if (typeof text === "string") return text;
  return (text || []).map((s) => s.text).join("");
}

function messagePath(id) {
  return "channels/" + encodeURIComponent(channel.channel) + "/messages" +
         (id ? "/" + encodeURIComponent(id) : "");
}

function button(label, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = label;
  b.textContent = label;
  b.onclick = action;
  return b;
}

function startReply(id, text) {
  cancelEdit();
  replyTo = id;
  $("reply-text").textContent = text;
  $("replying").hidden = false;
  $("text").focus();
}
function cancelReply() {
  replyTo = null;
  $("replying").hidden = true;
}
function startEdit(id, text) {
  cancelReply();
  editing = id;
  $("edit-text").textContent = text;
  $("editing").hidden = false;
  $("text").value = text;
  $("text").focus();
}
function cancelEdit() {
  if (editing) $("text").value = "";
  editing = null;
  $("editing").hidden = true;
}

function render(msg) {
  if (!msg || msg.id === undefined) return;
  if (msg.joined || msg.left || msg.reaction) return;
  const id = msg.id;
  let el = byId.get(id);
  const fresh = !el;
  if (msg.deleted) {
    if (!el) return;
    el.classList.add("deleted");
    el.querySelector(".body").textContent = "message deleted";
    el.querySelectorAll("button, .edited").forEach((b) => b.remove());
    return;
  }
  if (el && el.classList.contains("deleted")) return;
  if (!el && msg.edited) return;  // an edit of a message this page never showed
  if (fresh) {
    el = document.createElement("div");
    el.className = "msg";
    el.dataset.id = id;
  }
  el.replaceChildren();
  el.classList.toggle("action", !!msg.action);
  if (msg.reply_to) {
    const r = document.createElement("span");
    r.className = "reply";
    const to = byId.get(msg.reply_to.id);
    const quoted = to ? to.querySelector(".body").textContent : plain(msg.reply_to.text);
    r.textContent = "↪ " + (quoted || "message " + msg.reply_to.id);
    el.append(r);
  }
  const time = document.createElement("time");
  time.className = "time";
  const at = new Date(msg.at || Date.now());
  time.dateTime = at.toISOString();
  time.textContent = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const author = document.createElement("span");
  author.className = "author";
  const user = msg.user || {};
  author.textContent = user.real_name || user.username || user.id || "?";
  if (user.plug) author.title = user.plug;
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = plain(msg.text);
  el.append(time, author, body);
  for (const a of msg.attachments || []) {
    if (!a.url || !/^https?:/.test(a.url)) continue;
    const link = document.createElement("a");
    link.className = "attachment";
    link.href = a.url;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    link.textContent = a.title || a.url;
    el.append(link);
  }
  if (msg.edited) {
    const e = document.createElement("span");
    e.className = "edited";
    e.textContent = "(edited)";
    el.append(e);
  }
  const tools = document.createElement("span");
  tools.className = "tools";
  tools.append(button("reply", () => startReply(id, body.textContent)));
  if (mine().has(id)) {
    tools.append(button("edit", () => startEdit(id, body.textContent)));
    tools.append(button("delete", async () => {
      try {
        await call(messagePath(id), { method: "DELETE" });
      } catch (e) {
        status(e.message, "error");
      }
    }));
  }
  el.append(tools);
  if (fresh) {
    byId.set(id, el);
    const log = $("log");
    const bottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(el);
    if (bottom) log.scrollTop = log.scrollHeight;
  }
}

// Reads the history after historyCursor (all of it the first time), page
// by page, and draws it.
async function catchUp(ch) {
  for (let pages = 0; pages < 100; ++pages) {
    const after = historyCursor ? "?after=" + historyCursor : "";
    const page = await call(messagePath() + after);
    if (ch !== channel) return;
    page.messages.forEach(render);
    const more = historyCursor && page.messages.length > 0;
    historyCursor = page.cursor;
    if (!more) return;
  }
}

function connect() {
  clearTimeout(retry);
  if (socket) socket.close();
  const ch = channel;
  const url = new URL("stream", api);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("channels", ch.stream);
  url.searchParams.set("access_token", token);
  if (streamCursor) url.searchParams.set("since", streamCursor);
  const ws = new WebSocket(url);
  socket = ws;
  let pending = [];  // events that came while the history was read
  ws.onmessage = async (ev) => {
    const frame = JSON.parse(ev.data);
    if (frame.error) {
      status(frame.error, "error");
      return;
    }
    if (frame.stream) {
      if (frame.cursor) streamCursor = frame.cursor;
      if (frame.stream !== "ready") return;
      let missing = "";
      try {
        await catchUp(ch);
      } catch (e) {
        // Without a history (no database on the server) the page is live
        // only, and says so.
        missing = " (no history: " + e.message + ")";
      }
      if (socket !== ws) return;
      pending.forEach(render);
      pending = null;
      status("live" + missing, "live");
      return;
    }
    streamCursor = frame.id;
    if (pending) {
      pending.push(frame.data);
    } else {
      render(frame.data);
    }
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    socket = null;
    status("reconnecting…", "reconnecting");
    retry = setTimeout(connect, 1000);
  };
}

function open(ch) {
  channel = ch;
  byId.clear();
  $("log").replaceChildren();
  streamCursor = null;
  historyCursor = null;
  cancelReply();
  cancelEdit();
  status("connecting…", "connecting");
  connect();
}

$("send").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("text").value.trim();
  if (!text || !channel) return;
  try {
    if (editing) {
      await call(messagePath(editing), { method: "PATCH", body: JSON.stringify({ text }) });
      cancelEdit();
    } else {
      const body = { text };
      if ($("name").value) body.author = { name: $("name").value };
      if (replyTo) body.reply_to = replyTo;
      const sent = await call(messagePath(), { method: "POST", body: JSON.stringify(body) });
      for (const r of sent.receipts) {
        remember(r.id);
        // Drawn already when the stream was quicker than the answer.
        const el = byId.get(r.id);
        if (el && !el.querySelector(".edit")) {
          const tools = el.querySelector(".tools");
          tools.append(button("edit", () => startEdit(r.id, el.querySelector(".body").textContent)));
          tools.append(button("delete", () => call(messagePath(r.id), { method: "DELETE" })
            .catch((e) => status(e.message, "error"))));
        }
      }
      cancelReply();
    }
    $("text").value = "";
  } catch (e) {
    status(e.message, "error");
  }
});
$("reply-cancel").onclick = cancelReply;
$("edit-cancel").onclick = cancelEdit;

(async () => {
  if (!token) {
    status("add #token=... to the address", "error");
    return;
  }
  try {
    const { channels } = await call("channels");
    for (const ch of channels) {
      const o = document.createElement("option");
      o.value = ch.channel;
      o.textContent = "#" + ch.channel;
      $("channel").append(o);
    }
    $("channel").onchange = () => open(channels.find((c) => c.channel === $("channel").value));
    if (channels.length) open(channels[0]);
    else status("this token may read no channel", "error");
  } catch (e) {
    status(e.message, "error");
  }
})();
