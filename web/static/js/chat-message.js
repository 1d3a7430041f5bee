// One chat message as DOM: text, image, file, audio, video, card, system line, recall tombstone,
// and pending sends (progress, retry). User data only ever goes in through textContent and
// attributes; card links are http(s) or paths on this server.
import { attachmentUrl, formatSize, thumbnailUrl } from "./chat-upload.js";
import { icon } from "./icons.js";

/** How long after sending a message its sender may recall it (the server's default window). */
export const RECALL_WINDOW_MS = 120 * 1000;

const SYSTEM_TEXT = {
  joined: (n) => `${n} joined`,
  left: (n) => `${n} left`,
  call_started: () => "Call started",
  call_ended: () => "Call ended",
  recording_started: (n) => `${n} started recording`,
  recording_stopped: (n, p) => (p.reason === "room_closed" ? "Recording stopped (the call ended)"
    : `${n} stopped recording`),
  member_added: (n) => `${n} was added`,
  member_removed: (n) => `${n} was removed`,
  snapshot_taken: (n, p) => (p.subject_name ? `${n} took a snapshot of ${p.subject_name}`
    : "A snapshot was taken"),
  pixelation_on: (n) => `${n}'s video is pixelated`,
  pixelation_off: (n) => `${n}'s video is no longer pixelated`,
  consult_created: () => "Consult created",
  consult_started: () => "Consult started",
  switched_to_text: (n) => `${n} switched to text`,
  switched_to_voice: (n) => `${n} switched to a voice call`,
  switched_to_video: (n) => `${n} switched to video`,
  consult_ended: () => "Consult ended",
  consult_cancelled: (n) => `${n} cancelled the consult`,
  sos_raised: (n) => `${n} raised an SOS`,
  sos_answered: (n) => `${n} answered the SOS`,
  sos_cancelled: () => "SOS cancelled",
  sos_ended: () => "SOS ended",
  sos_unanswered: () => "Nobody has answered the SOS yet",
};

const CARD_KIND = {
  document: ["Document", "Open document"],
  audio: ["Audio", "Listen"],
  video: ["Video", "Watch"],
  questionnaire: ["Questionnaire", "Fill in the questionnaire"],
  link: ["Link", "Open link"],
};

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

/** A card URL if it is safe to link: http(s), or a path on this server; otherwise null. */
export function safeUrl(url) {
  if (typeof url !== "string" || !url || url.includes("\\")) return null;
  if (url.startsWith("/")) return url.startsWith("//") ? null : url;
  try {
    const u = new URL(url);
    return u.protocol === "http:" || u.protocol === "https:" ? u.href : null;
  } catch {
    return null;
  }
}

/** "14:05" (local time) for an ISO timestamp. */
export function formatTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** The line shown for a system message ("Nina joined", "Call started", ...). */
export function systemText(msg, nameOf) {
  const p = msg.payload || {};
  const name = p.name || (p.user_id ? nameOf(p.user_id) : "") || "Someone";
  const make = SYSTEM_TEXT[p.event];
  return make ? make(name, p) : String(p.event || "Update").replace(/_/g, " ");
}

/** A one-line summary of a message, for the conversation list. */
export function previewText(msg, nameOf) {
  if (!msg) return "";
  if (msg.recalled) return "Message recalled";
  const p = msg.payload || {};
  switch (msg.type) {
    case "text": return msg.body;
    case "image": return "Photo";
    case "audio": return `Audio${p.filename ? `: ${p.filename}` : ""}`;
    case "video": return `Video${p.filename ? `: ${p.filename}` : ""}`;
    case "file": return `File${p.filename ? `: ${p.filename}` : ""}`;
    case "card": return p.title || "Card";
    case "system": return systemText(msg, nameOf);
    default: return msg.body || "";
  }
}

/**
 * The read state of a message: "recalled", "system", "received" (someone else's), "read"
 * (another member read it) or "sent" (acked).
 */
export function messageState(msg, ctx) {
  if (msg.recalled) return "recalled";
  if (msg.type === "system") return "system";
  if (msg.sender_id !== ctx.userId) return "received";
  return ctx.readers(msg.seq).length ? "read" : "sent";
}

/** Whether the user may still recall their own message. */
export function recallable(msg, ctx, now = Date.now()) {
  if (msg.recalled || msg.type === "system" || msg.sender_id !== ctx.userId) return false;
  const t = Date.parse(msg.created_at);
  return Number.isFinite(t) && now - t < RECALL_WINDOW_MS;
}

