// The call page: renders a CallSession (call.js) as a grid of tiles plus the control bar.
//
// Stable hooks for tests and styling:
//   #status[data-state]                     connection state (see CallSession "status")
//   #error[data-code] #error-text           the last error (hidden when none)
//   #notice[data-code] #notice-text         information (joined without media, sound blocked, ...)
//   .tile[data-participant-id][data-source="camera"|"screen"][data-self]
//        [data-audio-muted][data-video-muted]  one per participant camera and per screen share
//   audio[data-consumer-id][data-participant-id] in #audio-sink, one per remote audio track
//   #btn-mic #btn-camera #btn-screen #btn-leave (aria-pressed = muted / sharing)
//   #btn-chat #chat-badge #chat-panel      the room's chat (room-chat.js)
//   recording, composite, pixelation, snapshots: see call-recording.js
import { CallSession } from "./call.js";
import { AUTH_CODES, describeError } from "./errors.js";
import { mountCallRecording } from "./call-recording.js";
import { mountHostControls } from "./host-controls.js";
import { icon } from "./icons.js";
import { mountRoomChat } from "./room-chat.js";
import { clearSession, getToken, getUser, saveSession, tokenClaims } from "./session.js";

const $ = (id) => document.getElementById(id);

// ---- room id and token ------------------------------------------------------------------------

