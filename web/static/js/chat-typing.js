// Typing indicators, both ways: throttled im:typing from this user, and who else is typing
// (each entry expires 6 s after its last im:typing true, as the server's does). No DOM.
const REFRESH_MS = 3000;
const EXPIRY_MS = 6000;

/** Typing state of one ChatStore: what this user sent, who else is typing. */
export class Typing {
  /** @param {import("./chat-store.js").ChatStore} store */
  constructor(store) {
    this.store = store;
    this.others = new Map(); // conversation id -> Map(user id -> {name, timer})
    this.sent = new Map(); // conversation id -> when im:typing true was last sent (0: not typing)
  }

  /** The user typed: im:typing true, at most every 3 s. */
  typing(cid) {
    const store = this.store;
    if (Date.now() - (this.sent.get(cid) || 0) < REFRESH_MS || !store.connected) return;
    this.sent.set(cid, Date.now());
    store.request("im:typing", { conversation_id: cid, typing: true }).catch(() => {});
  }

  /** The user stopped (sent, or left the input): im:typing false, if true was sent. */
  stopped(cid, tell = true) {
    if (!this.sent.get(cid)) return;
    this.sent.set(cid, 0);
    if (tell && this.store.connected) {
      this.store.request("im:typing", { conversation_id: cid, typing: false }).catch(() => {});
    }
  }

  /** An im:typing event from the server. */
  received(ev) {
    const store = this.store;
    if (!ev || !ev.conversation_id || !ev.user_id || ev.user_id === store.userId) return;
    if (!ev.typing) {
      this.clear(ev.conversation_id, ev.user_id);
      return;
    }
    let who = this.others.get(ev.conversation_id);
    if (!who) this.others.set(ev.conversation_id, (who = new Map()));
    const prev = who.get(ev.user_id);
    if (prev) clearTimeout(prev.timer);
    const timer = setTimeout(() => this.clear(ev.conversation_id, ev.user_id), EXPIRY_MS);
    who.set(ev.user_id, { name: ev.name || store.nameOf(ev.conversation_id, ev.user_id), timer });
    store.changed("typing", ev.conversation_id);
  }

  /** Someone stopped typing (their message arrived, or they said so). */
  clear(cid, userId) {
    const who = this.others.get(cid);
    const entry = who && who.get(userId);
    if (!entry) return;
    clearTimeout(entry.timer);
    who.delete(userId);
    this.store.changed("typing", cid);
  }

  /** Names of the others typing in a conversation. */
  names(cid) {
    const who = this.others.get(cid);
    return who ? Array.from(who.values(), (e) => e.name) : [];
  }
}