/** A key that changes whenever the message's element has to be rebuilt. */
export function messageVersion(msg, ctx) {
  return [msg.id, messageState(msg, ctx), msg.edited_at || "", recallable(msg, ctx) ? "r" : "",
    msg.local ? "l" : "", ctx.readers(msg.seq).join(",")].join("|");
}

/**
 * The <li> for a stored message. ctx: {userId, token, group, nameOf(userId), readers(seq),
 * onRecall(msg), onOpenImage(url, alt)}.
 */
export function messageElement(msg, ctx) {
  const li = el("li", "msg");
  li.dataset.id = msg.id;
  li.dataset.seq = String(msg.seq);
  li.dataset.type = msg.type;
  if (msg.client_msg_id) li.dataset.clientMsgId = msg.client_msg_id;
  const state = messageState(msg, ctx);
  li.dataset.state = state;
  if (msg.type === "system") {
    li.classList.add("msg-system");
    li.append(el("span", "msg-system-text", systemText(msg, ctx.nameOf)));
    return li;
  }
  const own = msg.sender_id === ctx.userId;
  li.classList.add(own ? "msg-own" : "msg-other");
  if (own) li.dataset.own = "true";
  const sender = msg.sender_name || ctx.nameOf(msg.sender_id);
  if (!own && ctx.group) li.append(el("div", "msg-sender", sender));
  const bubble = el("div", "msg-bubble");
  li.append(bubble);
  if (msg.recalled) {
    li.classList.add("msg-recalled");
    bubble.append(el("span", "msg-tombstone", own ? "You recalled a message" : "Message recalled"));
  } else {
    bubble.append(...content(msg, ctx));
  }
  const foot = el("div", "msg-foot");
  const time = el("time", "msg-time", formatTime(msg.created_at));
  time.dateTime = msg.created_at || "";
  time.title = msg.created_at ? new Date(msg.created_at).toLocaleString() : "";
  foot.append(time);
  if (msg.edited_at && !msg.recalled) foot.append(el("span", "msg-edited", "edited"));
  if (own && !msg.recalled) {
    const readers = ctx.readers(msg.seq);
    const tick = el("span", "msg-tick", state === "read" ? "✓✓" : "✓");
    tick.dataset.state = state;
    const label = state === "read" ? `Read by ${readers.join(", ")}` : "Sent";
    tick.setAttribute("role", "img");
    tick.setAttribute("aria-label", label);
    tick.title = label;
    foot.append(tick);
  }
  bubble.append(foot);
  if (recallable(msg, ctx)) {
    const actions = el("div", "msg-actions");
    const recall = el("button", "msg-recall link", "Recall");
    recall.type = "button";
    recall.setAttribute("aria-label", "Recall this message");
    recall.addEventListener("click", () => ctx.onRecall(msg));
    actions.append(recall);
    li.append(actions);
  }
  return li;
}

function content(msg, ctx) {
  const p = msg.payload || {};
  const out = [];
  const aid = p.attachment_id;
  switch (msg.type) {
    case "text":
      out.push(el("p", "msg-text", msg.body));
      return out;
    case "image":
      if (aid) out.push(imageButton(aid, p, ctx));
      break;
    case "audio":
    case "video":
      if (aid) {
        const media = document.createElement(msg.type);
        media.controls = true;
        media.preload = "metadata";
        if (msg.type === "video") media.playsInline = true;
        media.src = attachmentUrl(aid, ctx.token);
        media.className = `msg-${msg.type}`;
        media.setAttribute("aria-label", p.filename || msg.type);
        out.push(media, fileLink(aid, p, ctx, true));
      }
      break;
    case "file":
      if (aid) out.push(fileLink(aid, p, ctx, false));
      break;
    case "card":
      out.push(card(p, ctx));
      break;
    default:
      break;
  }
  if (msg.body && msg.type !== "text") out.push(el("p", "msg-text msg-caption", msg.body));
  return out;
}

function imageButton(aid, p, ctx) {
  const name = p.filename || "image";
  const btn = el("button", "msg-image");
  btn.type = "button";
  btn.setAttribute("aria-label", `Open image ${name}`);
  const img = document.createElement("img");
  img.alt = name;
  img.decoding = "async";
  img.src = p.has_thumbnail === false ? attachmentUrl(aid, ctx.token) : thumbnailUrl(aid, ctx.token);
  if (p.width > 0 && p.height > 0) img.style.aspectRatio = `${p.width} / ${p.height}`;
  if (ctx.onImageLoad) img.addEventListener("load", ctx.onImageLoad);
  btn.append(img);
  btn.addEventListener("click", () => ctx.onOpenImage(attachmentUrl(aid, ctx.token), name));
  return btn;
}

