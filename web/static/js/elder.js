// The elder's home page (/elder) and the kiosk (/kiosk): one huge SOS button. Tapping it raises an
// SOS (sos:raise) at once; the server answers with sos:start_call and this page joins the SOS room
// straight away, publishing camera and microphone (CallSession), so whoever accepts sees the elder
// at once. The page shows who answered, then the video; "Cancel" calls off a false alarm.
//
// Hooks: body[data-sos=idle|raising|ringing|answered|ended], #btn-sos, #btn-cancel, #btn-end,
// #elder-status, #sos-answered, #remote-video, #self-video, #conn[data-state].
// window.carertcElder = {socket, sos, call}.
import { io } from "/static/vendor/socket.io.esm.min.js";
import { CallSession } from "./call.js";
import { getToken, getUser, saveSession, tokenClaims } from "./session.js";

const $ = (id) => document.getElementById(id);
const ACK_TIMEOUT_MS = 10000;
const kiosk = document.body.dataset.kiosk === "true";

const params = new URLSearchParams(location.search);
let token = params.get("token") || "";
if (token) {
  saveSession(token, getUser());
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : ""));
} else {
  token = getToken();
}
const claims = token ? tokenClaims(token) || {} : {};
const me = claims.sub || "";

let socket = null;
let sos = null;
let call = null;
let position = null;

function setState(state, text, kind = "") {
  document.body.dataset.sos = state;
  const status = $("elder-status");
  status.textContent = text;
  status.dataset.kind = kind;
  $("btn-sos").hidden = !(state === "idle" || state === "ended");
  $("btn-sos").disabled = state === "raising";
  $("btn-cancel").hidden = !(state === "raising" || state === "ringing");
  $("btn-end").hidden = state !== "answered";
  $("elder-call").hidden = !(state === "ringing" || state === "answered");
}

function request(event, data) {
  return new Promise((resolve, reject) => {
    if (!socket || !socket.connected) {
      reject(Object.assign(new Error("Not connected. Trying again…"), { code: "network" }));
      return;
    }
    socket.timeout(ACK_TIMEOUT_MS).emit(event, data, (err, ack) => {
      if (err) reject(Object.assign(new Error("No answer from the server."), { code: "timeout" }));
      else if (ack && ack.error) reject(Object.assign(new Error(ack.error.message), ack.error));
      else resolve(ack);
    });
  });
}

function showSos(next) {
  sos = next;
  if (!sos || sos.elder.id !== me) return;
  if (sos.status === "ringing") {
    setState("ringing", "Calling your family and doctor…", "alert");
  } else if (sos.status === "answered") {
    const who = (sos.answered_by && sos.answered_by.name) || "Someone";
    $("sos-answered").textContent = who;
    setState("answered", `${who} answered`, "ok");
  } else {
    endCall();
    setState("ended", sos.status === "cancelled" ? "Alarm cancelled." : "The call has ended.");
  }
}

function startCall(roomId) {
  if (call && call.roomId === roomId && !call.left) return;
  if (call) call.leave();
  call = new CallSession({ origin: location.origin, token, roomId });
  call.addEventListener("change", () => renderCall());
  call.start().catch(() => {});
}

function endCall() {
  if (call) {
    call.leave();
    call = null;
  }
  $("remote-video").srcObject = null;
  $("self-video").srcObject = null;
}

function renderCall() {
  if (!call) return;
  const self = $("self-video");
  const cam = call.tracks.camera;
  if (cam && (!self.srcObject || self.srcObject.getVideoTracks()[0] !== cam)) {
    self.srcObject = new MediaStream([cam]);
  }
  // the first remote camera on the big screen; every remote audio track through one element
  const remote = [...call.consumers.values()].filter((c) => c.track && c.participant_id !== call.selfId);
  const video = remote.find((c) => c.kind === "video" && c.source === "camera");
  const big = $("remote-video");
  const current = big.srcObject && big.srcObject.getVideoTracks()[0];
  if (video && current !== video.track) big.srcObject = new MediaStream([video.track]);
  if (!video && current) big.srcObject = null;
  const audio = $("remote-audio");
  const tracks = remote.filter((c) => c.kind === "audio").map((c) => c.track);
  const have = audio.srcObject ? audio.srcObject.getAudioTracks() : [];
  if (tracks.length !== have.length || tracks.some((t, i) => t !== have[i])) {
    audio.srcObject = tracks.length ? new MediaStream(tracks) : null;
    if (tracks.length) audio.play().catch(() => {});
  }
  for (const v of [self, big]) if (v.srcObject && v.paused) v.play().catch(() => {});
}

