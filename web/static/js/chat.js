// ChatPanel: one open conversation of a ChatStore as DOM — header, the message log (older pages
// load on scrolling up), the typing line and the composer. Used beside the call (room-chat.js)
// and on the messages page (chat-page.js).
//
// Stable hooks: .chat[data-conversation-id][data-state] (loading|ready|empty), .chat-log
// (role="log") with one li.msg per message (see chat-message.js), .chat-typing, .chat-error[data-code],
// .chat-conn[data-state], .chat-older, and the composer's .chat-input .chat-send .chat-attach
// .chat-file .chat-emoji.
import { Composer } from "./chat-composer.js";
import {
  messageElement, messageVersion, pendingElement, pendingVersion, setProgress,
} from "./chat-message.js";
import { describeError } from "./errors.js";
import { icon } from "./icons.js";

const NEAR_TOP_PX = 80;
const NEAR_BOTTOM_PX = 60;

const CONN_TEXT = {
  connecting: "Connecting…",
  offline: "Offline: messages are sent when the connection is back",
  failed: "Not connected",
};

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

let uid = 0;

/** "Nina is typing…", "Nina and Omar are typing…", or "" */
export function typingLine(names) {
  if (!names.length) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return "Several people are typing…";
}

/** One open conversation as DOM, kept in step with a ChatStore. */
export class ChatPanel {
  /**
   * @param {HTMLElement} root  where the panel is built (its content is replaced)
   * @param {import("./chat-store.js").ChatStore} store
   * @param {{title?: string, onClose?: () => void, onBack?: () => void}} [options]
   */
  constructor(root, store, options = {}) {
    this.root = root;
    this.store = store;
    this.options = options;
    this.cid = null;
    this.visible = true;
    this.els = new Map(); // key -> {el, version}
    this.anchor = null; // distance from the bottom to keep while older messages come in
    this.stick = true; // scroll to the newest message on the next render
    this.build();

    store.addEventListener("messages", (ev) => { if (ev.detail.conversation_id === this.cid) this.render(); });
    store.addEventListener("conversations", () => this.renderHead());
    store.addEventListener("typing", (ev) => { if (ev.detail.conversation_id === this.cid) this.renderTyping(); });
    store.addEventListener("status", () => this.renderConn());
    store.addEventListener("progress", (ev) => {
      if (ev.detail.conversation_id !== this.cid) return;
      const entry = this.els.get(`p:${ev.detail.client_msg_id}`);
      if (entry) setProgress(entry.el, ev.detail.progress);
    });
    store.addEventListener("error", (ev) => {
      const d = ev.detail;
      if (!d.conversation_id || d.conversation_id === this.cid) this.showError(d.code, d.message);
    });
    window.addEventListener("focus", () => this.maybeMarkRead());
    document.addEventListener("visibilitychange", () => this.maybeMarkRead());
    setInterval(() => { if (this.cid && this.visible) this.render(); }, 10000); // recall window ends
  }

