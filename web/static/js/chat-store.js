// ChatStore: the messaging state of one signed-in user, with no DOM. Contract: docs/IM.md.
//
// Holds the conversations, each conversation's messages (by seq, deduplicated by id and seq),
// the sends still waiting for their ack, and who is typing. Reliability:
//   - every send carries a client_msg_id (crypto.randomUUID()) and shows as pending until acked;
//     a send without an ack is sent again after a reconnect (the server is idempotent);
//   - after a reconnect each loaded conversation catches up with im:sync from the last seq held,
//     and a gap in live messages triggers the same catch-up.
//
// Events (CustomEvent, details in brackets):
//   "conversations" (none)               the list, unread counts or members' read_seq changed
//   "messages"      {conversation_id}    messages or pending sends of a conversation changed
//   "typing"        {conversation_id}    someone started or stopped typing
//   "status"        {state}              connecting|online|offline|failed
//   "error"         {code, message, fatal, conversation_id?}
import { io } from "/static/vendor/socket.io.esm.min.js";
import { conversationTitle, countUnread, lastActivity, mergeConversation } from "./chat-conversations.js";
import { Outbox } from "./chat-outbox.js";
import { Typing } from "./chat-typing.js";
import { AUTH_CODES, CallError, describeError } from "./errors.js";
import { tokenClaims } from "./session.js";

const ACK_TIMEOUT_MS = 15000;
const PAGE_SIZE = 50;
const SYNC_LIMIT = 200;

/** The signed-in user's conversations and messages over one Socket.IO connection. */
export class ChatStore extends EventTarget {
  /**
   * @param {{origin: string, token: string}} opts
   */
  constructor({ origin, token }) {
    super();
    this.origin = origin;
    this.token = token;
    const claims = tokenClaims(token) || {};
    this.userId = claims.sub || "";
    this.userName = claims.name || "";
    this.socket = null;
    this.state = "idle";
    this.conversations = new Map(); // id -> Conversation
    this.threads = new Map(); // conversation id -> Thread (see thread())
    this.outbox = new Outbox(this);
    this.typing = new Typing(this);
  }

  // ---- connection ----------------------------------------------------------------------------

  /** Open the Socket.IO connection (reconnects by itself). */
  connect() {
    if (this.socket) return;
    this.setStatus("connecting");
    const socket = io(this.origin, {
      auth: { token: this.token },
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      timeout: 10000,
    });
    this.socket = socket;
    socket.on("connect", () => this.onConnect().catch((err) => this.report(err)));
    socket.on("disconnect", () => {
      this.outbox.disconnected();
      if (this.state === "failed") return;
      this.setStatus("offline");
    });
    socket.on("connect_error", (err) => {
      const data = err && err.data;
      const apiError = data && typeof data === "object" ? (data.error || data) : null;
      const code = apiError && typeof apiError.code === "string" ? apiError.code : null;
      if (code && AUTH_CODES.has(code)) {
        this.setStatus("failed");
        this.emit("error", { code, message: describeError(code, apiError.message), fatal: true });
        socket.disconnect();
        return;
      }
      this.setStatus("offline");
    });
    socket.on("im:message", (msg) => this.onMessage(msg));
    socket.on("im:updated", (msg) => this.onUpdated(msg));
    socket.on("im:read", (r) => this.onRead(r));
    socket.on("im:typing", (ev) => this.typing.received(ev));
    socket.on("im:conversation", (c) => { if (c && c.id) { this.upsertConversation(c); } });
  }

  /** Close the connection for good. */
  close() {
    if (this.socket) this.socket.disconnect();
    this.setStatus("offline");
  }

  get connected() {
    return !!this.socket && this.socket.connected;
  }

  async onConnect() {
    this.setStatus("online");
    await this.refreshConversations().catch((err) => this.report(err));
    // catch up every conversation we hold messages of, then resend what was never acked
    for (const [cid, t] of this.threads) {
      if (t.loaded) await this.sync(cid).catch((err) => this.report(err, cid));
      else if (t.wanted) await this.load(cid).catch((err) => this.report(err, cid));
    }
    this.outbox.flush();
  }