async function raise() {
  setState("raising", "Sending your alarm…", "alert");
  const body = kiosk ? { kiosk: true } : {};
  if (position) body.location = position;
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const ack = await request("sos:raise", body);
      showSos(ack.sos);
      return;
    } catch (err) {
      if (err.code === "permission_denied" || err.code === "bad_request") {
        setState("idle", err.message, "alert");
        return;
      }
      setState("raising", "Still trying to send your alarm…", "alert");
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
  setState("idle", "The alarm could not be sent. Tap again, or call for help by phone.", "alert");
}

async function cancel() {
  if (!sos) return;
  try {
    const ack = await request("sos:cancel", { sos_id: sos.id });
    showSos(ack.sos);
  } catch (err) {
    setState(document.body.dataset.sos, err.message, "alert");
  }
}

async function end() {
  if (!sos) return;
  try { showSos((await request("sos:end", { sos_id: sos.id })).sos); } catch { endCall(); }
}

function watchPosition() {
  // only if already allowed: the SOS never waits for a permission prompt
  if (!navigator.geolocation || !navigator.permissions) return;
  navigator.permissions.query({ name: "geolocation" }).then((p) => {
    if (p.state !== "granted") return;
    navigator.geolocation.watchPosition((pos) => {
      position = { lat: pos.coords.latitude, lon: pos.coords.longitude,
        accuracy_m: Math.min(100000, Math.round(pos.coords.accuracy || 0)) };
    }, () => {}, { maximumAge: 60000 });
  }).catch(() => {});
}

function start() {
  $("btn-sos").addEventListener("click", raise);
  $("btn-cancel").addEventListener("click", cancel);
  $("btn-end").addEventListener("click", end);
  if (!token) {
    setState("idle", kiosk ? "This kiosk has no sign-in link." : "Please sign in first.", "alert");
    $("btn-sos").disabled = true;
    return;
  }
  const name = (getUser() && getUser().display_name) || claims.name || "";
  $("elder-name").textContent = kiosk ? "" : name;
  setState("idle", kiosk ? "Tap the button if you need help" : "Tap the button if you need help");
  socket = io(location.origin, { auth: { token }, transports: ["websocket"] });
  const conn = $("conn");
  socket.on("connect", async () => {
    conn.dataset.state = "online";
    conn.textContent = "Connected";
    try {
      const ack = await request("sos:active", {});
      const mine = (ack.sos || []).find((s) => s.elder.id === me);
      if (mine) showSos(mine);
    } catch { /* shown by the next event */ }
  });
  socket.on("disconnect", () => { conn.dataset.state = "offline"; conn.textContent = "Reconnecting…"; });
  socket.on("connect_error", (err) => {
    const code = err && err.data && err.data.error && err.data.error.code;
    if (code) {
      conn.dataset.state = "failed";
      conn.textContent = "Sign-in link not valid";
      socket.disconnect();
    }
  });
  socket.on("sos:start_call", ({ sos_id: sosId, room_id: roomId }) => {
    if (sos && sos.id !== sosId && (sos.status === "ringing" || sos.status === "answered")) return;
    startCall(roomId);
  });
  socket.on("sos:update", ({ sos: next }) => showSos(next));
  window.carertcElder = { get socket() { return socket; }, get sos() { return sos; }, get call() { return call; } };
  watchPosition();
}

start();