function fileLink(aid, p, ctx, small) {
  const a = el("a", small ? "msg-file msg-file-small" : "msg-file");
  a.href = attachmentUrl(aid, ctx.token);
  a.download = p.filename || "";
  a.rel = "noopener noreferrer";
  a.append(icon("file", "icon msg-file-icon"), el("span", "msg-file-name", p.filename || "file"));
  if (p.size !== undefined && p.size !== null) a.append(el("span", "msg-file-size", formatSize(p.size)));
  a.setAttribute("aria-label", `Download ${p.filename || "file"}${p.size ? `, ${formatSize(p.size)}` : ""}`);
  return a;
}

function card(p, ctx) {
  const box = el("div", "msg-card");
  const [kind, action] = CARD_KIND[p.card_type] || ["Card", "Open"];
  box.dataset.cardType = p.card_type || "";
  box.append(el("span", "msg-card-kind", kind), el("strong", "msg-card-title", p.title || ""));
  if (p.description) box.append(el("p", "msg-card-desc", p.description));
  const href = safeUrl(p.url) || (p.attachment_id ? attachmentUrl(p.attachment_id, ctx.token) : null);
  if (href) {
    const a = el("a", p.card_type === "questionnaire" ? "btn msg-card-link" : "msg-card-link", action);
    a.href = href;
    a.target = "_blank";
    a.rel = "noopener noreferrer";
    box.append(a);
  }
  return box;
}

/** A key that changes whenever a pending entry's element has to be rebuilt (not on progress). */
export function pendingVersion(p) {
  return [p.status, p.type, p.error ? p.error.code : ""].join("|");
}

/** The <li> for a send that is not acknowledged yet. ctx: {onRetry(p), onDiscard(p)}. */
export function pendingElement(p, ctx) {
  const li = el("li", "msg msg-own msg-pending");
  li.dataset.clientMsgId = p.client_msg_id;
  li.dataset.type = p.type;
  li.dataset.state = p.status === "failed" ? "failed" : "pending";
  li.dataset.own = "true";
  const bubble = el("div", "msg-bubble");
  li.append(bubble);
  if (p.file) {
    if (p.localUrl) {
      const img = document.createElement("img");
      img.className = "msg-preview";
      img.alt = p.file.name;
      img.src = p.localUrl;
      bubble.append(img);
    }
    const line = el("div", "msg-file");
    line.append(el("span", "msg-file-name", p.file.name), el("span", "msg-file-size", formatSize(p.file.size)));
    bubble.append(line);
    if (p.status === "uploading") {
      const bar = document.createElement("progress");
      bar.className = "msg-progress";
      bar.max = 1;
      bar.value = p.progress || 0;
      bar.setAttribute("aria-label", `Uploading ${p.file.name}`);
      bubble.append(bar);
    }
  } else if (p.type === "card") {
    bubble.append(el("strong", "msg-card-title", (p.payload && p.payload.title) || "Card"));
  } else {
    bubble.append(el("p", "msg-text", p.body));
  }
  if (p.body && p.file) bubble.append(el("p", "msg-text msg-caption", p.body));
  const foot = el("div", "msg-foot");
  if (p.status === "failed") {
    foot.append(el("span", "msg-failed", `Not sent: ${(p.error && p.error.message) || "error"}`));
    const retry = el("button", "link msg-retry", "Retry");
    retry.type = "button";
    retry.addEventListener("click", () => ctx.onRetry(p));
    const discard = el("button", "link msg-discard", "Discard");
    discard.type = "button";
    discard.addEventListener("click", () => ctx.onDiscard(p));
    foot.append(retry, discard);
  } else {
    const label = p.status === "uploading" ? "Uploading…" : "Sending…";
    const tick = el("span", "msg-tick");
    tick.append(icon("clock"));
    tick.dataset.state = "pending";
    tick.setAttribute("role", "img");
    tick.setAttribute("aria-label", label);
    tick.title = label;
    foot.append(el("span", "msg-time", label), tick);
  }
  bubble.append(foot);
  return li;
}

/** Update the progress bar of a pending upload in place. */
export function setProgress(li, fraction) {
  const bar = li && li.querySelector(".msg-progress");
  if (bar) bar.value = fraction;
}
