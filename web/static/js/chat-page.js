// The messages page (/chat): the user's conversations on the left (unread badges), the open one
// on the right (ChatPanel). The open conversation is in the address: /chat#<conversation id>.
//
// Stable hooks: #status[data-state] (connecting|online|offline|failed), #error[data-code],
// .conv[data-conversation-id][aria-current] with .conv-unread, #chat-panel .chat (see chat.js).
// window.carertcChat is the page's ChatStore.
import { ChatPanel } from "./chat.js";
import { previewText } from "./chat-message.js";
import { ChatStore } from "./chat-store.js";
import { AUTH_CODES, describeError } from "./errors.js";
import { showErrorBanner, takeUrlToken } from "./page-common.js";
import { getUser, tokenClaims, tokenExpired } from "./session.js";

const $ = (id) => document.getElementById(id);
const WIDE = window.matchMedia("(min-width: 720px)");

const STATUS_TEXT = {
  connecting: "Connecting…",
  online: "Online",
  offline: "Reconnecting…",
  failed: "Not connected",
};

function showError(code, message) {
  showErrorBanner(code, message || describeError(code));
}

function setStatus(state) {
  $("status").dataset.state = state;
  $("status").textContent = STATUS_TEXT[state] || state;
}

function shortTime(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleDateString([], { day: "numeric", month: "short" });
}

function start() {
  const token = takeUrlToken();
  if (!token || tokenExpired(token)) {
    setStatus("failed");
    showError(token ? "token_expired" : "token_missing",
      token ? describeError("token_expired") : "You are not signed in. Sign in to see your messages.");
    return;
  }
  const claims = tokenClaims(token) || {};
  const user = getUser();
  $("chat-user").textContent = ` · ${(user && (user.display_name || user.name)) || claims.name || ""}`;

  const store = new ChatStore({ origin: location.origin, token });
  window.carertcChat = store;
  const panel = new ChatPanel($("chat-panel"), store, {
    onBack: () => {
      history.pushState(null, "", location.pathname + location.search);
      select(null);
    },
  });
  let current = null;

  function select(cid) {
    current = cid;
    document.body.dataset.view = cid ? "conversation" : "list";
    panel.open(cid);
    renderList();
  }

  function fromHash() {
    const cid = decodeURIComponent(location.hash.replace(/^#/, ""));
    if (cid) select(cid);
    else if (WIDE.matches && store.conversations.size) {
      const first = store.sortedConversations()[0];
      history.replaceState(null, "", `#${encodeURIComponent(first.id)}`);
      select(first.id);
    } else {
      select(null);
    }
  }

  const items = new Map(); // conversation id -> button
  function renderList() {
    const list = $("conversations");
    const convs = store.sortedConversations();
    $("conv-empty").hidden = convs.length > 0 || store.state !== "online";
    const keep = new Set();
    convs.forEach((conv, index) => {
      let btn = items.get(conv.id);
      if (!btn) {
        btn = document.createElement("button");
        btn.type = "button";
        btn.className = "conv";
        btn.dataset.conversationId = conv.id;
        const title = document.createElement("span");
        title.className = "conv-title";
        const time = document.createElement("span");
        time.className = "conv-time";
        const preview = document.createElement("span");
        preview.className = "conv-preview";
        const unread = document.createElement("span");
        unread.className = "count-badge conv-unread";
        btn.append(title, time, preview, unread);
        btn.addEventListener("click", () => {
          if (location.hash !== `#${encodeURIComponent(conv.id)}`) location.hash = encodeURIComponent(conv.id);
          else select(conv.id);
        });
        const li = document.createElement("li");
        li.append(btn);
        items.set(conv.id, btn);
      }
      const li = btn.parentElement;
      keep.add(conv.id);
      const nameOf = (uid) => store.nameOf(conv.id, uid);
      const last = conv.last_message;
      btn.querySelector(".conv-title").textContent = store.titleOf(conv);
      btn.querySelector(".conv-time").textContent = last ? shortTime(last.created_at) : "";
      const who = last && last.sender_id && last.type !== "system"
        ? (last.sender_id === store.userId ? "You: " : conv.kind === "direct" ? "" : `${last.sender_name || nameOf(last.sender_id)}: `)
        : "";
      btn.querySelector(".conv-preview").textContent = last ? who + previewText(last, nameOf) : "No messages yet";
      const unread = btn.querySelector(".conv-unread");
      const n = conv.id === current && panel.visible ? 0 : store.unreadCount(conv.id);
      unread.textContent = n > 99 ? "99+" : String(n);
      unread.hidden = n === 0;
      unread.setAttribute("aria-label", `${n} unread`);
      btn.dataset.unread = String(n);
      if (conv.id === current) btn.setAttribute("aria-current", "true");
      else btn.removeAttribute("aria-current");
      if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
    });
    for (const [id, btn] of items) {
      if (!keep.has(id)) {
        btn.parentElement.remove();
        items.delete(id);
      }
    }
    const total = convs.reduce((sum, c) => sum + (c.id === current ? 0 : store.unreadCount(c.id)), 0);
    document.title = total ? `(${total}) CareRTC — messages` : "CareRTC — messages";
  }

  let first = true;
  store.addEventListener("conversations", () => {
    renderList();
    if (first && store.state === "online") {
      first = false;
      fromHash();
    }
  });
  store.addEventListener("messages", () => renderList());
  store.addEventListener("status", (ev) => {
    setStatus(ev.detail.state);
    if (ev.detail.state === "online" && !AUTH_CODES.has($("error").dataset.code)) $("error").hidden = true;
    renderList();
  });
  store.addEventListener("error", (ev) => {
    if (ev.detail.fatal) showError(ev.detail.code, ev.detail.message);
  });
  window.addEventListener("hashchange", () => fromHash());
  setStatus("connecting");
  store.connect();
}

start();
