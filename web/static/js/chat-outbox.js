// Outbox: the sends of a ChatStore that are not acknowledged yet. No DOM.
//
// Each send gets a client_msg_id and sits in its conversation's `pending` map until the im:send
// ack (or the same message coming back through im:sync) turns it into a message. A send whose
// ack was lost is sent again after a reconnect; the server returns the original (duplicate: true).
// Files are uploaded first (XMLHttpRequest, with progress), then sent as image/file/audio/video.
import { attachmentKind, uploadAttachment } from "./chat-upload.js";
import { describeError } from "./errors.js";

const RETRY_MS = 2000;
/** Codes after which sending the same message again may work. */
const TRANSIENT = new Set(["timeout", "network", "internal_error"]);

/** A fresh client_msg_id (a UUID; random hex where randomUUID is missing). */
export function newClientMsgId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The unacknowledged sends of a ChatStore (kept in each thread's `pending` map). */
export class Outbox {
  /** @param {import("./chat-store.js").ChatStore} store */
  constructor(store) {
    this.store = store;
  }

  /** Queue a message `{type, body, payload}` (with `file`: upload it first); returns the pending entry. */
  enqueue(cid, { type, body, payload }, { file = null } = {}) {
    const t = this.store.thread(cid);
    const p = {
      client_msg_id: newClientMsgId(),
      conversation_id: cid,
      type: file ? attachmentKind(file.type) : type,
      body,
      payload,
      localPayload: null, // what the server adds to an attachment payload, known from the upload
      file,
      attachment: null,
      status: file ? "uploading" : "sending", // uploading|sending|failed
      progress: 0,
      error: null,
      inflight: false,
      attempt: 0,
      created: Date.now(),
      xhr: null,
      localUrl: null, // a preview of an image while it uploads
    };
    if (file && p.type === "image") p.localUrl = URL.createObjectURL(file);
    t.pending.set(p.client_msg_id, p);
    this.store.changed("messages", cid);
    if (file) this.upload(p);
    else this.send(p);
    return p;
  }

  /** Upload the entry's file, then send it. */
  async upload(p) {
    const store = this.store;
    p.status = "uploading";
    p.error = null;
    p.progress = 0;
    store.changed("messages", p.conversation_id);
    let att;
    try {
      att = await uploadAttachment({
        conversationId: p.conversation_id,
        file: p.file,
        token: store.token,
        onProgress: (fraction) => {
          p.progress = fraction;
          store.emit("progress", { conversation_id: p.conversation_id, client_msg_id: p.client_msg_id, progress: fraction });
        },
        onXhr: (xhr) => { p.xhr = xhr; },
      });
    } catch (err) {
      p.xhr = null;
      if (this.isPending(p) && err.code !== "aborted") this.fail(p, err);
      return;
    }
    p.xhr = null;
    if (!this.isPending(p)) return; // discarded while uploading
    p.attachment = att;
    if (att.kind) p.type = att.kind; // the server decides from the content, not the name
    p.payload = { attachment_id: att.id };
    p.localPayload = {
      attachment_id: att.id,
      filename: att.filename || p.file.name,
      content_type: att.content_type || p.file.type,
      size: att.size ?? p.file.size,
      width: att.width ?? null,
      height: att.height ?? null,
      has_thumbnail: att.has_thumbnail ?? !!att.thumbnail_url,
    };
    p.status = "sending";
    p.progress = 1;
    store.changed("messages", p.conversation_id);
    this.send(p);
  }

  /** Emit im:send if connected and not already waiting for this entry's ack. */
  send(p) {
    const store = this.store;
    if (p.status !== "sending" || p.inflight || !store.connected || !this.isPending(p)) return;
    const attempt = ++p.attempt;
    p.inflight = true;
    const data = {
      conversation_id: p.conversation_id,
      client_msg_id: p.client_msg_id,
      type: p.type,
      body: p.body,
      payload: p.payload,
    };
    store.request("im:send", data).then((ack) => this.acked(p, ack), (err) => {
      if (attempt !== p.attempt) return;
      p.inflight = false;
      if (!this.isPending(p)) return;
      if (TRANSIENT.has(err.code)) {
        setTimeout(() => this.send(p), RETRY_MS); // or on reconnect, whichever comes first
      } else {
        this.fail(p, err);
      }
    });
  }

  /** Send everything that waits for an ack (after a reconnect). */
  flush() {
    for (const t of this.store.threads.values()) {
      for (const p of t.pending.values()) {
        p.inflight = false;
        this.send(p);
      }
    }
  }

  /** The connection dropped: whatever was in flight has to be sent again. */
  disconnected() {
    for (const t of this.store.threads.values()) for (const p of t.pending.values()) p.inflight = false;
  }

  acked(p, ack) {
    p.inflight = false;
    if (!this.isPending(p)) return; // already came back through im:sync
    this.done(p);
    this.store.merge(p.conversation_id, [{
      id: ack.id,
      conversation_id: p.conversation_id,
      seq: ack.seq,
      sender_id: this.store.userId,
      sender_name: this.store.userName,
      client_msg_id: p.client_msg_id,
      type: p.type,
      body: p.body,
      payload: p.localPayload || p.payload,
      created_at: ack.created_at,
      edited_at: null,
      recalled: false,
      recalled_by: null,
      local: true, // replaced by the server's copy whenever one arrives
    }]);
    this.store.advance(p.conversation_id);
  }

  isPending(p) {
    const t = this.store.threads.get(p.conversation_id);
    return !!t && t.pending.get(p.client_msg_id) === p;
  }

  /** Remove an entry (acked, or its message arrived). */
  done(p) {
    this.store.thread(p.conversation_id).pending.delete(p.client_msg_id);
    if (p.localUrl) URL.revokeObjectURL(p.localUrl);
    p.localUrl = null;
    this.store.changed("messages", p.conversation_id);
  }

  fail(p, err) {
    p.status = "failed";
    p.inflight = false;
    p.error = { code: (err && err.code) || "error", message: (err && err.message) || describeError("error") };
    this.store.changed("messages", p.conversation_id);
    this.store.emit("error", { ...p.error, fatal: false, conversation_id: p.conversation_id });
  }

  /** Try a failed send again (uploads again if the file never got through). */
  retry(cid, clientMsgId) {
    const p = this.store.thread(cid).pending.get(clientMsgId);
    if (!p || p.status !== "failed") return;
    p.error = null;
    if (p.file && !p.attachment) {
      this.upload(p);
      return;
    }
    p.status = "sending";
    this.store.changed("messages", cid);
    this.send(p);
  }

  /** Drop a pending entry (aborts its upload). */
  discard(cid, clientMsgId) {
    const p = this.store.thread(cid).pending.get(clientMsgId);
    if (!p) return;
    this.done(p);
    if (p.xhr) p.xhr.abort();
  }
}
