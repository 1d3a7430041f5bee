// The chat beside the call: the room's conversation (GET /api/v1/rooms/{id}/conversation) in a
// ChatPanel that the control bar's "Chat" button opens and closes; while it is closed the button
// shows how many messages are unread.
//
// Stable hooks: #btn-chat[aria-pressed][aria-expanded], #chat-badge (hidden when 0),
// #chat-panel (hidden when closed) holding .chat (see chat.js). window.carertcChat is the ChatStore.
import { ChatPanel } from "./chat.js";
import { ChatStore } from "./chat-store.js";
import { CallError, describeError } from "./errors.js";

/** GET /api/v1/rooms/{roomId}/conversation with the Bearer token -> Conversation. */
export async function fetchRoomConversation(roomId, token) {
  let res;
  try {
    res = await fetch(`/api/v1/rooms/${encodeURIComponent(roomId)}/conversation`, {
      headers: { Authorization: `Bearer ${token}`, Accept: "application/json" },
    });
  } catch {
    throw new CallError("network", describeError("network"));
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (!res.ok || !body || !body.id) {
    const code = (body && body.error && body.error.code) || "error";
    throw new CallError(code, describeError(code, body && body.error && body.error.message));
  }
  return body;
}

/**
 * Mount the room's chat: `panel` is the (hidden) container, `toggle` the button, `badge` its
 * unread count. Returns the ChatStore, or null when the chat is not available (the button says why).
 */
export async function mountRoomChat({ roomId, token, panel, toggle, badge }) {
  let conv;
  try {
    conv = await fetchRoomConversation(roomId, token);
  } catch (err) {
    toggle.disabled = true;
    toggle.title = `Chat unavailable: ${err.message}`;
    return null;
  }
  const store = new ChatStore({ origin: location.origin, token });
  window.carertcChat = store;
  store.upsertConversation(conv, false);
  let open = false;
  const view = new ChatPanel(panel, store, { title: "Chat", onClose: () => setOpen(false) });

  function renderBadge() {
    const n = open ? 0 : store.unreadCount(conv.id);
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.hidden = n === 0;
    toggle.setAttribute("aria-label", n ? `Chat, ${n} unread` : "Chat");
  }

  function setOpen(value) {
    open = value;
    panel.hidden = !open;
    document.body.classList.toggle("chat-open", open);
    toggle.setAttribute("aria-pressed", String(open));
    toggle.setAttribute("aria-expanded", String(open));
    view.setVisible(open);
    if (open) view.focus();
    else toggle.focus();
    renderBadge();
  }

  toggle.setAttribute("aria-controls", panel.id);
  toggle.addEventListener("click", () => setOpen(!open));
  toggle.disabled = false;
  store.addEventListener("conversations", renderBadge);
  store.addEventListener("messages", renderBadge);
  view.setVisible(false);
  panel.hidden = true;
  store.connect();
  view.open(conv.id);
  renderBadge();
  return store;
}
