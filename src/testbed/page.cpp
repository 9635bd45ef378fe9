// The testbed's page: plain HTML and JavaScript, no build step, no CDN.
// It reads the JSON API and refreshes on the server-sent "change" events.
#include "testbed/http_api.hpp"

namespace postern::testbed {

const char* const page_html = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Postern testbed</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 0; display: grid; grid-template-columns: 22rem 1fr; height: 100vh; }
  nav { border-right: 1px solid #ccc; overflow: auto; }
  main { overflow: auto; padding: 0 1rem; }
  h1 { font-size: 1rem; margin: .6rem; }
  h2 { font-size: .9rem; margin: .8rem .6rem .3rem; color: #555; }
  ul { list-style: none; margin: 0; padding: 0; }
  li { padding: .35rem .6rem; border-bottom: 1px solid #eee; cursor: pointer; }
  li:hover, li.current { background: #eef4ff; }
  .meta { color: #666; font-size: 12px; }
  table { border-collapse: collapse; width: 100%; font: 13px ui-monospace, monospace; }
  td { border-bottom: 1px solid #eee; padding: 2px 6px; vertical-align: top; white-space: pre-wrap; word-break: break-all; }
  td.dir { width: 1.5rem; color: #888; }
  tr.c td.line { color: #0645ad; }
  td.decoded { color: #7a3e00; }
  td.explain { color: #2b6e2b; font-family: system-ui, sans-serif; }
  td.scenario { color: #8a2b8a; font-family: system-ui, sans-serif; }
  pre { white-space: pre-wrap; background: #f7f7f7; padding: .5rem; }
  iframe { width: 100%; height: 20rem; border: 1px solid #ccc; }
</style>
</head>
<body>
<nav>
  <h1>Postern testbed</h1>
  <h2>Messages <span id="message-count"></span></h2>
  <ul id="messages"></ul>
  <h2>Sessions <span id="session-count"></span></h2>
  <ul id="sessions"></ul>
</nav>
<main id="view"><p>Send mail to this server; it appears here. The JSON API is under <code>/api/</code>.</p></main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
let current = null;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

async function get(path) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(path + ": " + r.status);
  return r.json();
}

async function refresh() {
  const [messages, sessions] = await Promise.all([get("/api/messages"), get("/api/sessions")]);
  $("message-count").textContent = "(" + messages.length + ")";
  $("session-count").textContent = "(" + sessions.length + ")";
  $("messages").replaceChildren(...messages.map((m) => {
    const li = el("li", {"class": "message", "data-id": m.id}, el("div", {}, m.subject || "(no subject)"),
                  el("div", {"class": "meta"}, (m.from || "<>") + " \u2192 " + m.to.join(", ")));
    li.onclick = () => { location.hash = "message=" + encodeURIComponent(m.id); };
    return li;
  }));
  $("sessions").replaceChildren(...sessions.map((s) => {
    const li = el("li", {"class": "session", "data-id": s.id}, el("div", {}, "session " + s.id + (s.open ? " (open)" : "")),
                  el("div", {"class": "meta"}, s.client + ", " + s.started + ", " + s.messages.length + " message(s)"));
    li.onclick = () => { location.hash = "session=" + encodeURIComponent(s.id); };
    return li;
  }));
  if (current) await current();
}

async function showMessage(id) {
  current = () => showMessage(id);
  const m = await get("/api/messages/" + encodeURIComponent(id));
  const headers = el("table", {"id": "headers"}, ...m.headers.map((h) => el("tr", {}, el("td", {}, h.name), el("td", {}, h.value))));
  const parts = [el("h2", {"id": "subject"}, m.subject || "(no subject)"),
                 el("p", {"class": "meta"}, "from " + (m.from || "<>") + " to " + m.to.join(", ") + ", " + m.size + " octets, " + m.received + ", ",
                    el("a", {"href": "/api/messages/" + encodeURIComponent(id) + "/raw"}, "raw"),
                    m.session ? " , " : "", m.session ? el("a", {"href": "#", "id": "to-session"}, "session " + m.session) : ""),
                 headers];
  if (m.text) parts.push(el("h2", {}, "Text"), el("pre", {"id": "text"}, m.text));
  if (m.html) {
    const frame = el("iframe", {"sandbox": "", "id": "html"});
    frame.srcdoc = m.html;
    parts.push(el("h2", {}, "HTML"), frame);
  }
  if (m.attachments.length)
    parts.push(el("h2", {}, "Attachments"), el("ul", {"id": "attachments"},
      ...m.attachments.map((a) => el("li", {}, (a.filename || "(no name)") + " \u2014 " + a.content_type + ", " + a.size + " octets"))));
  $("view").replaceChildren(...parts);
  const link = $("to-session");
  if (link) link.onclick = (e) => { e.preventDefault(); location.hash = "session=" + encodeURIComponent(m.session); };
}

async function showSession(id) {
  current = () => showSession(id);
  const s = await get("/api/sessions/" + encodeURIComponent(id));
  const rows = s.transcript.map((l) => el("tr", {"class": l.dir},
    el("td", {"class": "dir"}, l.dir === "c" ? "C:" : "S:"), el("td", {"class": "line"}, l.line),
    el("td", {"class": "decoded"}, l.decoded != null ? "\u21b3 " + l.decoded : ""),
    el("td", {"class": "explain"}, l.explain || ""),
    el("td", {"class": "scenario"}, l.scenario ? "\u2190 " + l.scenario : "")));
  $("view").replaceChildren(el("h2", {}, "Session " + s.id + " from " + s.client),
                            el("table", {"id": "transcript"}, ...rows));
}

// "#message=ID" and "#session=ID" open that view (links, headless checks).
function route() {
  const m = /^#(message|session)=(.+)$/.exec(location.hash);
  if (m) (m[1] === "message" ? showMessage : showSession)(decodeURIComponent(m[2]));
}
window.addEventListener("hashchange", route);
refresh().then(route);
const events = new EventSource("/api/events");
events.addEventListener("change", () => refresh());
// The stream reports changes from when it connects: catch up on what came in between.
events.addEventListener("open", () => refresh());
</script>
</body>
</html>
)HTML";

}  // namespace postern::testbed
