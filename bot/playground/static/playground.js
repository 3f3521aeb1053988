// The playground page: polls the playground's JSON endpoints and posts the buttons' actions.
// Rendered messages come from the server already escaped; this script only places them.
"use strict";

(function () {
  const base = document.body.dataset.base.replace(/\/$/, "");
  const $ = (id) => document.getElementById(id);
  const state = { user: sessionStorage.getItem("pg-user") || "", chatCount: -1, chatHtml: "" };

  function log(text, bad) {
    const item = document.createElement("li");
    item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
    if (bad) item.className = "bad";
    $("log").prepend(item);
  }

  async function api(path, body) {
    const options = body === undefined ? {} : {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    };
    const response = await fetch(base + path, options);
    let data = {};
    try { data = await response.json(); } catch (_e) { data = {}; }
    if (!response.ok) {
      const reason = data.error || (data.body && data.body.error && data.body.error.message) || response.statusText;
      throw new Error(`${response.status} ${reason}`);
    }
    return data;
  }

  async function act(label, path, body) {
    try {
      const data = await api(path, body);
      log(`${label}: OK${data.status ? ` (${data.status})` : ""}`);
      refreshSoon();
      return data;
    } catch (error) {
      log(`${label}: ${error.message}`, true);
      return null;
    }
  }

  function needUser() {
    if (!state.user) { log("お客さまを選んでください", true); return false; }
    return true;
  }

  // -- rendering ------------------------------------------------------------------------

  function cell(row, text, className) {
    const td = document.createElement("td");
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function showShoppers(shoppers) {
    const select = $("shopper");
    const wanted = shoppers.map((s) => s.userId).join(",");
    if (select.dataset.ids !== wanted) {
      select.dataset.ids = wanted;
      select.replaceChildren(new Option("(選んでください)", ""));
      for (const s of shoppers) select.appendChild(new Option(`${s.displayName} (${s.userId.slice(0, 9)}…)`, s.userId));
    }
    select.value = state.user;
  }

  function showCatalogue(items) {
    const body = $("catalogue");
    const key = JSON.stringify(items);
    if (body.dataset.key === key) return;
    body.dataset.key = key;
    body.replaceChildren();
    for (const item of items) {
      const row = document.createElement("tr");
      row.dataset.sku = item.sku;
      const picture = document.createElement("td");
      const img = document.createElement("img");
      img.src = `${base}/static/items/${item.picture}`;
      img.alt = "";
      picture.appendChild(img);
      row.appendChild(picture);
      cell(row, item.name);
      cell(row, `¥${item.price.toLocaleString("ja-JP")}`);
      cell(row, `在庫 ${item.stock}`);
      const actions = document.createElement("td");
      const add = button("かごに入れる", () => needUser() && act(`${item.name} をかごへ`, "/api/shop/cart", { userId: state.user, sku: item.sku }));
      add.className = "add";
      const stock = document.createElement("input");
      stock.type = "number"; stock.min = "0"; stock.max = "9999"; stock.value = String(item.stock);
      stock.setAttribute("aria-label", `${item.name} の在庫`);
      const change = button("在庫変更", () => act("在庫変更", "/api/shop/stock", { sku: item.sku, stock: Number(stock.value) }));
      const restock = button("再入荷", () => act("再入荷", "/api/shop/restock", { sku: item.sku }));
      actions.append(add, " ", stock, change, " ", restock);
      row.appendChild(actions);
      body.appendChild(row);
    }
  }

  function button(label, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  function showShop(data) {
    $("member").textContent = data.member ? `会員 ${data.member} と連携済み` : "未連携";
    const cart = $("cart");
    cart.replaceChildren();
    const names = Object.fromEntries(data.catalogue.map((i) => [i.sku, i.name]));
    const lines = Object.entries((data.cart && data.cart.items) || {});
    if (!lines.length) { const li = document.createElement("li"); li.textContent = "(空)"; cart.appendChild(li); }
    for (const [sku, quantity] of lines) {
      const li = document.createElement("li");
      li.textContent = `${names[sku] || sku} × ${quantity}`;
      cart.appendChild(li);
    }
    const stages = { placed: "注文済み", shipped: "発送済み", delivered: "配達完了" };
    $("order-state").textContent = data.order ? `最後の注文 ${data.order.id}: ${stages[data.order.stage] || data.order.stage}` : "";
    const timeline = $("timeline");
    timeline.replaceChildren();
    for (const row of data.timeline || []) {
      const tr = document.createElement("tr");
      tr.dataset.step = row.step;
      tr.dataset.state = row.state;
      cell(tr, new Date(row.due_at).toLocaleString("ja-JP", { timeZone: "Asia/Tokyo" }));
      cell(tr, `${row.scenario} / ${row.step}`);
      cell(tr, row.state, `state-${row.state}`);
      cell(tr, row.reason || "");
      timeline.appendChild(tr);
    }
  }

  async function refreshState() {
    try {
      const query = state.user ? `?user=${encodeURIComponent(state.user)}` : "";
      const data = await api(`/api/state${query}`);
      showShoppers(data.shoppers);
      $("now").textContent = data.now.replace("T", " ");
      const days = data.offsetSeconds / 86400;
      $("offset").textContent = data.offsetSeconds ? `(+${days >= 1 ? `${days.toFixed(1)}日` : `${Math.round(data.offsetSeconds / 60)}分`} 先)` : "";
      for (const b of $("travel").querySelectorAll("button")) b.disabled = !data.timeTravel;
      for (const box of document.querySelectorAll("[data-fault]")) box.checked = !!data.faults[box.dataset.fault];
      showCatalogue(data.catalogue);
      if (state.user) showShop(data);
    } catch (error) {
      log(`状態の取得: ${error.message}`, true);
    }
  }

  async function refreshChat() {
    if (!state.user) { $("chat").replaceChildren(); $("quick").replaceChildren(); return; }
    try {
      const data = await api(`/api/chat?user=${encodeURIComponent(state.user)}`);
      if (data.html === state.chatHtml) return;
      state.chatHtml = data.html;
      $("flex-values").href = `${base}/flex-values.css?c=${encodeURIComponent(data.values)}`;
      $("chat").innerHTML = data.html; // rendered and escaped by the server
      $("quick").innerHTML = data.quick;
      const screen = document.querySelector(".screen");
      screen.scrollTop = screen.scrollHeight;
    } catch (error) {
      log(`トークの取得: ${error.message}`, true);
    }
  }

  let timer = null;
  function refreshSoon() {
    clearTimeout(timer);
    timer = setTimeout(() => { refreshChat(); refreshState(); }, 250);
  }

  // -- actions in the chat: postback, message and URI actions of rendered messages --------

  async function onAction(control) {
    const kind = control.dataset.action;
    if (kind === "postback") {
      await act("postback", "/api/line/postback", { userId: state.user, data: control.dataset.data, displayText: control.dataset.displayText || "" });
    } else if (kind === "message") {
      await act("メッセージ", "/api/line/text", { userId: state.user, text: control.dataset.text });
    } else if (kind === "uri") {
      const where = $("where");
      where.hidden = false;
      where.textContent = `リンク先: ${control.dataset.uri}`;
      if (control.dataset.blocked) { where.textContent += " (開けないリンクです)"; return; }
      try {
        const data = await api(`/api/where?url=${encodeURIComponent(control.dataset.uri)}`);
        if (data.target) where.textContent += `\n→ 転送先: ${data.target}`;
      } catch (error) {
        where.textContent += ` (${error.message})`;
      }
    } else {
      log(`${kind} アクションはプレイグラウンドでは動きません`, true);
    }
  }

  document.addEventListener("click", (event) => {
    const control = event.target.closest(".fx-action");
    if (!control || !needUser()) return;
    event.preventDefault(); // links show where they lead instead of opening
    onAction(control);
  });

  // -- wiring ---------------------------------------------------------------------------

  $("shopper").addEventListener("change", (event) => {
    state.user = event.target.value;
    sessionStorage.setItem("pg-user", state.user);
    state.chatHtml = "";
    $("where").hidden = true;
    refreshSoon();
  });
  $("create-shopper").addEventListener("click", async () => {
    const body = { displayName: $("new-name").value.trim() };
    if ($("new-id").value.trim()) body.userId = $("new-id").value.trim();
    const data = await act("お客さまを追加", "/api/shoppers", body);
    if (data) {
      state.user = data.profile.userId;
      sessionStorage.setItem("pg-user", state.user);
      $("new-shopper").open = false;
      refreshSoon();
    }
  });
  $("follow").addEventListener("click", () => needUser() && act("友だち追加", "/api/line/follow", { userId: state.user }));
  $("unfollow").addEventListener("click", () => needUser() && act("ブロック", "/api/line/unfollow", { userId: state.user }));
  const send = async () => {
    const text = $("text").value;
    if (!text.trim() || !needUser()) return;
    if (await act("送信", "/api/line/text", { userId: state.user, text })) $("text").value = "";
  };
  $("send").addEventListener("click", send);
  $("text").addEventListener("keydown", (event) => { if (event.key === "Enter" && !event.isComposing) send(); });
  $("link").addEventListener("click", () => needUser() && act("会員連携", "/api/shop/link", { userId: state.user, memberId: $("member-id").value.trim() }));
  // LINE's account-link flow: the shopper asks, the bot sends the shop's login link (with a
  // link token); then the shopper logs in at the shop and LINE reports the link to the bot.
  $("link-start").addEventListener("click", () => needUser() && act("アカウント連携を開始", "/api/line/text", { userId: state.user, text: "会員連携" }));
  $("link-login").addEventListener("click", async () => {
    if (!needUser()) return;
    try {
      const data = await api("/api/account-link", { userId: state.user, memberId: $("member-id").value.trim() });
      for (const step of data.steps) log(`アカウント連携: ${step}`);
      refreshSoon();
    } catch (error) {
      log(`アカウント連携: ${error.message}`, true);
    }
  });
  for (const b of document.querySelectorAll("[data-shop]")) {
    b.addEventListener("click", () => needUser() && act(b.textContent, `/api/shop/${b.dataset.shop}`, { userId: state.user }));
  }
  for (const b of $("travel").querySelectorAll("button")) {
    b.addEventListener("click", () => act(`時間を進める ${b.textContent}`, "/api/clock", { seconds: Number(b.dataset.seconds) }));
  }
  for (const box of document.querySelectorAll("[data-fault]")) {
    box.addEventListener("change", () => {
      const switches = {};
      for (const other of document.querySelectorAll("[data-fault]")) switches[other.dataset.fault] = other.checked;
      act("障害の注入", "/api/faults", switches);
    });
  }

  refreshState();
  refreshChat();
  setInterval(refreshChat, 1500);
  setInterval(refreshState, 3000);
})();