  /** Emit a request with an ack; resolves with the result or throws a CallError. */
  async request(event, data = {}) {
    const socket = this.socket;
    if (!socket || !socket.connected) throw new CallError("network", describeError("network"));
    let res;
    try {
      res = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, data);
    } catch {
      throw new CallError("timeout", describeError("timeout"));
    }
    if (res && typeof res === "object" && res.error) {
      const code = res.error.code || "error";
      throw new CallError(code, describeError(code, res.error.message));
    }
    return res || {};
  }

  // ---- conversations -------------------------------------------------------------------------

  /** im:conversations: replace the list (keeps conversations only known from HTTP). */
  async refreshConversations() {
    const res = await this.request("im:conversations", {});
    for (const c of res.conversations || []) this.upsertConversation(c, false);
    this.changed("conversations");
  }

  /** Add or replace a conversation object (e.g. from GET /api/v1/rooms/{id}/conversation). */
  upsertConversation(conv, notify = true) {
    const merged = mergeConversation(this.conversations.get(conv.id), conv);
    this.conversations.set(conv.id, merged);
    if (notify) this.changed("conversations");
    return merged;
  }

  /** Conversations, most recently active first. */
  sortedConversations() {
    return Array.from(this.conversations.values()).sort((a, b) => (lastActivity(a) < lastActivity(b) ? 1 : -1));
  }

  /** The display title: the conversation's title, or the other members' names. */
  titleOf(conv) {
    return conversationTitle(conv, this.userId);
  }

  /** The name of a member (or the sender name a message carries). */
  nameOf(cid, userId, fallback = "") {
    if (userId === this.userId) return this.userName || "You";
    const conv = this.conversations.get(cid);
    const m = conv && (conv.members || []).find((x) => x.user_id === userId);
    return (m && m.name) || fallback || "Someone";
  }

  // ---- messages ------------------------------------------------------------------------------

  /** The per-conversation message state. */
  thread(cid) {
    let t = this.threads.get(cid);
    if (!t) {
      t = {
        bySeq: new Map(), // seq -> Message
        pending: new Map(), // client_msg_id -> Pending
        loaded: false, // the newest page is in
        wanted: false, // a view asked for it (load on connect)
        loading: null, // the running load/loadOlder promise
        syncing: false,
        resync: false,
        syncedSeq: 0, // every message from the oldest held up to this seq is held
        hasOlder: false,
      };
      this.threads.set(cid, t);
    }
    return t;
  }

  /** Messages (ascending seq) followed by the pending sends (oldest first). */
  timeline(cid) {
    const t = this.thread(cid);
    const msgs = Array.from(t.bySeq.values()).sort((a, b) => a.seq - b.seq);
    const pending = Array.from(t.pending.values()).sort((a, b) => a.created - b.created);
    return { messages: msgs, pending };
  }

  /** Load the newest page of a conversation (once; later calls return the same promise). */
  load(cid) {
    const t = this.thread(cid);
    t.wanted = true;
    if (t.loaded) return Promise.resolve();
    if (t.loading) return t.loading;
    if (!this.connected) return Promise.resolve(); // onConnect loads it
    t.loading = (async () => {
      try {
        const res = await this.request("im:history", { conversation_id: cid, limit: PAGE_SIZE });
        const msgs = res.messages || [];
        t.hasOlder = !!res.has_more;
        t.loaded = true;
        t.syncedSeq = msgs.length ? msgs[msgs.length - 1].seq : 0;
        this.merge(cid, msgs);
        this.changed("messages", cid); // also when there is nothing: the view stops "loading"
        this.advance(cid);
      } finally {
        t.loading = null;
      }
    })();
    return t.loading;
  }

  /** Load the page just before the oldest message held (im:history with before_seq). */
  loadOlder(cid) {
    const t = this.thread(cid);
    if (!t.loaded || !t.hasOlder) return Promise.resolve(false);
    if (t.loading) return t.loading.then(() => false);
    const oldest = Math.min(...t.bySeq.keys());
    t.loading = (async () => {
      try {
        const res = await this.request("im:history", { conversation_id: cid, before_seq: oldest, limit: PAGE_SIZE });
        t.hasOlder = !!res.has_more;
        this.merge(cid, res.messages || []);
        return true;
      } finally {
        t.loading = null;
      }
    })();
    return t.loading;
  }

  /** Catch up with im:sync from the last seq held, page by page. */
  async sync(cid) {
    const t = this.thread(cid);
    if (!t.loaded) return;
    if (t.syncing) { t.resync = true; return; }
    t.syncing = true;
    try {
      do {
        t.resync = false;
        for (;;) {
          const res = await this.request("im:sync", { conversation_id: cid, since_seq: t.syncedSeq, limit: SYNC_LIMIT });
          const msgs = res.messages || [];
          this.merge(cid, msgs);
          if (msgs.length) t.syncedSeq = Math.max(t.syncedSeq, msgs[msgs.length - 1].seq);
          if (!res.has_more || !msgs.length) {
            t.syncedSeq = Math.max(t.syncedSeq, Math.min(res.last_seq || 0, this.maxSeq(cid)));
            break;
          }
        }
        this.advance(cid);
      } while (t.resync);
    } finally {
      t.syncing = false;
    }
  }

  /** The highest seq held for a conversation (0 if none). */
  maxSeq(cid) {
    const t = this.thread(cid);
    let max = 0;
    for (const s of t.bySeq.keys()) if (s > max) max = s;
    return max;
  }

  /** Move syncedSeq over contiguous messages; a gap after it means something was missed. */
  advance(cid) {
    const t = this.thread(cid);
    while (t.bySeq.has(t.syncedSeq + 1)) t.syncedSeq++;
    if (t.loaded && this.maxSeq(cid) > t.syncedSeq && this.connected) {
      this.sync(cid).catch((err) => this.report(err, cid));
    }
  }

  /** Put messages in place, one per seq (a newer copy replaces a recalled/edited/local one); a
   * pending send with the same client_msg_id is done. */
  merge(cid, msgs) {
    const t = this.thread(cid);
    let changed = false;
    for (const m of msgs) {
      if (!m || typeof m.seq !== "number" || !m.id) continue;
      const prev = t.bySeq.get(m.seq);
      if (!prev || prev.recalled !== m.recalled || prev.edited_at !== m.edited_at || prev.local) {
        t.bySeq.set(m.seq, prev && prev.local ? { ...m, local: false } : m);
        changed = true;
      }
      if (m.sender_id === this.userId && m.client_msg_id && t.pending.has(m.client_msg_id)) {
        this.outbox.done(t.pending.get(m.client_msg_id));
        changed = true;
      }
      this.noteLast(cid, m);
    }
    if (changed) this.changed("messages", cid);
  }

  /** Keep the conversation's last_seq / last_message / unread in step with a message. */
  noteLast(cid, m) {
    const conv = this.conversations.get(cid);
    if (!conv) return;
    if (m.seq > (conv.last_seq || 0)) {
      conv.last_seq = m.seq;
      conv.unread = Math.max(0, conv.last_seq - (conv.read_seq || 0));
    }
    if (!conv.last_message || conv.last_message.seq <= m.seq) conv.last_message = m;
    this.changed("conversations");
  }

  onMessage(m) {
    if (!m || !m.conversation_id) return;
    const cid = m.conversation_id;
    if (!this.conversations.has(cid)) {
      // a conversation we were just added to: fetch the list again
      this.refreshConversations().catch(() => {});
    }
    this.merge(cid, [m]);
    this.advance(cid);
    if (m.sender_id) this.typing.clear(cid, m.sender_id);
  }

  onUpdated(m) {
    if (!m || !m.conversation_id) return;
    const t = this.thread(m.conversation_id);
    if (t.bySeq.has(m.seq) || t.loaded) this.merge(m.conversation_id, [m]);
    const conv = this.conversations.get(m.conversation_id);
    if (conv && conv.last_message && conv.last_message.id === m.id) {
      conv.last_message = m;
      this.changed("conversations");
    }
  }

  onRead(r) {
    if (!r || !r.conversation_id) return;
    const conv = this.conversations.get(r.conversation_id);
    if (!conv) return;
    if (r.user_id === this.userId) {
      conv.read_seq = Math.max(conv.read_seq || 0, r.read_seq || 0);
      conv.unread = Math.max(0, (conv.last_seq || 0) - conv.read_seq);
    }
    const member = (conv.members || []).find((m) => m.user_id === r.user_id);
    if (member) member.read_seq = Math.max(member.read_seq || 0, r.read_seq || 0);
    else (conv.members = conv.members || []).push({ user_id: r.user_id, name: "", role: "member", read_seq: r.read_seq || 0 });
    this.changed("conversations");
    this.changed("messages", r.conversation_id);
  }

  /** Who else has read up to `seq` (names), from the members' read_seq. */
  readers(cid, seq) {
    const conv = this.conversations.get(cid);
    if (!conv) return [];
    return (conv.members || []).filter((m) => m.user_id !== this.userId && (m.read_seq || 0) >= seq)
      .map((m) => m.name || "Someone");
  }

  /** Unread messages worth a badge (see countUnread). */
  unreadCount(cid) {
    const conv = this.conversations.get(cid);
    if (!conv) return 0;
    const t = this.threads.get(cid);
    const complete = !!t && t.loaded && (!t.hasOlder || Math.min(...t.bySeq.keys()) <= (conv.read_seq || 0) + 1);
    return countUnread(conv, complete ? t.bySeq.values() : [], complete, this.userId);
  }

  /** Send im:read with the highest seq held, if that is past the user's read position. */
  markRead(cid) {
    const conv = this.conversations.get(cid);
    const seq = this.maxSeq(cid);
    if (!conv || !seq || seq <= (conv.read_seq || 0) || !this.connected) return;
    conv.read_seq = seq;
    conv.unread = Math.max(0, (conv.last_seq || 0) - seq);
    this.changed("conversations");
    this.request("im:read", { conversation_id: cid, seq }).catch(() => {
      // not stored: let the next attempt send it again
      conv.read_seq = Math.min(conv.read_seq, seq - 1);
    });
  }

  // ---- sending, recall, typing ----------------------------------------------------------------

  /** Send a text message (shown as pending until acked). */
  sendText(cid, body) {
    this.typing.stopped(cid, false); // the server ends the typing state on send
    return this.outbox.enqueue(cid, { type: "text", body, payload: {} });
  }

  /** Send a card `{card_type, title, description, url}`. */
  sendCard(cid, payload, body = "") {
    return this.outbox.enqueue(cid, { type: "card", body, payload });
  }

  /** Upload a file (progress on the pending message), then send it as image/file/audio/video. */
  sendFile(cid, file, caption = "") {
    return this.outbox.enqueue(cid, { type: "file", body: caption, payload: {} }, { file });
  }

  /** Try a failed send again. */
  retry(cid, clientMsgId) {
    this.outbox.retry(cid, clientMsgId);
  }

  /** Drop a pending send (aborts its upload). */
  discard(cid, clientMsgId) {
    this.outbox.discard(cid, clientMsgId);
  }

  /** im:recall: the message becomes a tombstone for everyone. */
  async recall(cid, messageId) {
    const res = await this.request("im:recall", { message_id: messageId });
    if (res.message) this.merge(cid, [res.message]);
  }

  /** The user is typing in a conversation (im:typing true, throttled). */
  typingNow(cid) {
    this.typing.typing(cid);
  }

  /** The user stopped typing (im:typing false if true was sent). */
  stopTyping(cid) {
    this.typing.stopped(cid);
  }

  /** Names of the others typing in a conversation. */
  typingNames(cid) {
    return this.typing.names(cid);
  }

  // ---- events --------------------------------------------------------------------------------

  /** Report a failure as an "error" event. */
  report(err, cid) {
    const code = (err && err.code) || "error";
    console.warn("carertc chat:", code, err && err.message);
    this.emit("error", { code, message: (err && err.message) || describeError(code), fatal: false, conversation_id: cid });
  }

  setStatus(state) {
    if (this.state === state) return;
    this.state = state;
    this.emit("status", { state });
  }

  changed(kind, cid) {
    // coalesce bursts (a sync page, many receipts) into one event per kind and conversation
    const key = `${kind}:${cid || ""}`;
    if (!this.queued) {
      this.queued = new Map();
      queueMicrotask(() => {
        const q = this.queued;
        this.queued = null;
        for (const detail of q.values()) this.emit(detail.kind, detail.cid ? { conversation_id: detail.cid } : {});
      });
    }
    this.queued.set(key, { kind, cid });
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
