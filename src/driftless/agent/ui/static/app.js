// driftless agent UI: stacks, resources, history, actions and (in fleet mode) the
// fleet over the JSON API.
// No framework and no build step. Every text from the API is put in the page
// as text (textContent), never as HTML: messages and paths come from git.
// The token lives in sessionStorage and goes out in an Authorization header;
// fetch never sends cookies (credentials: "omit").
"use strict";
(() => {
  const KEY = "driftless.token";
  const POLL_MS = 2000;
  const $ = (id) => document.getElementById(id);
  let timer = 0;
  let gen = 0;              // the newest refresh; older ones drop their result
  let shown = "";           // JSON of what is on screen; redraw only when it changes
  const opened = new Set(); // history entries whose plan the user opened
  let fleetMode = null;     // null: not asked yet; true/false once /api/v1/fleet answered

  // -- DOM ---------------------------------------------------------------------

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : String(kid));
    }
    return el;
  }

  const short = (rev) => (rev ? String(rev).slice(0, 7) : "—");
  const enc = encodeURIComponent;

  function badge(text, kind) {
    return h("span", { class: `badge b-${String(kind || text).toLowerCase()}` }, text);
  }

  // as `driftless status` shows it: suspension, then a stall, then the sync state
  function syncLabel(s) {
    if (s.suspended) return "Suspended";
    const stalled = (s.conditions || []).some((c) => c.type === "Stalled" && c.status);
    return stalled ? "Stalled" : s.sync;
  }

  function ago(ts) {
    if (!ts) return "never";
    const s = Math.max(0, Date.now() / 1000 - ts);
    if (s < 5) return "just now";
    if (s < 60) return `${Math.floor(s)}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
    return `${Math.floor(s / 86400)}d ago`;
  }

  function when(ts) {
    const title = ts ? new Date(ts * 1000).toLocaleString() : "";
    return h("time", { "data-ts": ts || 0, title }, ago(ts));
  }

  function tickTimes() {
    for (const el of document.querySelectorAll("time[data-ts]")) {
      el.textContent = ago(Number(el.dataset.ts));
    }
  }

  // file:line[:col] in a message, shown as code so it stands out
  const LOC = /([\w.\-/]+\.[\w]+):(\d+)(?::(\d+))?/g;
  function withLocations(text) {
    const out = [];
    let last = 0;
    for (const m of String(text || "").matchAll(LOC)) {
      out.push(text.slice(last, m.index), h("code", { class: "loc" }, m[0]));
      last = m.index + m[0].length;
    }
    out.push(String(text || "").slice(last));
    return out;
  }

  // -- API ---------------------------------------------------------------------

  class HttpError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }

  async function api(path, method = "GET", body = undefined) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const resp = await fetch(path, {
      method, headers, cache: "no-store", credentials: "omit",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let doc = {};
    try { doc = await resp.json(); } catch (_) { doc = {}; }
    if (!resp.ok) {
      const hint = doc.hint ? ` (${doc.hint})` : "";
      throw new HttpError(resp.status, (doc.error || resp.statusText) + hint);
    }
    return doc;
  }

  function route() {
    const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean)
      .map(decodeURIComponent);
    if (parts[0] === "fleet") return { view: "fleet" };
    if (parts[0] === "stacks" && parts[1]) {
      return { view: parts[2] === "history" ? "history" : "stack", stack: parts[1] };
    }
    return { view: "list" };
  }

  // History and resources (the larger documents) are fetched again only when the
  // stack's status moved: the agent rewrites the status on every run it records.
  let cached = { key: "", data: null };

  async function load(r, force) {
    if (r.view === "list") return { stacks: (await api("/api/v1/stacks")).stacks };
    if (r.view === "fleet") return { fleet: await api("/api/v1/fleet") };
    const base = `/api/v1/stacks/${enc(r.stack)}`;
    const status = await api(base);
    const key = JSON.stringify([r, status]);
    if (!force && key === cached.key) return cached.data;
    const data = r.view === "history"
      ? { status, history: (await api(`${base}/history?limit=50`)).history }
      : { status, resources: (await api(`${base}/resources`)).resources };
    cached = { key, data };
    return data;
  }

  // -- token, flash, live --------------------------------------------------------

  function showToken(note) {
    $("token-note").textContent = note || "";
    $("token-form").hidden = false;
    $("token-input").focus();
  }

  function flash(text, bad = false) {
    const el = $("flash");
    el.textContent = text;
    el.className = bad ? "flash bad" : "flash";
    el.hidden = false;
    clearTimeout(flash.timer);
    flash.timer = setTimeout(() => { el.hidden = true; }, 6000);
  }

  function setLive(ok, why) {
    const el = $("live");
    el.className = ok ? "live ok" : "live bad";
    el.textContent = ok ? `live · ${new Date().toLocaleTimeString()}` : `not live: ${why}`;
  }

  async function act(stack, action, body = {}) {
    try {
      const doc = await api(`/api/v1/stacks/${enc(stack)}/${action}`, "POST", body);
      const pin = doc.pinned ? `; pinned to ${short(doc.pinned)}` : "";
      flash(`${action} requested for ${stack}${pin}`);
    } catch (e) {
      if (e.status === 401) showToken(`${action} needs the admin token.`);
      else flash(`${action} failed: ${e.message}`, true);
    }
    refresh(true);
  }

  function confirmRollback(stack, rev) {
    const target = rev ? `revision ${short(rev)}` : "the previous healthy revision";
    if (window.confirm(`Roll back ${stack} to ${target} and pin it there?`)) {
      act(stack, "rollback", rev ? { to: rev } : {});
    }
  }

  // -- views -------------------------------------------------------------------

  function stacksView(stacks) {
    if (!stacks.length) {
      return h("section", { class: "card empty" }, "The agent has no stacks yet.");
    }
    const rows = stacks.map((s) => h("tr", { "data-stack": s.stack },
      h("td", { class: "name", "data-label": "Stack" },
        h("a", { href: `#/stacks/${enc(s.stack)}` }, s.stack)),
      h("td", { "data-label": "Sync" }, badge(syncLabel(s)),
        s.pinned ? badge(`pinned to ${short(s.pinned)}`, "pinned") : null),
      h("td", { "data-label": "Health" }, badge(s.health)),
      h("td", { class: "rev", "data-label": "Revision", title: s.revision || "" },
        h("code", {}, short(s.revision))),
      h("td", { "data-label": "Last apply" }, when(s.last_apply)),
      h("td", { class: "msg", "data-label": "Message" }, withLocations(s.message))));
    return h("section", { class: "card" },
      h("h1", {}, "Stacks"),
      h("table", { class: "stacks" },
        h("thead", {}, h("tr", {}, ["Stack", "Sync", "Health", "Revision", "Last apply",
          "Message"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)));
  }

  function readyText(s, ready) {
    if (ready) return `${ready.status} (${ready.reason})`;
    const stalled = (s.conditions || []).find((c) => c.type === "Stalled" && c.status);
    return stalled ? `false (Stalled: ${stalled.reason})` : "unknown";
  }

  function stackHead(s, tab) {
    const ready = (s.conditions || []).find((c) => c.type === "Ready");
    const actions = h("div", { class: "actions" },
      h("button", { type: "button", "data-action": "reconcile",
        onclick: () => act(s.stack, "reconcile") }, "Reconcile"),
      s.suspended
        ? h("button", { type: "button", "data-action": "resume",
          onclick: () => act(s.stack, "resume") }, "Resume")
        : h("button", { type: "button", "data-action": "suspend",
          onclick: () => act(s.stack, "suspend") }, "Suspend"),
      h("button", { type: "button", "data-action": "rollback",
        onclick: () => confirmRollback(s.stack, null) }, "Roll back"),
      s.pinned ? h("button", { type: "button", "data-action": "unpin",
        onclick: () => act(s.stack, "unpin") }, "Unpin") : null);
    const tabLink = (name, label, href) => h("a", {
      href, class: tab === name ? "tab on" : "tab" }, label);
    return [
      h("nav", { class: "crumbs" }, h("a", { href: "#/" }, "Stacks"), " / ", s.stack),
      h("section", { class: "card head" },
        h("div", { class: "title" }, h("h1", {}, s.stack),
          badge(syncLabel(s)), badge(s.health),
          s.pinned ? h("span", { class: "badge b-pinned", id: "pin" },
            `pinned to ${short(s.pinned)}`) : null),
        h("dl", { class: "facts" },
          h("dt", {}, "Revision"), h("dd", { id: "revision", title: s.revision || "" },
            h("code", {}, short(s.revision))),
          s.attempted && s.attempted !== s.revision
            ? [h("dt", {}, "Attempted"), h("dd", {}, h("code", {}, short(s.attempted)))] : null,
          h("dt", {}, "Last apply"), h("dd", {}, when(s.last_apply)),
          h("dt", {}, "Ready"), h("dd", {}, readyText(s, ready)),
          h("dt", {}, "Source"), h("dd", {}, s.source || "—")),
        actions,
        h("nav", { class: "tabs" },
          tabLink("stack", "Overview", `#/stacks/${enc(s.stack)}`),
          tabLink("history", "History", `#/stacks/${enc(s.stack)}/history`))),
    ];
  }

  function problem(s) {
    const bad = (s.conditions || []).find((c) =>
      (c.type === "Ready" && !c.status) || (c.type === "Stalled" && c.status));
    if (!bad) return null;
    return h("section", { class: "card error", id: "last-error" },
      h("h2", {}, `Last error: ${bad.reason}`),
      h("p", { class: "msg" }, withLocations(bad.message || s.message)),
      h("p", { class: "meta" }, "since ", when(bad.since)));
  }

  function conditions(s) {
    const rows = (s.conditions || []).map((c) => h("tr", {},
      h("td", { "data-label": "Type" }, c.type),
      // green when the condition is good news: Ready true, Stalled or Reconciling false
      h("td", { "data-label": "Status" },
        badge(String(c.status), (c.type === "Ready" ? c.status : !c.status) ? "true" : "false")),
      h("td", { "data-label": "Reason" }, c.reason),
      h("td", { class: "msg", "data-label": "Message" }, withLocations(c.message)),
      h("td", { "data-label": "Since" }, when(c.since))));
    return h("section", { class: "card" }, h("h2", {}, "Conditions"),
      rows.length ? h("table", { class: "conds" }, h("tbody", {}, rows))
        : h("p", { class: "meta" }, "none recorded yet"),
      s.message && !(s.conditions || []).some((c) => c.message === s.message)
        ? h("p", { class: "msg", id: "message" }, withLocations(s.message)) : null);
  }

  function tree(resources) {
    if (!resources.length) {
      return h("section", { class: "card" }, h("h2", {}, "Resources"),
        h("p", { class: "meta" }, "No resources recorded yet (they appear after a health check)."));
    }
    const byAddr = new Map(resources.map((r) => [r.address, r]));
    const kids = new Map();
    const roots = [];
    for (const r of resources) {
      const parent = (r.depends_on || []).find((d) => byAddr.has(d) && d !== r.address);
      if (parent) (kids.get(parent) || kids.set(parent, []).get(parent)).push(r);
      else roots.push(r);
    }
    const seen = new Set();
    const node = (r) => {
      seen.add(r.address);
      const others = (r.depends_on || []).slice(1).filter((d) => byAddr.has(d));
      const children = (kids.get(r.address) || []).filter((c) => !seen.has(c.address));
      return h("li", { "data-address": r.address },
        h("div", { class: "res" },
          badge(r.health),
          h("span", { class: "addr" }, r.address),
          r.action && r.action !== "no-op"
            ? h("span", { class: "act", title: "the change the last run made" }, `last run: ${r.action}`)
            : null,
          r.source ? h("code", { class: "loc" }, r.source) : null),
        r.message ? h("div", { class: "res-msg" }, withLocations(r.message)) : null,
        others.length ? h("div", { class: "res-msg" }, `also after ${others.join(", ")}`) : null,
        children.length ? h("ul", {}, children.map(node)) : null);
    };
    const counts = {};
    for (const r of resources) counts[r.health] = (counts[r.health] || 0) + 1;
    return h("section", { class: "card" },
      h("h2", {}, `Resources (${resources.length})`,
        h("span", { class: "counts" }, Object.entries(counts).map(([k, n]) => badge(`${n} ${k}`, k)))),
      h("ul", { class: "tree" }, roots.map(node)));
  }

  // -- fleet ---------------------------------------------------------------------

  // does the agent run in fleet mode? (404 from /api/v1/fleet: no; asked again on 401)
  async function probeFleet() {
    if (fleetMode !== null) return;
    try {
      await api("/api/v1/fleet");
      fleetMode = true;
    } catch (e) {
      if (e.status === 404) fleetMode = false;
    }
    $("fleet-link").hidden = !fleetMode;
  }

  const PHASES = [["pending", "pending"], ["in_progress", "in progress"], ["healthy", "healthy"],
    ["failed", "failed"], ["halted", "halted"], ["lost", "lost"]];

  function tagText(tags) {
    const parts = Object.entries(tags || {}).map(([k, v]) => `${k}=${v}`);
    return parts.length ? parts.join(", ") : "—";
  }

  function rolloutView(r, me) {
    const counts = h("div", { class: "phases" }, PHASES.map(([key, label]) =>
      h("div", { class: `phase p-${key}`, "data-phase": key },
        h("span", { class: "n" }, String((r.counts || {})[key] || 0)),
        h("span", { class: "l" }, label))));
    const holders = r.holders.length
      ? h("table", { class: "holders" },
        h("thead", {}, h("tr", {}, ["Slot", "Holder", "Token"].map((t) => h("th", {}, t)))),
        h("tbody", {}, r.holders.map((s) => h("tr", { "data-holder": s.node },
          h("td", { "data-label": "Slot" }, String(s.slot)),
          h("td", { "data-label": "Holder" }, s.node,
            s.node === me ? badge("this node", "current") : null),
          h("td", { "data-label": "Token" }, h("code", {}, String(s.token)))))))
      : h("p", { class: "meta" }, "no slot in use");
    const halt = r.halted
      ? h("div", { class: "card error halt" },
        h("h2", {}, "Halted"),
        h("p", { class: "msg" }, r.halted.reason, " (by ", r.halted.by, ")"),
        h("p", { class: "meta" }, "No node starts this revision until ",
          h("code", {}, `driftless fleet resume ${r.rollout}`),
          " clears the halt (run it where the fleet store is reachable: --store or DRIFTLESS_FLEET)."))
      : null;
    return h("section", { class: "card rollout", "data-rollout": r.rollout },
      h("h2", {}, h("code", { class: "addr" }, r.rollout),
        r.halted ? badge("halted", "failed") : null),
      h("p", { class: "meta" }, `stack ${r.stack} · slots in use ${r.holders.length} of ${r.slots}`
        + (r.canary.length ? ` · canary ${r.canary.join(", ")}` : "")),
      counts, holders, halt);
  }

  function fleetView(f) {
    const me = f.node.name;
    const mine = Object.entries(f.slots || {});
    const members = new Map((f.members || []).map((m) => [m.node, m]));
    const peers = (f.peers || []).map((p) => h("tr", { "data-peer": p.name },
      h("td", { class: "name", "data-label": "Peer" }, p.name,
        p.self ? badge("this node", "current") : null),
      h("td", { "data-label": "Address" }, p.address || "—"),
      h("td", { "data-label": "Revision", title: p.revision || "" },
        h("code", {}, short(p.revision || (members.get(p.name) || {}).revision))),
      h("td", { "data-label": "Tags", class: "msg" }, tagText(p.tags)),
      h("td", { "data-label": "Source" }, p.source || "—")));
    return [
      h("section", { class: "card head", id: "fleet-node" },
        h("div", { class: "title" }, h("h1", {}, "Fleet"), badge(me, "current")),
        h("dl", { class: "facts" },
          h("dt", {}, "Address"), h("dd", {}, f.node.address || "—"),
          h("dt", {}, "Tags"), h("dd", { class: "msg" }, tagText(f.node.tags)),
          h("dt", {}, "Members"), h("dd", {}, String((f.members || []).length)),
          h("dt", {}, "Slots held"), h("dd", { id: "my-slots" }, mine.length
            ? mine.map(([stack, s]) => h("div", {}, `slot ${s.slot} of `,
              h("code", { class: "addr" }, s.rollout), ` (${stack}, token ${s.token})`))
            : "none")),
        f.store_error ? h("p", { class: "res-msg bad" }, `fleet store: ${f.store_error}`) : null),
      (f.rollouts || []).length ? f.rollouts.map((r) => rolloutView(r, me))
        : h("section", { class: "card empty" }, "No rollout seen by this node yet."),
      h("section", { class: "card" }, h("h2", {}, `Peers (${peers.length})`),
        peers.length ? h("table", { class: "peers" },
          h("thead", {}, h("tr", {}, ["Peer", "Address", "Revision", "Tags", "Source"]
            .map((t) => h("th", {}, t)))), h("tbody", {}, peers))
          : h("p", { class: "meta" }, "No peer table yet (it is resolved at each render).")),
    ];
  }

  // -- history -------------------------------------------------------------------

  const SYMBOL = { create: "+", update: "~", replace: "-/+", delete: "-", read: "<=" };

  function fmt(v) {
    return typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v, null, 0);
  }

  function lineDiff(a, b) {
    const x = a.replace(/\n$/, "").split("\n");  // a final newline is not a line
    const y = b.replace(/\n$/, "").split("\n");
    if (x.length * y.length > 250000) {
      return [...x.map((l) => ["-", l]), ...y.map((l) => ["+", l])];
    }
    const n = x.length;
    const m = y.length;
    const lcs = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i][j] = x[i] === y[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
      }
    }
    const out = [];
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && x[i] === y[j]) { out.push([" ", x[i]]); i++; j++; }
      else if (i < n && (j === m || lcs[i + 1][j] >= lcs[i][j + 1])) { out.push(["-", x[i]]); i++; }
      else { out.push(["+", y[j]]); j++; }
    }
    return out;
  }

  function fieldDiff(d) {
    const multi = typeof d.before === "string" && typeof d.after === "string"
      && (d.before.includes("\n") || d.after.includes("\n"));
    const head = h("div", { class: "field" }, h("span", { class: "path" }, d.path),
      d.forces_replace ? h("span", { class: "act" }, "forces replacement") : null);
    if (!multi) {
      return h("div", {}, head, h("div", { class: "pair" },
        h("span", { class: "old" }, d.before === null || d.before === undefined ? "(none)" : fmt(d.before)),
        " → ",
        h("span", { class: "new" }, d.after === null || d.after === undefined ? "(none)" : fmt(d.after))));
    }
    const lines = lineDiff(d.before, d.after).map(([op, text]) =>
      h("span", { class: op === "+" ? "new" : op === "-" ? "old" : "same" }, `${op} ${text}`));
    return h("div", {}, head, h("pre", { class: "diff" }, lines));
  }

  function changeView(c) {
    return h("li", { class: "change" },
      h("div", {}, h("code", { class: `sym s-${c.action}` }, SYMBOL[c.action] || "!"), " ",
        h("span", { class: "addr" }, c.address), " ",
        h("span", { class: "act" }, c.refused ? `${c.action} refused` : c.action),
        c.reason ? h("span", { class: "why" }, ` why: ${c.reason}`) : null),
      (c.diffs || []).map(fieldDiff));
  }

  const DONE = { create: "created", update: "updated", replace: "replaced", delete: "deleted",
    read: "read", drift: "drifted", refused: "refused" };

  function summaryText(summary) {
    const parts = Object.entries(summary || {}).filter(([, n]) => n)
      .map(([k, n]) => `${n} ${DONE[k] || k}`);
    return parts.join(", ") || "no changes";
  }

  function entryView(s, e, offerRollback) {
    const key = `${e.started}`;
    const failed = (e.results || []).filter((r) => r.outcome === "failed");
    const changes = e.changes || [];
    const details = h("details", { "data-key": key }, h("summary", {},
      `Plan: ${changes.length} change${changes.length === 1 ? "" : "s"}`),
    changes.length ? h("ul", { class: "changes" }, changes.map(changeView))
      : h("p", { class: "meta" }, "nothing to change"));
    details.open = opened.has(key);
    details.addEventListener("toggle", () => {
      if (details.open) opened.add(key); else opened.delete(key);
    });
    const current = e.revision && e.revision === s.revision;
    return h("li", { class: `entry o-${e.outcome || "none"}`, "data-revision": e.revision || "" },
      h("div", { class: "when" }, when(e.started)),
      h("div", { class: "body" },
        h("div", { class: "line" },
          badge(e.trigger || "?", "trigger"), badge(e.outcome || "?"),
          h("code", { title: e.revision || "" }, short(e.revision)),
          current ? h("span", { class: "badge b-current" }, "current") : null,
          h("span", { class: "meta" }, `${summaryText(e.summary)} · ${Number(e.duration).toFixed(2)}s`
            + (e.actor ? ` · by ${e.actor}` : ""))),
        h("p", { class: "reason" },
          withLocations(e.reason || `${e.trigger || "a"} run: ${summaryText(e.summary)}`)),
        failed.map((r) => h("p", { class: "res-msg bad" }, `${r.address}: `, withLocations(r.message))),
        changes.length ? details : null,
        offerRollback && !current
          ? h("button", { type: "button", class: "quiet small", "data-action": "rollback-to",
            onclick: () => confirmRollback(s.stack, e.revision) },
          `Roll back to ${short(e.revision)}`) : null));
  }

  function historyView(s, history) {
    // one "roll back to" per revision (on its newest entry that applied cleanly)
    const offered = new Set();
    const offer = (e) => {
      const ok = e.revision && !offered.has(e.revision)
        && e.outcome !== "stalled" && e.outcome !== "error";
      if (ok) offered.add(e.revision);
      return ok;
    };
    return h("section", { class: "card" }, h("h2", {}, `History (${history.length})`),
      history.length ? h("ol", { class: "timeline" }, history.map((e) => entryView(s, e, offer(e))))
        : h("p", { class: "meta" }, "No reconcile recorded yet."));
  }

  function render(r, data) {
    const main = $("main");
    let view;
    if (r.view === "list") view = stacksView(data.stacks);
    else if (r.view === "fleet") view = fleetView(data.fleet);
    else if (r.view === "history") view = [stackHead(data.status, "history"), historyView(data.status, data.history)];
    else {
      view = [stackHead(data.status, "stack"), problem(data.status), conditions(data.status),
        tree(data.resources)];
    }
    main.replaceChildren(...[view].flat(Infinity).filter(Boolean));
    document.title = r.view === "list" ? "driftless · stacks"
      : r.view === "fleet" ? "driftless · fleet" : `driftless · ${r.stack}`;
  }

  // -- polling -------------------------------------------------------------------

  async function refresh(force = false) {
    clearTimeout(timer);
    const mine = ++gen;
    if (force) shown = "";
    const r = route();
    try {
      if (!document.hidden || force) {
        await probeFleet();
        const data = await load(r, force);
        if (mine !== gen) return;
        const now = JSON.stringify([r, data]);
        if (now !== shown) { shown = now; render(r, data); }
        setLive(true);
      }
    } catch (e) {
      if (mine !== gen) return;
      if (e.status === 401) {
        shown = "";
        setLive(false, "no valid token");
        showToken("The agent needs a token to show its stacks: paste the read token (or the admin token).");
        $("main").replaceChildren(h("section", { class: "card empty", id: "need-token" },
          "401: this agent needs a token. Paste it above."));
      } else if (e.status === 404) {
        shown = "";
        $("main").replaceChildren(h("section", { class: "card empty" }, e.message, " · ",
          h("a", { href: "#/" }, "all stacks")));
      } else {
        setLive(false, e.message || "agent unreachable");
      }
    }
    tickTimes();
    timer = setTimeout(refresh, POLL_MS);
  }

  function start() {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const value = $("token-input").value.trim();
      if (value) sessionStorage.setItem(KEY, value);
      $("token-input").value = "";
      $("token-form").hidden = true;
      refresh(true);
    });
    $("token-forget").addEventListener("click", () => {
      sessionStorage.removeItem(KEY);
      $("token-form").hidden = true;
      refresh(true);
    });
    $("token-button").addEventListener("click", () => {
      const form = $("token-form");
      if (form.hidden) showToken(sessionStorage.getItem(KEY) ? "A token is set for this tab." : "");
      else form.hidden = true;
    });
    window.addEventListener("hashchange", () => refresh(true));
    document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(true); });
    refresh(true);
  }

  start();
})();