const roomId = decodeURIComponent(location.pathname.replace(/^\/room\//, "").replace(/\/$/, ""));
$("room-id").textContent = roomId;
document.title = `CareRTC — ${roomId}`;

const params = new URLSearchParams(location.search);
let token = params.get("token") || "";
if (token) {
  // keep it for reloads, take it out of the address bar and history
  saveSession(token, getUser());
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
} else {
  token = getToken();
}
const claims = token ? tokenClaims(token) || {} : {};
const user = getUser();
const myName = (user && (user.display_name || user.name)) || claims.name || "You";

// ---- banners ----------------------------------------------------------------------------------

function signInHref(reason) {
  const q = new URLSearchParams({ room: roomId });
  if (reason) q.set("reason", reason);
  return `/?${q}`;
}

function setStatus(state, message) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = message;
  document.body.dataset.state = state;
}

function showError(code, message, fatal) {
  const box = $("error");
  box.dataset.code = code || "error";
  box.dataset.fatal = fatal ? "true" : "false";
  $("error-text").textContent = message || describeError(code);
  const actions = $("error-actions");
  actions.replaceChildren();
  const link = (text, href, id) => {
    const a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    a.className = "btn";
    a.id = id;
    actions.appendChild(a);
  };
  if (AUTH_CODES.has(code)) {
    clearSession(); // the sign-in page must ask again, not reuse this token
    link("Sign in again", signInHref(code === "token_expired" ? "expired" : "signin"), "btn-signin-again");
  } else if (code === "room_forbidden") {
    link("Choose another room", signInHref(), "btn-back");
  } else if (fatal) {
    link("Try again", location.pathname, "btn-retry");
  } else {
    const close = document.createElement("button");
    close.type = "button";
    close.className = "link";
    close.textContent = "Dismiss";
    close.addEventListener("click", () => { box.hidden = true; });
    actions.appendChild(close);
  }
  box.hidden = false;
}

function clearError() {
  const box = $("error");
  if (box.dataset.fatal !== "true") box.hidden = true;
}

function showNotice(code, message) {
  const box = $("notice");
  box.dataset.code = code || "info";
  $("notice-text").textContent = message;
  box.hidden = false;
}
$("btn-notice-close").addEventListener("click", () => { $("notice").hidden = true; });

// ---- tiles ------------------------------------------------------------------------------------

const tiles = new Map(); // key -> {el, video, name, track}
const audios = new Map(); // consumer id -> {el, track}
let soundBlocked = false;

function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  return ((parts[0] || "?")[0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}

function makeTile(key) {
  const el = document.createElement("figure");
  el.className = "tile";
  el.dataset.key = key;
  const video = document.createElement("video");
  video.autoplay = true;
  video.playsInline = true;
  video.muted = true; // sound goes through the <audio> elements
  video.setAttribute("playsinline", "");
  const avatar = document.createElement("div");
  avatar.className = "avatar";
  avatar.setAttribute("aria-hidden", "true");
  const label = document.createElement("figcaption");
  label.className = "tile-label";
  const name = document.createElement("span");
  name.className = "tile-name";
  const micOff = document.createElement("span");
  micOff.className = "badge badge-mic-off";
  micOff.title = "Microphone muted";
  micOff.appendChild(icon("micOff"));
  const camOff = document.createElement("span");
  camOff.className = "badge badge-cam-off";
  camOff.title = "Camera off";
  camOff.appendChild(icon("cameraOff"));
  label.append(micOff, camOff, name);
  el.append(video, avatar, label);
  return { el, video, avatar, name, track: null };
}

function setVideoTrack(tile, track) {
  if (tile.track === track) return;
  tile.track = track;
  tile.video.srcObject = track ? new MediaStream([track]) : null;
  if (track) tile.video.play().catch(() => { /* muted video autoplays; retried on next render */ });
}

function setAudioTrack(entry, track) {
  if (entry.track === track) return;
  entry.track = track;
  entry.el.srcObject = track ? new MediaStream([track]) : null;
  if (track) playAudio(entry.el);
}

function playAudio(el) {
  el.play().catch((err) => {
    if (err && err.name === "NotAllowedError" && !soundBlocked) {
      soundBlocked = true;
      showNotice("sound_blocked", "The browser blocked sound until you interact with the page. Click anywhere to hear the others.");
      const unblock = () => {
        soundBlocked = false;
        for (const a of audios.values()) a.el.play().catch(() => {});
        if ($("notice").dataset.code === "sound_blocked") $("notice").hidden = true;
      };
      document.addEventListener("click", unblock, { once: true });
      document.addEventListener("keydown", unblock, { once: true });
    }
  });
}

function render(session) {
  const wanted = [];
  const selfP = session.self || {};
  // others: one camera tile per participant, one tile per screen share
  const byParticipant = new Map();
  for (const c of session.consumers.values()) {
    const owner = c.source === "composite" ? "composite" : c.participant_id;
    if (!byParticipant.has(owner)) byParticipant.set(owner, []);
    byParticipant.get(owner).push(c);
  }
  const others = new Map();
  // the room's composite (media:composite, call-recording.js) is a tile of its own
  if (byParticipant.has("composite")) others.set("composite", { id: "composite", name: "Composite view" });
  for (const p of session.participants.values()) if (p.id !== session.selfId) others.set(p.id, p);
  for (const pid of byParticipant.keys()) if (pid !== session.selfId && !others.has(pid)) others.set(pid, { id: pid });
  const audioWanted = new Map();
  for (const p of others.values()) {
    const cs = byParticipant.get(p.id) || [];
    const cam = cs.find((c) => c.kind === "video" && c.source !== "screen");
    const mic = cs.find((c) => c.kind === "audio");
    const displayName = p.name || "Participant";
    wanted.push({
      key: `${p.id}:camera`,
      participantId: p.id,
      source: "camera",
      self: false,
      name: displayName,
      role: p.role || "",
      track: cam && cam.track && !p.video_muted ? cam.track : null,
      audioMuted: !!p.audio_muted || !mic,
      videoMuted: !!p.video_muted || !cam,
    });
    for (const c of cs) {
      if (c.kind === "video" && c.source === "screen") {
        wanted.push({
          key: `${p.id}:screen:${c.id}`,
          participantId: p.id,
          source: "screen",
          self: false,
          name: `${displayName}'s screen`,
          track: c.track,
          audioMuted: false,
          videoMuted: false,
        });
      }
      if (c.kind === "audio" && c.track) audioWanted.set(c.id, c);
    }
  }

  const mine = [];
  // self last: camera preview and, while sharing, the screen preview
  mine.push({
    key: "self:camera",
    participantId: session.selfId || "self",
    source: "camera",
    self: true,
    name: `${selfP.name || myName} (you)`,
    track: session.tracks.camera,
    audioMuted: !session.tracks.microphone || session.muted.microphone,
    videoMuted: !session.tracks.camera || session.muted.camera,
  });
  if (session.tracks.screen) {
    mine.push({
      key: "self:screen",
      participantId: session.selfId || "self",
      source: "screen",
      self: true,
      name: "Your screen",
      track: session.tracks.screen,
      audioMuted: false,
      videoMuted: false,
    });
  }
  wanted.push(...mine);

  const grid = $("grid");
  const keep = new Set(wanted.map((w) => w.key));
  for (const [key, tile] of tiles) {
    if (!keep.has(key)) {
      tile.video.srcObject = null;
      tile.el.remove();
      tiles.delete(key);
    }
  }
  let index = 0;
  for (const w of wanted) {
    let tile = tiles.get(w.key);
    if (!tile) {
      tile = makeTile(w.key);
      tiles.set(w.key, tile);
    }
    const el = tile.el;
    el.dataset.participantId = w.participantId;
    el.dataset.source = w.source;
    if (w.self) el.dataset.self = "true"; else delete el.dataset.self;
    if (w.role) el.dataset.role = w.role; else delete el.dataset.role;
    el.dataset.audioMuted = String(!!w.audioMuted);
    el.dataset.videoMuted = String(!!w.videoMuted);
    el.classList.toggle("tile-screen", w.source === "screen");
    el.classList.toggle("tile-self", !!w.self);
    tile.name.textContent = w.name;
    tile.avatar.textContent = initials(w.self ? (selfP.name || myName) : w.name);
    el.setAttribute("aria-label", w.name);
    setVideoTrack(tile, w.track || null);
    el.classList.toggle("no-video", !w.track || (w.self && w.videoMuted));
    // keep DOM order = wanted order (screens right after their owner)
    if (grid.children[index] !== el) grid.insertBefore(el, grid.children[index] || null);
    index++;
  }
  grid.dataset.count = String(wanted.length);
  grid.classList.toggle("has-screen", wanted.some((w) => w.source === "screen"));
  layoutGrid();

  const sink = $("audio-sink");
  for (const [cid, entry] of audios) {
    if (!audioWanted.has(cid)) {
      entry.el.srcObject = null;
      entry.el.remove();
      audios.delete(cid);
    }
  }
  for (const [cid, c] of audioWanted) {
    let entry = audios.get(cid);
    if (!entry) {
      const el = document.createElement("audio");
      el.autoplay = true;
      el.dataset.consumerId = cid;
      sink.appendChild(el);
      entry = { el, track: null };
      audios.set(cid, entry);
    }
    entry.el.dataset.participantId = c.participant_id;
    setAudioTrack(entry, c.track);
  }

  renderControls(session);
}

/**
 * Size the tiles to use the space: flex mode picks the column count that gives the largest 16:9
 * tiles; stage mode (a remote screen share, landscape) puts the screen on a stage and the
 * cameras in a strip on the right.
 */
function layoutGrid() {
  const grid = $("grid");
  const items = Array.from(grid.children);
  const n = items.length;
  if (!n) return;
  const cs = getComputedStyle(grid);
  const gap = parseFloat(cs.columnGap) || 0;
  const W = grid.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  const H = grid.clientHeight - parseFloat(cs.paddingTop) - parseFloat(cs.paddingBottom);
  if (W <= 0 || H <= 0) return;
  const stageTile = items.find((el) => el.dataset.source === "screen" && el.dataset.self !== "true");
  const useStage = !!stageTile && n > 1 && W > H * 1.1 && W > 640;
  for (const el of items) el.classList.toggle("stage-main", useStage && el === stageTile);
  grid.classList.toggle("stage", useStage);
  if (useStage) {
    const strip = n - 1;
    const byHeight = ((H - gap * (strip - 1)) / strip) * (16 / 9);
    const stripW = Math.max(120, Math.min(W * 0.28, 360, byHeight));
    grid.style.setProperty("--strip-w", `${Math.floor(stripW)}px`);
    grid.style.setProperty("--strip-n", String(strip));
    return;
  }
  let best = 0;
  for (let cols = 1; cols <= n; cols++) {
    const rows = Math.ceil(n / cols);
    const w = Math.min((W - gap * (cols - 1)) / cols, ((H - gap * (rows - 1)) / rows) * (16 / 9));
    if (w > best) best = w;
  }
  grid.style.setProperty("--tile-w", `${Math.max(120, Math.floor(best))}px`);
}

function setButton(btn, { pressed, label, iconName, disabled, title }) {
  btn.setAttribute("aria-pressed", String(!!pressed));
  btn.disabled = !!disabled;
  btn.querySelector(".ctl-label").textContent = label;
  const holder = btn.querySelector(".ctl-icon");
  if (holder.dataset.icon !== iconName) {
    holder.replaceChildren(icon(iconName));
    holder.dataset.icon = iconName;
  }
  btn.title = title || label;
}

function renderControls(session) {
  const live = session.joined && !session.left;
  const hasMic = !!session.tracks.microphone;
  const micMuted = hasMic && session.muted.microphone;
  setButton($("btn-mic"), {
    pressed: micMuted,
    label: !hasMic ? "No microphone" : micMuted ? "Unmute" : "Mute",
    iconName: micMuted || !hasMic ? "micOff" : "mic",
    disabled: !session.tracks.microphone || session.left,
    title: session.tracks.microphone ? undefined : "No microphone in use",
  });
  const hasCam = !!session.tracks.camera;
  const camOff = hasCam && session.muted.camera;
  setButton($("btn-camera"), {
    pressed: camOff,
    label: !hasCam ? "No camera" : camOff ? "Start video" : "Stop video",
    iconName: camOff || !hasCam ? "cameraOff" : "camera",
    disabled: !session.tracks.camera || session.left,
    title: session.tracks.camera ? undefined : "No camera in use",
  });
  const sharing = !!session.tracks.screen;
  const canShare = live && session.permissions.screen && !!(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  setButton($("btn-screen"), {
    pressed: sharing,
    label: sharing ? "Stop sharing" : "Share screen",
    iconName: "screen",
    disabled: !sharing && !canShare,
    title: !canShare && !sharing ? "Screen sharing is not available" : undefined,
  });
  setButton($("btn-leave"), {
    pressed: false,
    label: session.left ? "Left" : "Leave",
    iconName: "leave",
    disabled: session.left,
  });
}

// ---- wiring -----------------------------------------------------------------------------------

function start() {
  if (!token) {
    setStatus("failed", "Not signed in");
    showError("token_missing", describeError("token_missing"), true);
    renderControls({ joined: false, left: true, muted: {}, tracks: {}, permissions: {} });
    return;
  }
  const session = new CallSession({ origin: location.origin, token, roomId });
  window.carertc = session; // for debugging from the console
  session.addEventListener("change", () => render(session));
  session.addEventListener("status", (ev) => {
    const { state, message } = ev.detail;
    setStatus(state, message);
    if (state === "reconnecting") showNotice("reconnecting", message);
    if (state === "joined" || state === "failed" || state === "left") {
      if ($("notice").dataset.code === "reconnecting") $("notice").hidden = true;
    }
    if (state === "joined") clearError();
  });
  session.addEventListener("error", (ev) => showError(ev.detail.code, ev.detail.message, ev.detail.fatal));
  session.addEventListener("notice", (ev) => showNotice(ev.detail.code, ev.detail.message));

  const guard = (fn) => async () => {
    try { await fn(); } catch (err) {
      if (err && err.code === "screen_cancelled") showNotice(err.code, err.message);
      else showError(err && err.code, err && err.message, false);
    }
    render(session);
  };
  $("btn-mic").addEventListener("click", guard(() => session.setMuted("microphone", !session.muted.microphone)));
  $("btn-camera").addEventListener("click", guard(() => session.setMuted("camera", !session.muted.camera)));
  $("btn-screen").addEventListener("click", guard(async () => {
    const btn = $("btn-screen");
    btn.disabled = true;
    try {
      if (session.tracks.screen) await session.stopScreen();
      else await session.startScreen();
    } finally {
      btn.disabled = false;
    }
  }));
  $("btn-leave").addEventListener("click", guard(async () => {
    await session.leave();
    const actions = $("error-actions");
    $("notice").hidden = true;
    const box = $("error");
    box.hidden = true;
    showNotice("left", "You left the call.");
    const again = document.createElement("a");
    again.href = location.pathname;
    again.className = "btn";
    again.id = "btn-rejoin";
    again.textContent = "Rejoin";
    const home = document.createElement("a");
    home.href = "/";
    home.className = "btn";
    home.textContent = "Home";
    $("notice-text").append(" ", again, " ", home);
    actions.replaceChildren();
  }));
  window.addEventListener("pagehide", () => { if (!session.left) session.leave(); });

  new ResizeObserver(() => layoutGrid()).observe($("grid"));
  render(session);
  session.start().catch((err) => showError(err.code, err.message, true));
  mountHostControls(session, { showNotice, showError });
  mountCallRecording(session, { showNotice, showError });

  $("btn-chat").querySelector(".ctl-icon").replaceChildren(icon("chat"));
  mountRoomChat({ roomId, token, panel: $("chat-panel"), toggle: $("btn-chat"), badge: $("chat-badge") })
    .catch((err) => console.warn("carertc chat:", err));
}

start();
