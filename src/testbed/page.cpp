// The testbed's page: plain HTML, CSS and JavaScript inline, no build
// step, no CDN. It reads the JSON API (and Mailpit's /api/v1/search for the
// search box) and refreshes on the server-sent "change" events. Everything
// a message or a client sent is put on the page as text, never as markup;
// a message's HTML is shown only in a sandboxed frame (no scripts, an
// origin of its own).
#include "testbed/http_api.hpp"

namespace postern::testbed {

const char* const page_html = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Postern testbed</title>
<style>
  :root { --line: #e3e6ea; --muted: #6b7280; --accent: #2563eb; --bg: #f6f7f9;
          --ok: #15803d; --okbg: #dcfce7; --temp: #a16207; --tempbg: #fef3c7; --perm: #b91c1c; --permbg: #fee2e2;
          --info: #1d4ed8; --infobg: #dbeafe; --none: #4b5563; --nonebg: #e5e7eb; --rule: #7e22ce; }
  * { box-sizing: border-box; }
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #111827;
         display: grid; grid-template-rows: auto 1fr; grid-template-columns: 24rem 1fr; height: 100vh; }
  header { grid-column: 1 / 3; display: flex; gap: .75rem; align-items: center; padding: .5rem .9rem;
           background: #1e293b; color: #fff; }
  header h1 { font-size: 1rem; margin: 0 .5rem 0 0; white-space: nowrap; font-weight: 600; }
  header h1 span { color: #93c5fd; }
  #search { flex: 1; max-width: 40rem; padding: .4rem .6rem; border-radius: 6px; border: 0; font: inherit; }
  #inbox { padding: .35rem; border-radius: 6px; border: 0; font: inherit; max-width: 16rem; }
  header button { background: transparent; color: #e2e8f0; border: 1px solid #475569; border-radius: 6px;
                  padding: .3rem .6rem; font: inherit; cursor: pointer; }
  header button:hover { background: #334155; }
  #live { font-size: 12px; color: #94a3b8; white-space: nowrap; }
  #live.on::before { content: "\25CF "; color: #4ade80; }
  nav { border-right: 1px solid var(--line); overflow: auto; background: #fff; }
  .tabs { display: flex; border-bottom: 1px solid var(--line); position: sticky; top: 0; background: #fff; z-index: 1; }
  .tabs button { flex: 0 0 auto; border: 0; background: none; padding: .55rem .8rem; font: inherit; color: var(--muted);
                 cursor: pointer; border-bottom: 2px solid transparent; }
  .tabs button.on { color: var(--accent); border-bottom-color: var(--accent); font-weight: 600; }
  .tabs button:disabled { opacity: .45; cursor: default; }
  nav .tabs button { flex: 1; }
  ul.list { list-style: none; margin: 0; padding: 0; }
  ul.list li { padding: .5rem .8rem; border-bottom: 1px solid var(--line); cursor: pointer; }
  ul.list li:hover { background: #f3f6fb; }
  ul.list li.current { background: #e8f0fe; box-shadow: inset 3px 0 var(--accent); }
  ul.list li.unread .who { font-weight: 700; }
  .row { display: flex; gap: .5rem; align-items: baseline; justify-content: space-between; }
  .who { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .when { color: var(--muted); font-size: 12px; white-space: nowrap; }
  .subject { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .meta { color: var(--muted); font-size: 12px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
  .cause { color: var(--rule); font-size: 12px; }
  .empty { color: var(--muted); padding: 1rem .8rem; }
  .chip { display: inline-block; font-size: 11px; padding: 0 .4rem; border-radius: 9px; background: var(--nonebg);
          color: var(--none); margin-right: .25rem; white-space: nowrap; }
  .code { display: inline-block; min-width: 2.6rem; text-align: center; font: 600 12px ui-monospace, monospace;
          padding: .05rem .3rem; border-radius: 4px; }
  .c2xx, .s-delivered { background: var(--okbg); color: var(--ok); }
  .c3xx, .s-queued { background: var(--infobg); color: var(--info); }
  .c4xx, .s-deferred { background: var(--tempbg); color: var(--temp); }
  .c5xx, .s-bounced { background: var(--permbg); color: var(--perm); }
  .cdropped, .cnone { background: var(--nonebg); color: var(--none); }
  main { overflow: auto; background: var(--bg); }
  .card { background: #fff; margin: .9rem; border: 1px solid var(--line); border-radius: 8px; }
  .card > h2 { margin: 0; padding: .8rem 1rem .3rem; font-size: 1.15rem; }
  dl.fields { display: grid; grid-template-columns: 6rem 1fr; gap: .15rem .6rem; margin: 0; padding: .3rem 1rem .8rem; }
  dl.fields dt { color: var(--muted); }
  dl.fields dd { margin: 0; word-break: break-all; }
  .pane { padding: .8rem 1rem; }
  pre { white-space: pre-wrap; word-break: break-word; margin: 0; font: 13px/1.45 ui-monospace, monospace; }
  iframe { width: 100%; height: 70vh; border: 0; background: #fff; }
  table { border-collapse: collapse; width: 100%; }
  th { text-align: left; color: var(--muted); font-weight: 500; font-size: 12px; border-bottom: 1px solid var(--line); padding: .3rem .5rem; }
  td { border-bottom: 1px solid var(--line); padding: .3rem .5rem; vertical-align: top; word-break: break-word; }
  #headers td:first-child { color: var(--muted); white-space: nowrap; width: 1%; }
  #transcript { font: 13px/1.45 ui-monospace, monospace; }
  #transcript td { border: 0; padding: .05rem .5rem; white-space: pre-wrap; }
  #transcript td.dir { width: 2rem; color: #9ca3af; white-space: nowrap; }
  #transcript td.line { width: 50%; }
  #transcript tr.s td.line.r4 { color: var(--temp); font-weight: 600; }
  #transcript tr.s td.line.r5 { color: var(--perm); font-weight: 600; }
  #transcript tr.s td.line.r0 { color: var(--none); font-style: italic; }
  #transcript tr.c td.line { color: #1d4ed8; }
  #transcript tr.s td.line { color: #111827; }
  #transcript td.decoded { color: #92400e; min-width: 14rem; word-break: break-all; }
  #transcript td.explain { color: #15803d; font-family: system-ui, sans-serif; font-size: 12px; }
  #transcript td.scenario { color: var(--rule); font-family: system-ui, sans-serif; font-size: 12px; }
  form.release { display: flex; flex-wrap: wrap; gap: .5rem; align-items: end; margin-bottom: .8rem; }
  form.release label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); gap: .15rem; }
  form.release input { font: inherit; padding: .35rem .5rem; border: 1px solid #cbd5e1; border-radius: 6px; min-width: 16rem; }
  form.release button { font: inherit; padding: .4rem .9rem; border: 0; border-radius: 6px; background: var(--accent); color: #fff; cursor: pointer; }
  .error { color: var(--perm); }
  .hint { color: var(--muted); font-size: 12px; }
  a { color: var(--accent); }
  .welcome { margin: 2rem auto; max-width: 40rem; color: #374151; }
  .welcome code { background: #e5e7eb; padding: 0 .25rem; border-radius: 4px; }
</style>
</head>
<body>
<header>
  <h1>Postern <span>testbed</span></h1>
  <input id="search" type="search" placeholder="Search: from: to: subject: tag: is:unread has:attachment, or any words" autocomplete="off">
  <select id="inbox" title="Inbox"><option value="">All inboxes</option></select>
  <button id="delete-all" title="Delete every kept message">Delete all</button>
  <span id="live">connecting</span>
</header>
<nav>
  <div class="tabs" role="tablist">
    <button id="tab-messages" class="on">Messages <span id="message-count"></span></button>
    <button id="tab-sessions">Sessions <span id="session-count"></span></button>
  </div>
  <ul id="messages" class="list"></ul>
  <ul id="sessions" class="list" hidden></ul>
</nav>
<main id="view">
  <div class="welcome">
    <h2>Nothing selected</h2>
    <p>Send mail to this server's SMTP port and it appears on the left, live. Every session's dialogue is under
    <b>Sessions</b>, with the scenario or rule that chose each reply.</p>
    <p>The JSON API is under <code>/api/</code>, Mailpit's under <code>/api/v1/</code>.
    Deep links: <code>#message=ID</code>, <code>#session=ID</code>.</p>
  </div>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const state = { list: "messages", query: "", inbox: "", view: null, tab: null, searchBroken: false };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v); else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat(Infinity)) if (c != null && c !== false)
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function get(path, as) {
  const r = await fetch(path);
  if (!r.ok) throw new Error(path + ": " + r.status);
  return as === "text" ? r.text() : r.json();
}

function when(iso) {
  if (!iso) return "";
  const d = new Date(iso), now = new Date();
  return d.toDateString() === now.toDateString() ? d.toLocaleTimeString() : d.toLocaleString();
}
function size(n) { return n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB" : (n / 1048576).toFixed(1) + " MiB"; }
function replyClass(code) { return code ? "c" + code : "cnone"; }
function codeOf(line) { return (/^\d{3}/.exec(line || "") || ["\u2014"])[0]; }

// ------------------------------------------------------------ the lists

async function matchingIds() {
  state.searchError = "";
  if (!state.query) return null;
  if (!state.searchBroken) {
    try {
      const q = "/api/v1/search?limit=100000&query=" + encodeURIComponent(state.query) +
                (state.inbox ? "&inbox=" + encodeURIComponent(state.inbox) : "");
      const r = await fetch(q);
      if (r.status === 404) state.searchBroken = true;
      else if (r.ok) { state.searchError = ""; return new Set((await r.json()).messages.map((m) => m.ID)); }
      else {  // a query the syntax refuses matches nothing, and says why
        state.searchError = ((e) => e.Error || e.error)(await r.json().catch(() => ({}))) || "search refused: " + r.status;
        return new Set();
      }
    } catch (e) { state.searchBroken = true; }
  }
  return null;  // no search endpoint: filtered here
}

function localMatch(m) {
  const q = state.query.toLowerCase();
  return !q || [m.from, m.subject, ...(m.to || [])].some((v) => (v || "").toLowerCase().includes(q));
}

async function refreshMessages() {
  const [messages, ids] = await Promise.all([
    get("/api/messages" + (state.inbox ? "?inbox=" + encodeURIComponent(state.inbox) : "")), matchingIds()]);
  const shown = messages.filter((m) => ids ? ids.has(m.id) : localMatch(m));
  $("message-count").textContent = "(" + (state.query ? shown.length + "/" : "") + messages.length + ")";
  const current = state.view && state.view.kind === "message" ? state.view.id : null;
  $("messages").replaceChildren(...(shown.length ? shown.map((m) => el("li", {
      "class": "message" + (m.id === current ? " current" : "") + (m.read === false ? " unread" : ""), "data-id": m.id,
      onclick: () => { location.hash = "message=" + encodeURIComponent(m.id); } },
    el("div", {"class": "row"}, el("span", {"class": "who"}, m.from || "<> (bounce)"), el("span", {"class": "when"}, when(m.received))),
    el("div", {"class": "subject"}, m.subject || "(no subject)"),
    el("div", {"class": "meta"}, "to " + m.to.join(", ") + " \u00b7 " + size(m.size)),
    (m.tags || []).length ? el("div", {}, (m.tags || []).map((t) => el("span", {"class": "chip"}, t))) : null))
    : [el("li", {"class": "empty"}, state.query ? (state.searchError ? el("span", {"class": "error", "id": "search-error"}, state.searchError)
                                                                     : "No message matches.") : "No message yet.")]));
}

async function refreshSessions() {
  const sessions = await get("/api/sessions");
  $("session-count").textContent = "(" + sessions.length + ")";
  const current = state.view && state.view.kind === "session" ? state.view.id : null;
  $("sessions").replaceChildren(...(sessions.length ? sessions.map((s) => el("li", {
      "class": "session" + (s.id === current ? " current" : ""), "data-id": s.id,
      onclick: () => { location.hash = "session=" + encodeURIComponent(s.id); } },
    el("div", {"class": "row"},
       el("span", {"class": "who"}, el("span", {"class": "code " + replyClass(s.last_class), "title": s.last_class || ""},
                                       s.last_class === "dropped" ? "drop" : codeOf(s.last_reply)), " ", s.client),
       el("span", {"class": "when"}, (s.open ? "open \u00b7 " : "") + when(s.started))),
    el("div", {"class": "meta", "title": s.last_reply || ""}, s.last_reply || "(no reply yet)"),
    el("div", {"class": "meta"}, s.messages.length + " message(s) \u00b7 " + s.lines + " lines \u00b7 " + s.id),
    s.last_cause ? el("div", {"class": "cause"}, "\u2190 " + s.last_cause) : null))
    : [el("li", {"class": "empty"}, "No session yet.")]));
}

async function refreshInboxes() {
  let inboxes = [];
  try { inboxes = await get("/api/inboxes"); } catch (e) { $("inbox").hidden = true; return; }
  const pick = $("inbox");
  pick.replaceChildren(el("option", {"value": ""}, "All inboxes"),
    ...inboxes.map((i) => el("option", {"value": i.address, "selected": i.address === state.inbox},
                             i.address + " (" + i.messages + (i.unread ? ", " + i.unread + " unread" : "") + ")")));
  if (state.inbox && !inboxes.some((i) => i.address === state.inbox))
    pick.append(el("option", {"value": state.inbox, "selected": true}, state.inbox + " (0)"));
}

async function refresh() {
  await Promise.all([refreshMessages(), refreshSessions(), refreshInboxes()]);
  if (state.view && state.view.update) await state.view.update();
}

function showList(which) {
  state.list = which;
  $("tab-messages").classList.toggle("on", which === "messages");
  $("tab-sessions").classList.toggle("on", which === "sessions");
  $("messages").hidden = which !== "messages";
  $("sessions").hidden = which !== "sessions";
}
$("tab-messages").onclick = () => showList("messages");
$("tab-sessions").onclick = () => showList("sessions");

let searchTimer = null;
$("search").addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { state.query = $("search").value.trim(); refreshMessages(); }, 200);
});
$("inbox").addEventListener("change", () => { state.inbox = $("inbox").value; refreshMessages(); });
$("delete-all").onclick = async () => {
  if (!confirm("Delete every kept message?")) return;
  await fetch("/api/messages", {method: "DELETE"});
  refresh();
};

// ------------------------------------------------------------ a message

function tabBar(tabs, active, choose) {
  return el("div", {"class": "tabs", "role": "tablist"}, tabs.map(([key, label, enabled]) =>
    el("button", {"class": key === active ? "on" : "", "data-tab": key, "disabled": !enabled,
                  onclick: () => choose(key)}, label)));
}

function releaseRows(releases) {
  if (!releases.length) return el("p", {"class": "hint"}, "Not released yet.");
  return el("table", {"id": "releases"},
    el("tr", {}, ["Status", "To", "Server", "Attempts", "Last reply", "Next attempt"].map((h) => el("th", {}, h))),
    releases.map((r) => el("tr", {"data-id": r.id},
      el("td", {}, el("span", {"class": "code s-" + r.status}, r.status)),
      el("td", {}, r.to.join(", ")), el("td", {}, r.server || "routes / MX"), el("td", {}, r.attempts),
      el("td", {}, r.last_reply || "\u2014"), el("td", {}, r.next_attempt ? when(r.next_attempt) : "\u2014"))));
}

function releaseSummary(r) {
  return [el("span", {"class": "code s-" + r.status}, r.status),
          " to " + r.to.join(", ") + (r.last_reply ? " \u00b7 " + r.last_reply : "")];
}

function releasePane(m) {
  const to = el("input", {"name": "to", "placeholder": "someone@example.org, other@example.org", "required": true});
  const server = el("input", {"name": "server", "placeholder": "host:port (optional: routes, MX)"});
  const outcome = el("span", {"class": "hint"});
  const form = el("form", {"class": "release", onsubmit: async (e) => {
      e.preventDefault();
      const body = { to: to.value.split(/[\s,;]+/).filter(Boolean) };
      if (server.value.trim()) body.server = server.value.trim();
      const r = await fetch("/api/messages/" + encodeURIComponent(m.id) + "/release",
                            {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
      const answer = await r.json().catch(() => ({}));
      outcome.className = r.ok ? "hint" : "error";
      outcome.textContent = r.ok ? "Queued as release " + answer.id + "." : (answer.error || "refused: " + r.status);
      if (r.ok) await showMessage(m.id, "release");
    } },
    el("label", {}, "Release to", to), el("label", {}, "Server", server), el("button", {"type": "submit"}, "Release"), outcome);
  return el("div", {"class": "pane"}, form,
    el("p", {"class": "hint"}, "Through the queue: a 4xx is retried with backoff, a failure sends the sender a DSN (kept here)."),
    el("div", {"id": "release-status"}, releaseRows(m.releases || [])));
}

async function paneFor(m, tab) {
  switch (tab) {
    case "html": {
      const frame = el("iframe", {"sandbox": "", "id": "html", "title": "HTML body (sandboxed)"});
      frame.srcdoc = m.html;
      return frame;
    }
    case "source": return el("div", {"class": "pane"}, el("pre", {"id": "source"}, m.html));
    case "text": return el("div", {"class": "pane"}, el("pre", {"id": "text"}, m.text || "(no text part)"));
    case "headers": return el("div", {"class": "pane"}, el("table", {"id": "headers"},
                              m.headers.map((h) => el("tr", {}, el("td", {}, h.name), el("td", {}, h.value)))));
    case "raw": {
      const pre = el("pre", {"id": "raw"}, "loading\u2026");
      get("/api/messages/" + encodeURIComponent(m.id) + "/raw", "text").then((t) => { pre.textContent = t; },
                                                                              (e) => { pre.textContent = String(e); });
      return el("div", {"class": "pane"}, el("p", {}, el("a", {"href": "/api/messages/" + encodeURIComponent(m.id) + "/raw",
                                                                "download": m.id + ".eml"}, "Download .eml")), pre);
    }
    case "attachments": return el("div", {"class": "pane"}, el("table", {"id": "attachments"},
      el("tr", {}, ["Name", "Type", "Size", ""].map((h) => el("th", {}, h))),
      m.attachments.map((a) => {
        const href = a.part ? "/api/v1/message/" + encodeURIComponent(m.id) + "/part/" + encodeURIComponent(a.part) : null;
        return el("tr", {}, el("td", {}, a.filename || "(no name)"), el("td", {}, a.content_type), el("td", {}, size(a.size)),
                  el("td", {}, href ? el("a", {"href": href, "download": a.filename || "attachment"}, "Download") : ""));
      })));
    case "release": return releasePane(m);
  }
  return el("div");
}

async function showMessage(id, tab) {
  const m = await get("/api/messages/" + encodeURIComponent(id));
  if (m.read === false)  // opened: read, as in Mailpit
    fetch("/api/v1/messages", {method: "PUT", headers: {"Content-Type": "application/json"},
                               body: JSON.stringify({IDs: [id], Read: true})}).catch(() => {});
  const tabs = [["html", "HTML", !!m.html], ["source", "HTML source", !!m.html], ["text", "Text", true], ["headers", "Headers", true], ["raw", "Raw", true],
                ["attachments", "Attachments (" + m.attachments.length + ")", m.attachments.length > 0],
                ["release", "Release" + ((m.releases || []).length ? " (" + m.releases.length + ")" : ""), true]];
  const usable = (k) => tabs.some(([key, , on]) => key === k && on);
  tab = usable(tab) ? tab : usable(state.tab) && state.view && state.view.id === id ? state.tab : m.html ? "html" : "text";
  state.tab = tab;
  const latest = (m.releases || []).slice(-1)[0];
  const pane = el("div", {"id": "pane"}, await paneFor(m, tab));
  $("view").replaceChildren(el("article", {"class": "card", "id": "message", "data-id": m.id},
    el("h2", {"id": "subject"}, m.subject || "(no subject)"),
    el("dl", {"class": "fields"},
      el("dt", {}, "From"), el("dd", {"id": "from"}, m.from || "<> (null sender)"),
      el("dt", {}, "To"), el("dd", {"id": "to"}, m.to.join(", ")),
      el("dt", {}, "Received"), el("dd", {}, when(m.received) + " \u00b7 " + size(m.size)),
      m.session ? [el("dt", {}, "Session"), el("dd", {}, el("a", {"href": "#session=" + encodeURIComponent(m.session), "id": "to-session"}, m.session))] : null,
      (m.inboxes || []).length ? [el("dt", {}, "Inboxes"), el("dd", {}, m.inboxes.map((i) => el("span", {"class": "chip"}, i)))] : null,
      (m.tags || []).length ? [el("dt", {}, "Tags"), el("dd", {}, m.tags.map((t) => el("span", {"class": "chip"}, t)))] : null,
      latest ? [el("dt", {}, "Released"), el("dd", {"id": "release-summary"}, releaseSummary(latest))] : null),
    tabBar(tabs, tab, (k) => showMessage(id, k)), pane));
  let seen = JSON.stringify(m.releases || []);
  state.view = { kind: "message", id, update: async () => {
    // Live: only the release states change under an open message. The
    // release tab keeps what is being typed in its form; others redraw.
    const fresh = await get("/api/messages/" + encodeURIComponent(id)).catch(() => null);
    const now = fresh && JSON.stringify(fresh.releases || []);
    if (!fresh || now === seen) return;
    seen = now;
    const status = $("release-status"), summary = $("release-summary");
    if (state.tab === "release" && status && summary) {
      status.replaceChildren(releaseRows(fresh.releases));
      summary.replaceChildren(...releaseSummary(fresh.releases.slice(-1)[0]));
    } else {
      await showMessage(id, state.tab);
    }
  } };
  for (const li of document.querySelectorAll("#messages li")) li.classList.toggle("current", li.dataset.id === id);
}

// ------------------------------------------------------------ a session

async function showSession(id) {
  const s = await get("/api/sessions/" + encodeURIComponent(id));
  const rows = s.transcript.map((l) => el("tr", {"class": l.dir},
    el("td", {"class": "dir"}, l.dir === "c" ? "C:" : "S:"),
    el("td", {"class": "line" + (l.dir === "s" ? " r" + (/^\d/.test(l.line) ? l.line[0] : "0") : "")}, l.line),
    el("td", {"class": "decoded"}, l.decoded != null ? "\u21b3 " + l.decoded : ""),
    el("td", {"class": "explain"}, l.explain || ""),
    el("td", {"class": "scenario"}, l.scenario ? "\u2190 " + l.scenario : "")));
  $("view").replaceChildren(el("article", {"class": "card", "id": "session", "data-id": s.id},
    el("h2", {}, "Session " + s.id),
    el("dl", {"class": "fields"},
      el("dt", {}, "Client"), el("dd", {}, s.client),
      el("dt", {}, "Started"), el("dd", {}, when(s.started) + (s.open ? " (still open)" : " \u2013 " + when(s.ended))),
      el("dt", {}, "Ended with"), el("dd", {"id": "outcome"},
        el("span", {"class": "code " + replyClass(s.last_class)}, s.last_class === "dropped" ? "drop" : codeOf(s.last_reply)), " ",
        s.last_reply || "(no reply)", s.last_cause ? el("span", {"class": "cause"}, "  \u2190 " + s.last_cause) : null),
      s.messages.length ? [el("dt", {}, "Messages"), el("dd", {}, s.messages.map((q) =>
        [el("a", {"href": "#message=" + encodeURIComponent(q)}, q), " "]))] : null),
    el("div", {"class": "pane"}, el("table", {"id": "transcript"}, rows),
       s.dropped ? el("p", {"class": "hint"}, "The oldest part of this transcript was dropped to stay within the budget.") : null)));
  state.view = { kind: "session", id, update: () => showSession(id) };
  for (const li of document.querySelectorAll("#sessions li")) li.classList.toggle("current", li.dataset.id === id);
}

// "#message=ID" and "#session=ID" open that view on load and on change.
async function route() {
  const m = /^#(message|session)=([^&]+)/.exec(location.hash);
  if (!m) return;
  const id = decodeURIComponent(m[2]);
  showList(m[1] === "message" ? "messages" : "sessions");
  try {
    await (m[1] === "message" ? showMessage(id) : showSession(id));
  } catch (e) {
    state.view = null;
    $("view").replaceChildren(el("div", {"class": "welcome"}, el("h2", {}, "Not found"),
      el("p", {}, "No " + m[1] + " " + id + " here (deleted, or from another run).")));
  }
}
window.addEventListener("hashchange", route);
refresh().then(route);

let pending = null;
function soon() {  // many changes at once: one refresh
  if (pending) return;
  pending = setTimeout(() => { pending = null; refresh(); }, 100);
}
const events = new EventSource("/api/events");
events.addEventListener("change", soon);
// The stream reports changes from when it connects: catch up on what came in between.
events.addEventListener("open", () => { $("live").textContent = "live"; $("live").className = "on"; soon(); });
events.addEventListener("error", () => { $("live").textContent = "reconnecting"; $("live").className = ""; });
</script>
</body>
</html>
)HTML";

}  // namespace postern::testbed