  build() {
    const titleId = `chat-title-${++uid}`;
    const section = el("section", "chat");
    section.setAttribute("aria-labelledby", titleId);
    this.section = section;

    const head = el("header", "chat-head");
    if (this.options.onBack) {
      const back = el("button", "chat-tool chat-back");
      back.type = "button";
      back.setAttribute("aria-label", "Back to conversations");
      back.append(icon("back"));
      back.addEventListener("click", () => this.options.onBack());
      head.append(back);
    }
    this.title = el("h2", "chat-title", this.options.title || "Chat");
    this.title.id = titleId;
    this.conn = el("span", "chat-conn");
    this.conn.setAttribute("role", "status");
    head.append(this.title, this.conn);
    if (this.options.onClose) {
      const close = el("button", "chat-tool chat-close");
      close.type = "button";
      close.setAttribute("aria-label", "Close the chat");
      close.title = "Close the chat";
      close.append(icon("close"));
      close.addEventListener("click", () => this.options.onClose());
      head.append(close);
    }

    this.error = el("div", "chat-error");
    this.error.setAttribute("role", "alert");
    this.error.hidden = true;
    this.errorText = el("span", "chat-error-text");
    const dismiss = el("button", "link", "Dismiss");
    dismiss.type = "button";
    dismiss.addEventListener("click", () => { this.error.hidden = true; });
    this.error.append(this.errorText, dismiss);

    this.scroller = el("div", "chat-scroll");
    this.older = el("button", "link chat-older", "Load earlier messages");
    this.older.type = "button";
    this.older.hidden = true;
    this.older.addEventListener("click", () => this.loadOlder());
    this.empty = el("p", "chat-empty", "No messages yet. Say hello!");
    this.empty.hidden = true;
    this.log = el("ol", "chat-log");
    this.log.setAttribute("role", "log");
    this.log.setAttribute("aria-live", "polite");
    this.log.setAttribute("aria-relevant", "additions");
    this.log.setAttribute("aria-labelledby", titleId);
    this.scroller.append(this.older, this.empty, this.log);
    this.scroller.addEventListener("scroll", () => {
      if (this.scroller.scrollTop < NEAR_TOP_PX) this.loadOlder();
    }, { passive: true });

    this.typing = el("div", "chat-typing");
    this.typing.setAttribute("aria-live", "polite");

    this.composer = new Composer({
      onSend: (text) => {
        if (!this.cid) return;
        this.stick = true;
        this.store.sendText(this.cid, text);
      },
      onFiles: (files) => {
        if (!this.cid) return;
        this.stick = true;
        for (const f of files) this.store.sendFile(this.cid, f);
      },
      onTyping: () => { if (this.cid) this.store.typingNow(this.cid); },
      onStopTyping: () => { if (this.cid) this.store.stopTyping(this.cid); },
    });
    this.composer.setEnabled(false);

    this.viewer = el("dialog", "chat-viewer");
    this.viewer.setAttribute("aria-label", "Image");
    this.viewerImg = document.createElement("img");
    const closeViewer = el("button", "chat-tool chat-viewer-close");
    closeViewer.type = "button";
    closeViewer.setAttribute("aria-label", "Close the image");
    closeViewer.append(icon("close"));
    closeViewer.addEventListener("click", () => this.viewer.close());
    this.viewer.addEventListener("click", (ev) => { if (ev.target === this.viewer) this.viewer.close(); });
    this.viewer.append(closeViewer, this.viewerImg);

    section.append(head, this.error, this.scroller, this.typing, this.composer.element, this.viewer);
    this.root.replaceChildren(section);
    this.renderConn();
  }

  /** Show a conversation (loads its newest page the first time). */
  async open(cid) {
    if (cid === this.cid) return;
    this.cid = cid;
    this.els.clear();
    this.log.replaceChildren();
    this.error.hidden = true;
    this.stick = true;
    this.section.dataset.conversationId = cid || "";
    this.section.dataset.state = "loading";
    this.composer.setEnabled(!!cid);
    this.renderHead();
    this.renderTyping();
    if (!cid) return;
    try {
      await this.store.load(cid);
    } catch (err) {
      if (cid === this.cid) this.showError(err.code, err.message);
    }
    if (cid !== this.cid) return;
    this.render();
    this.fill();
  }

  /** The panel was shown or hidden by its page (read receipts only go out while it is seen). */
  setVisible(visible) {
    this.visible = visible;
    if (visible) {
      this.stick = this.stick || this.atBottom();
      this.render();
      this.maybeMarkRead();
    }
  }

  /** Put the caret in the message input. */
  focus() {
    this.composer.focus();
  }

  atBottom() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  /** Keep loading older pages until the log can scroll (so scrolling up can load more). */
  async fill() {
    const t = this.store.thread(this.cid);
    while (this.cid && t.hasOlder && this.scroller.scrollHeight <= this.scroller.clientHeight && this.visible) {
      if (!(await this.loadOlder())) break;
    }
  }

  async loadOlder() {
    const cid = this.cid;
    const t = cid && this.store.thread(cid);
    if (!t || !t.loaded || !t.hasOlder || t.loading) return false;
    this.anchor = this.scroller.scrollHeight - this.scroller.scrollTop;
    try {
      return await this.store.loadOlder(cid);
    } catch (err) {
      this.showError(err.code, err.message);
      return false;
    } finally {
      if (cid === this.cid) this.render();
      this.anchor = null;
    }
  }

