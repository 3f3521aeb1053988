// Operator console: live updates by polling small JSON endpoints, canned-reply insertion.
// All text is put in with textContent, never innerHTML: shopper messages are untrusted. The
// one exception is a chat message's list item, which the server drew and escaped (see below).
"use strict";

(function () {
  const POLL_MS = 3000;
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function getJSON(url) {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (response.status === 401) { window.location.reload(); return null; }
    if (!response.ok) return null;
    return response.json();
  }

  function poll(fn) {
    let busy = false;
    const tick = async () => {
      if (busy || document.hidden) return;
      busy = true;
      try { await fn(); } catch (err) { /* keep polling; the network may come back */ }
      busy = false;
    };
    setInterval(tick, POLL_MS);
  }

  // -- queue -------------------------------------------------------------------------------
  function queueRow(row, tab) {
    const tr = el("tr", "prio-" + row.priority);
    tr.dataset.ticket = row.id;
    const who = el("td");
    const link = el("a", null, row.shopper);
    link.href = row.url;
    who.append(link);
    if (row.member_id) who.append(el("div", "muted small", "会員 " + row.member_id));
    const reason = el("td");
    reason.append(el("span", "reason reason-" + row.reason, row.reason_label));
    const prio = el("td");
    prio.append(el("span", "prio", row.priority_label));
    const state = el("td", null, row.state_label);
    if (row.operator) state.append(el("div", "muted small", row.operator));
    const when = el("td");
    if (tab === "resolved") {
      when.textContent = row.resolved_at;
      when.append(el("div", "muted small", row.resolution + (row.score ? "・満足度 " + row.score : "")));
    } else {
      when.textContent = row.wait;
    }
    const preview = el("td", "preview", row.last_message);
    const actions = el("td", "actions");
    if (row.state === "waiting") {
      const form = el("form");
      form.method = "post";
      form.action = row.url + "/claim";
      const token = el("input");
      token.type = "hidden"; token.name = "csrf_token"; token.value = csrf();
      const button = el("button", "primary small", "担当する");
      button.type = "submit";
      form.append(token, button);
      actions.append(form);
    } else {
      const open = el("a", "button small", "開く");
      open.href = row.url;
      actions.append(open);
    }
    tr.append(who, reason, prio, state, when, preview, actions);
    return tr;
  }

  function setupQueue(table) {
    // On the resolved tab the poll URL carries the search and page (q, older, newer), so the
    // refresh shows the same page: a newly resolved match appears on the first page only.
    const tab = table.dataset.tab;
    const body = table.querySelector("tbody");
    poll(async () => {
      const data = await getJSON(table.dataset.poll);
      if (!data) return;
      const known = new Set(Array.from(body.querySelectorAll("tr[data-ticket]"), (tr) => tr.dataset.ticket));
      const rows = data.rows.map((row) => {
        const tr = queueRow(row, tab);
        if (!known.has(String(row.id))) tr.classList.add("fresh");
        return tr;
      });
      if (rows.length === 0) {
        const empty = el("tr", "empty");
        const cell = el("td", null, data.empty);
        cell.colSpan = 7;
        empty.append(cell);
        rows.push(empty);
      }
      body.replaceChildren(...rows);
      for (const [key, count] of Object.entries(data.counts)) {
        const badge = document.querySelector('[data-count="' + key + '"]');
        if (badge) badge.textContent = count;
      }
      for (const [key, stats] of [["all", data.csat], ["mine", data.csat_mine]]) {
        const avg = document.querySelector('[data-csat="' + key + '"]');
        const cnt = document.querySelector('[data-csat-count="' + key + '"]');
        if (avg) avg.textContent = stats.average;
        if (cnt) cnt.textContent = stats.count;
      }
      const waiting = data.counts.waiting;
      document.title = (waiting ? "(" + waiting + ") " : "") + document.title.replace(/^\(\d+\) /, "");
    });
  }

  // -- chat --------------------------------------------------------------------------------
  // A new message arrives as the list item the page itself draws (`item`): escaped by the
  // server's template, the bot's Flex messages drawn by its one renderer. That markup is the
  // only thing put in as HTML, and the CSP would refuse any inline script or style in it.
  function addValueClasses(names) {
    // The value classes (colours, sizes) of rendered messages come from one stylesheet link
    // whose query names them all; add the new ones.
    const link = document.getElementById("flex-values");
    if (!link || !names || !names.length) return;
    const known = new Set((link.dataset.values || "").split(".").filter(Boolean));
    const before = known.size;
    for (const name of names) known.add(name);
    if (known.size === before) return;
    const joined = Array.from(known).sort().join(".");
    link.dataset.values = joined;
    link.href = link.href.split("?")[0] + "?c=" + encodeURIComponent(joined);
  }

  function setupChat(chat) {
    const list = document.getElementById("messages");
    const banner = document.getElementById("state-banner");
    const scrollDown = () => { list.scrollTop = list.scrollHeight; };
    scrollDown();
    poll(async () => {
      const url = chat.dataset.poll + "?after=" + encodeURIComponent(chat.dataset.last || "0");
      const data = await getJSON(url);
      if (!data) return;
      const nearBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
      for (const m of data.messages) {
        if (list.querySelector('[data-id="' + m.id + '"]')) continue;
        addValueClasses(m.values);
        list.insertAdjacentHTML("beforeend", m.item);
        chat.dataset.last = m.id;
      }
      if (data.messages.length && nearBottom) scrollDown();
      const operator = data.ticket.operator_id === null ? "" : String(data.ticket.operator_id);
      if (data.ticket.state !== chat.dataset.state || operator !== chat.dataset.operator) {
        banner.classList.remove("hidden");
      }
    });
  }

  function setupCanned() {
    const select = document.getElementById("canned");
    const box = document.getElementById("reply-text");
    if (!select || !box) return;
    select.addEventListener("change", () => {
      const option = select.selectedOptions[0];
      if (!option || !option.dataset.body) return;
      const start = box.selectionStart ?? box.value.length;
      const end = box.selectionEnd ?? box.value.length;
      box.value = box.value.slice(0, start) + option.dataset.body + box.value.slice(end);
      box.focus();
      select.value = "";
    });
  }

  function setupSubmitOnce() {
    // A second click while the first send is on its way would only be deduplicated by LINE.
    // GET forms (the search) change nothing and stay usable after the back button.
    for (const form of document.querySelectorAll('form[method="post"]')) {
      form.addEventListener("submit", () => {
        for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = true;
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const table = document.getElementById("queue");
    if (table) setupQueue(table);
    const chat = document.getElementById("chat");
    if (chat) setupChat(chat);
    setupCanned();
    setupSubmitOnce();
  });
})();
