// Incoming SOS calls for family, doctors and the duty desk: a full-screen overlay with the caller's
// name, location and vitals, a ringtone made with WebAudio, and Accept / Decline. Accepting joins
// the SOS room's video (the call page); when someone else answers, the ringing stops everywhere
// and the overlay says who answered, with a "Join too" button. Contract: docs/CARE.md (SOS).
//
// Include it on a page with <script type="module" src="/static/js/sos-ring.js"></script> after the
// page's own script; it uses the token in sessionStorage (it waits for a sign-in) and its own
// Socket.IO connection. Elders' tokens are ignored (their page is /elder).
//
// Hooks: #sos-ring[data-state=ringing|accepting|answered|cancelled|ended|error][data-sos-id],
// .sos-ring-name, .sos-ring-where, .sos-ring-vitals, .sos-ring-note, #sos-accept, #sos-decline,
// #sos-join, #sos-dismiss. window.carertcSos = {socket, current, ringtone}.
import { io } from "/static/vendor/socket.io.esm.min.js";
import { getToken, tokenClaims, tokenExpired } from "./session.js";

const ACK_TIMEOUT_MS = 10000;
const AUTH_CODES = new Set(["token_missing", "token_invalid", "token_expired", "token_audience", "user_disabled"]);
const VITALS = {
  heart_rate: ["Heart rate", " bpm"], spo2: ["SpO₂", " %"], bp: ["Blood pressure", ""],
  temperature: ["Temperature", " °C"], respiratory_rate: ["Breathing", " /min"], glucose: ["Glucose", " mmol/L"],
};
const KINDS = { button: "SOS button", wristband: "Wristband alarm", one_key: "One-key alarm",
  fall_radar: "Fall detected", other: "Device alarm" };

/** A two-tone ring made with WebAudio (no audio file), repeating until stopped. */
export class Ringtone {
  constructor() { this.ctx = null; this.timer = null; this.playing = false; }

  start() {
    if (this.playing) return;
    this.playing = true;
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      this.ctx = this.ctx || new Ctx();
      if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
      const ring = () => {
        const t = this.ctx.currentTime + 0.02;
        [[880, 0], [660, 0.22], [880, 0.5], [660, 0.72]].forEach(([freq, at]) => this.beep(freq, t + at));
      };
      ring();
      this.timer = setInterval(ring, 2000);
    } catch { /* no sound: the overlay still shows */ }
    if (navigator.vibrate) navigator.vibrate([400, 200, 400]);
  }

  beep(freq, when) {
    const osc = this.ctx.createOscillator();
    const gain = this.ctx.createGain();
    osc.type = "sine";
    osc.frequency.value = freq;
    gain.gain.setValueAtTime(0, when);
    gain.gain.linearRampToValueAtTime(0.35, when + 0.02);
    gain.gain.linearRampToValueAtTime(0, when + 0.2);
    osc.connect(gain).connect(this.ctx.destination);
    osc.start(when);
    osc.stop(when + 0.21);
  }

  stop() {
    this.playing = false;
    clearInterval(this.timer);
    this.timer = null;
    if (navigator.vibrate) navigator.vibrate(0);
  }
}

const ringtone = new Ringtone();
let socket = null;
let current = null; // the SOS shown
let el = null;
let ticker = null;

function ensureCss() {
  if (document.querySelector('link[href="/static/sos.css"]')) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/sos.css";
  document.head.appendChild(link);
}

function node(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined) n.textContent = text;
  return n;
}

function build() {
  if (el) return el;
  ensureCss();
  el = node("div", "sos-ring");
  el.id = "sos-ring";
  el.setAttribute("role", "alertdialog");
  el.setAttribute("aria-modal", "true");
  el.setAttribute("aria-labelledby", "sos-ring-name");
  el.hidden = true;
  const card = node("div", "sos-ring-card");
  const name = node("p", "sos-ring-name");
  name.id = "sos-ring-name";
  card.append(node("p", "sos-ring-title", "SOS — EMERGENCY CALL"), name, node("p", "sos-ring-kind"),
    node("p", "sos-ring-where"), node("ul", "sos-ring-vitals"), node("p", "sos-ring-note"),
    node("div", "sos-ring-actions"));
  el.appendChild(card);
  document.body.appendChild(el);
  return el;
}

function button(id, cls, text, onClick) {
  const b = node("button", cls, text);
  b.type = "button";
  b.id = id;
  b.addEventListener("click", onClick);
  return b;
}

function whereText(loc) {
  if (!loc) return "Location not given";
  if (loc.address) return `📍 ${loc.address}`;
  return `📍 ${Number(loc.lat).toFixed(5)}, ${Number(loc.lon).toFixed(5)}`;
}

function ago(iso) {
  const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  return s < 60 ? `${s} s ago` : `${Math.floor(s / 60)} min ago`;
}

