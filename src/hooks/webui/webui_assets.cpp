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
input, select, button { font: inherit; padding: .25em .5em; }
dl.stats { display: grid; grid-template-columns: max-content max-content; gap: .2em 1.5em; }
dl.stats dd { margin: 0; font-variant-numeric: tabular-nums; }
)css";

const std::string_view kAdminJs = R"js("use strict";
// Keeps the admin page live: the states of plugs and hooks, from state.json.
const base = document.currentScript.src.replace(/\/admin\.js$/, "");
let known = null;
async function poll() {
  try {
    const res = await fetch(base + "/state.json", { credentials: "same-origin" });
    if (res.status === 401) { location.href = base + "/login"; return; }
    const state = await res.json();
    for (const kind of ["plug", "hook"]) {
      for (const item of state[kind + "s"]) {
        const cell = document.querySelector(`.state[data-of="${kind}:${CSS.escape(item.name)}"]`);
        if (cell) { cell.textContent = item.state; cell.dataset.state = item.state; }
      }
    }
    // A change also changes which buttons fit: load the page again, unless
    // someone is typing into it.
    const now = JSON.stringify(state);
    const typing = [...document.querySelectorAll("input:not([type=hidden])")].some((i) => i.value);
    if (known !== null && now !== known && !typing) { location.reload(); return; }
    if (!typing) known = now;
  } catch (e) {
    // The host is restarting, or the network is down: try again.
  }
  setTimeout(poll, 2000);
}
poll();
)js";

}  // namespace immp::webui
