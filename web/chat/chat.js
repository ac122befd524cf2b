// The web chat: a page on immp's web API (docs/plugs/web.md). The token
// comes from the page's address (#token=... or ?token=...), never from a
// server-rendered page.
"use strict";

const params = new URLSearchParams(location.hash.slice(1) || location.search.slice(1));
const token = params.get("token") || "";
const api = new URL("../api/v1/", location.href);
const $ = (id) => document.getElementById(id);
const byId = new Map();  // message id -> its element, for edits, deletes and replies
let channel = null;
let socket = null;
let cursor = null;
let replyTo = null;

$("name").value = localStorage.getItem("immp-name") || "";
$("name").addEventListener("change", () => localStorage.setItem("immp-name", $("name").value));

async function call(path, options = {}) {
  const res = await fetch(new URL(path, api), {
    ...options,
    headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
  });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || res.statusText);
  return body;
}

function plain(text) {
  if (typeof text === "string") return text;
  return (text || []).map((s) => s.text).join("");
}

function render(msg) {
  const id = msg.id;
  let el = byId.get(id);
  const fresh = !el;
  if (fresh) {
    el = document.createElement("div");
    el.className = "msg";
    el.dataset.id = id;
  }
  if (msg.deleted) {
    el.classList.add("deleted");
    return;
  }
  el.replaceChildren();
  el.classList.toggle("action", !!msg.action);
  if (msg.reply_to) {
    const r = document.createElement("span");
    r.className = "reply";
    const to = byId.get(msg.reply_to.id);
    r.textContent = "↪ " + (to ? to.querySelector(".body").textContent : "message " + msg.reply_to.id);
    el.append(r);
  }
  const time = document.createElement("span");
  time.className = "time";
  time.textContent = new Date(msg.at || Date.now()).toLocaleTimeString();
  const author = document.createElement("span");
  author.className = "author";
  const user = msg.user || {};
  author.textContent = user.real_name || user.username || user.id || "?";
  const body = document.createElement("span");
  body.className = "body";
  body.textContent = plain(msg.text);
  el.append(time, author, body);
  if (msg.edited) {
    const e = document.createElement("span");
    e.className = "edited";
    e.textContent = "(edited)";
    el.append(e);
  }
  const reply = document.createElement("button");
  reply.type = "button";
  reply.textContent = "reply";
  reply.onclick = () => {
    replyTo = id;
    $("reply-text").textContent = body.textContent;
    $("replying").hidden = false;
    $("text").focus();
  };
  el.append(reply);
  if (fresh) {
    byId.set(id, el);
    const log = $("log");
    const bottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.append(el);
    if (bottom) log.scrollTop = log.scrollHeight;
  }
}

function connect() {
  if (socket) socket.close();
  const url = new URL("stream", api);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("channels", channel.stream);
  url.searchParams.set("access_token", token);
  if (cursor) url.searchParams.set("since", cursor);
  const ws = new WebSocket(url);
  socket = ws;
  ws.onmessage = (ev) => {
    const frame = JSON.parse(ev.data);
    if (frame.stream) {
      if (frame.stream === "ready") $("status").textContent = "live";
      if (frame.cursor) cursor = frame.cursor;
      return;
    }
    if (frame.error) {
      $("status").textContent = frame.error;
      return;
    }
    cursor = frame.id;
    render(frame.data);
  };
  ws.onclose = () => {
    if (socket !== ws) return;
    $("status").textContent = "reconnecting…";
    setTimeout(connect, 1000);
  };
}

async function open(ch) {
  channel = ch;
  byId.clear();
  $("log").replaceChildren();
  cursor = null;
  const history = await call("channels/" + encodeURIComponent(ch.channel) + "/messages");
  history.messages.forEach(render);
  connect();
}

$("send").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const text = $("text").value.trim();
  if (!text || !channel) return;
  const body = { text };
  if ($("name").value) body.author = { name: $("name").value };
  if (replyTo) body.reply_to = replyTo;
  try {
    await call("channels/" + encodeURIComponent(channel.channel) + "/messages",
               { method: "POST", body: JSON.stringify(body) });
    $("text").value = "";
    replyTo = null;
    $("replying").hidden = true;
  } catch (e) {
    $("status").textContent = e.message;
  }
});
$("reply-cancel").onclick = () => { replyTo = null; $("replying").hidden = true; };

(async () => {
  try {
    const { channels } = await call("channels");
    for (const ch of channels) {
      const o = document.createElement("option");
      o.value = ch.channel;
      o.textContent = ch.channel;
      $("channel").append(o);
    }
    $("channel").onchange = () => open(channels.find((c) => c.channel === $("channel").value));
    if (channels.length) await open(channels[0]);
  } catch (e) {
    $("status").textContent = token ? e.message : "add #token=... to the address";
  }
})();