/** Show ``sos`` in ``mode`` (ringing, accepting, answered, cancelled, ended, error). */
function render(sos, mode, note = "") {
  const box = build();
  box.hidden = false;
  box.dataset.state = mode;
  box.dataset.sosId = sos.id;
  box.querySelector(".sos-ring-name").textContent = (sos.elder && sos.elder.name) || "Someone";
  box.querySelector(".sos-ring-kind").textContent = `${KINDS[sos.kind] || "SOS"} · ${ago(sos.created_at)}`;
  box.querySelector(".sos-ring-where").textContent = whereText(sos.location);
  const vitals = box.querySelector(".sos-ring-vitals");
  vitals.replaceChildren();
  for (const [key, value] of Object.entries(sos.vitals || {})) {
    const [label, unit] = VITALS[key] || [key.replace(/_/g, " "), ""];
    const li = node("li");
    li.dataset.vital = key;
    li.append(`${label}: `, node("b", "", `${value}${unit}`));
    vitals.appendChild(li);
  }
  box.querySelector(".sos-ring-note").textContent = note;
  const actions = box.querySelector(".sos-ring-actions");
  actions.replaceChildren();
  if (mode === "ringing" || mode === "accepting") {
    const yes = button("sos-accept", "sos-accept", "Accept", () => accept(sos));
    const no = button("sos-decline", "sos-decline", "Decline", () => decline(sos));
    yes.disabled = no.disabled = mode === "accepting";
    actions.append(yes, no);
    yes.focus();
  } else if (mode === "answered") {
    actions.append(button("sos-join", "sos-join", "Join too", () => joinRoom(sos.room_id)),
      button("sos-dismiss", "sos-dismiss", "Dismiss", hide));
  } else {
    actions.append(button("sos-dismiss", "sos-dismiss", "Dismiss", hide));
  }
  clearInterval(ticker);
  ticker = setInterval(() => {
    if (current && !el.hidden) el.querySelector(".sos-ring-kind").textContent = `${KINDS[current.kind] || "SOS"} · ${ago(current.created_at)}`;
  }, 1000);
}

function hide() {
  ringtone.stop();
  clearInterval(ticker);
  if (el) el.hidden = true;
  current = null;
}

function request(event, data) {
  return new Promise((resolve, reject) => {
    if (!socket || !socket.connected) {
      reject(Object.assign(new Error("Not connected to the server."), { code: "network" }));
      return;
    }
    socket.timeout(ACK_TIMEOUT_MS).emit(event, data, (err, ack) => {
      if (err) reject(Object.assign(new Error("The server did not answer in time."), { code: "timeout" }));
      else if (ack && ack.error) reject(Object.assign(new Error(ack.error.message), ack.error));
      else resolve(ack);
    });
  });
}

function joinRoom(roomId) {
  hide();
  const target = `/room/${encodeURIComponent(roomId)}`;
  if (location.pathname !== target) location.assign(target);
}

async function accept(sos) {
  render(sos, "accepting", "Connecting…");
  try {
    const ack = await request("sos:accept", { sos_id: sos.id });
    ringtone.stop();
    joinRoom(ack.room_id);
  } catch (err) {
    ringtone.stop();
    if (err.code === "sos_already_answered") {
      const who = (err.answered_by && err.answered_by.name) || "Someone else";
      render(sos, "answered", `${who} answered.`);
    } else if (err.code === "bad_state") {
      render(sos, "ended", "This SOS is over.");
    } else {
      render(sos, "ringing", err.message);
    }
  }
}

async function decline(sos) {
  hide();
  try { await request("sos:decline", { sos_id: sos.id }); } catch { /* shown nowhere: declining anyway */ }
}

function onRing({ sos }) {
  if (!sos || !sos.id) return;
  if (current && current.id === sos.id && el && !el.hidden && el.dataset.state !== "ringing") return;
  current = sos;
  render(sos, "ringing");
  ringtone.start();
  request("sos:ringing", { sos_id: sos.id }).catch(() => {});
}

function onStop({ sos_id: sosId, answered_by: by, reason }) {
  if (!current || current.id !== sosId) return;
  ringtone.stop();
  if (reason === "answered") render(current, "answered", `${(by && by.name) || "Someone"} answered.`);
  else if (reason === "cancelled") render(current, "cancelled", `${(current.elder && current.elder.name) || "The caller"} cancelled the alarm.`);
  else if (reason === "declined") hide();
  else render(current, "ended", "This SOS is over.");
}

function onUpdate({ sos }) {
  if (!current || !sos || current.id !== sos.id) return;
  current = sos;
  if (sos.status === "ended" || sos.status === "cancelled") {
    ringtone.stop();
    if (el && el.dataset.state !== "cancelled") render(sos, sos.status, sos.status === "ended" ? "This SOS is over." : "The alarm was cancelled.");
  }
}

function start() {
  const token = getToken();
  if (!token || tokenExpired(token)) {
    setTimeout(start, 2000); // the sign-in page: wait for a sign-in
    return;
  }
  const claims = tokenClaims(token) || {};
  if (claims.role === "elder") return;
  socket = io(location.origin, { auth: { token }, transports: ["websocket"] });
  socket.on("sos:ring", onRing);
  socket.on("sos:ring_stop", onStop);
  socket.on("sos:update", onUpdate);
  socket.on("connect_error", (err) => {
    const code = err && err.data && err.data.error && err.data.error.code;
    if (AUTH_CODES.has(code)) socket.disconnect();
  });
  window.carertcSos = { get socket() { return socket; }, get current() { return current; }, ringtone };
}

start();