  ctx() {
    const store = this.store;
    const cid = this.cid;
    const conv = store.conversations.get(cid);
    return {
      userId: store.userId,
      token: store.token,
      group: !conv || conv.kind !== "direct",
      nameOf: (userId) => store.nameOf(cid, userId),
      readers: (seq) => store.readers(cid, seq),
      onRecall: (msg) => {
        store.recall(cid, msg.id).catch((err) => this.showError(err.code, err.message));
      },
      onOpenImage: (url, alt) => this.openImage(url, alt),
      onImageLoad: () => { if (this.atBottom() || this.stick) this.scrollToEnd(); },
      onRetry: (p) => store.retry(cid, p.client_msg_id),
      onDiscard: (p) => store.discard(cid, p.client_msg_id),
    };
  }

  /** Bring the log in line with the store (elements are rebuilt only when they changed). */
  render() {
    if (!this.cid) return;
    const t = this.store.thread(this.cid);
    const { messages, pending } = this.store.timeline(this.cid);
    const ctx = this.ctx();
    const stick = this.stick || this.atBottom();
    const wanted = [];
    for (const m of messages) {
      wanted.push({ key: `m:${m.id}`, version: messageVersion(m, ctx), make: () => messageElement(m, ctx) });
    }
    for (const p of pending) {
      wanted.push({ key: `p:${p.client_msg_id}`, version: pendingVersion(p), make: () => pendingElement(p, ctx) });
    }
    const keep = new Set();
    let index = 0;
    for (const w of wanted) {
      let entry = this.els.get(w.key);
      if (!entry || entry.version !== w.version) {
        const fresh = w.make();
        if (entry) entry.el.replaceWith(fresh);
        entry = { el: fresh, version: w.version };
        this.els.set(w.key, entry);
      }
      keep.add(w.key);
      if (this.log.children[index] !== entry.el) this.log.insertBefore(entry.el, this.log.children[index] || null);
      index++;
    }
    for (const [key, entry] of this.els) {
      if (!keep.has(key)) {
        entry.el.remove();
        this.els.delete(key);
      }
    }
    this.older.hidden = !(t.loaded && t.hasOlder);
    this.empty.hidden = !(t.loaded && !wanted.length);
    this.section.dataset.state = !t.loaded ? "loading" : wanted.length ? "ready" : "empty";
    if (this.anchor !== null && !stick) {
      this.scroller.scrollTop = this.scroller.scrollHeight - this.anchor;
    } else if (stick) {
      this.scrollToEnd();
    }
    if (t.loaded) this.stick = false;
    this.maybeMarkRead();
  }

  scrollToEnd() {
    this.scroller.scrollTop = this.scroller.scrollHeight;
  }

  renderHead() {
    if (this.options.title) return;
    const conv = this.cid && this.store.conversations.get(this.cid);
    this.title.textContent = conv ? this.store.titleOf(conv) : "Chat";
  }

  renderTyping() {
    const text = this.cid ? typingLine(this.store.typingNames(this.cid)) : "";
    this.typing.textContent = text;
    this.typing.dataset.active = text ? "true" : "false";
  }

  renderConn() {
    const state = this.store.state;
    this.conn.dataset.state = state;
    this.conn.textContent = CONN_TEXT[state] || "";
    this.conn.hidden = !CONN_TEXT[state];
  }

  /** Send im:read when the conversation is on screen and the window has focus. */
  maybeMarkRead() {
    if (!this.cid || !this.visible || document.visibilityState !== "visible" || !document.hasFocus()) return;
    if (!this.section.getClientRects().length) return; // hidden, or not laid out (narrow screens)
    this.store.markRead(this.cid);
  }

  showError(code, message) {
    this.error.dataset.code = code || "error";
    this.errorText.textContent = message || describeError(code);
    this.error.hidden = false;
  }

  openImage(url, alt) {
    this.viewerImg.src = url;
    this.viewerImg.alt = alt || "";
    if (typeof this.viewer.showModal === "function") this.viewer.showModal();
    else this.viewer.setAttribute("open", "");
  }
}
