// CallSession: the signaling + WebRTC side of a call, with no DOM. The page (room.js) listens to
// its events and renders its state. Contract: docs/PROTOCOL.md.
//
// Two peer connections to the SFU, both non-trickle (ICE gathering completes before the SDP is sent):
//   send: the client offers (media:publish {sdp, sources: {mid: source}}), the server answers;
//   recv: the server offers (media:offer {sdp, consumers}), the client answers (media:answer).
//
// Events (all CustomEvent, details in brackets):
//   "change"  (none)                    state changed: re-render from the session's fields
//   "status"  {state, message}          connection state: starting|connecting|joining|joined|
//                                       reconnecting|left|failed
//   "error"   {code, message, fatal}    something failed; fatal = the call cannot go on by itself
//   "notice"  {code, message}           information (joined without media, ...)
import { io } from "/static/vendor/socket.io.esm.min.js";
import { AUTH_CODES, CallError, describeError } from "./errors.js";

const ACK_TIMEOUT_MS = 15000;
const GATHER_TIMEOUT_MS = 4000;
const FATAL_JOIN_CODES = new Set(["room_full", "room_forbidden", "bad_request", "already_in_room"]);

/** Wait until the peer connection has gathered all ICE candidates (or the timeout passes). */
export function waitForIceGathering(pc, timeoutMs = GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const check = () => { if (pc.iceGatheringState === "complete") done(); };
    const onCandidate = (ev) => { if (!ev.candidate) done(); };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

/** Put VP8 first for video (the SFU forwards without transcoding; every browser decodes VP8). */
function preferVp8(transceiver, kind) {
  if (kind !== "video" || typeof transceiver.setCodecPreferences !== "function") return;
  try {
    const caps = (RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities("video")) || null;
    if (!caps || !caps.codecs) return;
    const vp8 = caps.codecs.filter((c) => c.mimeType.toLowerCase() === "video/vp8");
    if (!vp8.length) return;
    const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== "video/vp8");
    transceiver.setCodecPreferences([...vp8, ...rest]);
  } catch {
    // keep the browser's default order
  }
}

export class CallSession extends EventTarget {
  /**
   * @param {{origin: string, token: string, roomId: string}} opts
   */
  constructor({ origin, token, roomId }) {
    super();
    this.origin = origin;
    this.token = token;
    this.roomId = roomId;

    this.state = "idle";
    this.socket = null;
    this.epoch = 0; // bumps on every (dis)connection: async work of an older epoch is dropped
    this.joinedEpoch = -1;
    this.everJoined = false;
    this.left = false;
    this.failed = false;

    // local media
    this.localStream = null;
    this.screenStream = null;
    this.tracks = { camera: null, microphone: null, screen: null };
    this.muted = { camera: false, microphone: false };
    this.mediaIssue = null; // why we publish nothing (permission denied, no device), or null

    // room state (from room:join and notifications)
    this.selfId = null;
    this.self = null;
    this.participants = new Map(); // participant id -> Participant (self included)
    this.permissions = { publish: false, screen: false };
    this.iceServers = [];
    this.locked = false; // the host locked the room (room:join ack; then host-controls.js)

    // send side
    this.sendPc = null;
    this.sendTx = new Map(); // source -> RTCRtpTransceiver
    this.producers = [];
    this.sendChain = Promise.resolve();

    // receive side
    this.recvPc = null;
    this.consumers = new Map(); // consumer id -> {...Consumer, track}
    this.closedConsumers = new Set();
    this.recvChain = Promise.resolve();

    this.lastRestart = 0;
    this.mediaReady = Promise.resolve();
  }

  // ---- public API ---------------------------------------------------------------------------

  get joined() {
    return this.joinedEpoch === this.epoch && !!this.socket && this.socket.connected;
  }

  /** Connect and join while the camera and microphone start (or the user is asked for them). */
  async start() {
    this.setStatus("connecting", "Connecting…");
    this.mediaReady = this.acquireMedia().catch((err) => {
      this.reportError(err, false);
    });
    this.connect();
    await this.mediaReady;
  }

  /** Mute or unmute "camera" or "microphone": track.enabled locally, media:mute/unmute on the server. */
  async setMuted(source, muted) {
    const track = this.tracks[source];
    if (!track) {
      throw new CallError("no_device", source === "camera"
        ? "No camera is in use, so there is no video to turn on or off."
        : "No microphone is in use, so there is nothing to mute.");
    }
    this.muted[source] = muted;
    track.enabled = !muted;
    this.changed();
    if (this.joined && this.sendTx.has(source)) {
      try {
        await this.request(muted ? "media:mute" : "media:unmute", { source });
      } catch (err) {
        if (err.code !== "not_publishing") throw err;
      }
    }
  }

  /** Share a screen: getDisplayMedia, screen:start, a new sendonly transceiver, media:publish. */
  async startScreen() {
    if (this.tracks.screen) return;
    if (!this.joined) throw new CallError("not_in_room", "Wait until you are in the call to share your screen.");
    if (!this.permissions.screen) {
      throw new CallError("permission_denied", "Your role is not allowed to share the screen in this room.");
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia) {
      throw new CallError("unsupported", "This browser cannot share the screen.");
    }
    let stream;
    try {
      // first, while the click's user activation is fresh
      stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    } catch (err) {
      if (err && err.name === "NotAllowedError") {
        throw new CallError("screen_cancelled", "Screen sharing was cancelled or blocked by the browser.");
      }
      throw new CallError("screen_failed", `Screen sharing could not start (${err && err.name}).`);
    }
    const track = stream.getVideoTracks()[0];
    if (!track) throw new CallError("screen_failed", "Screen sharing gave no video.");
    if ("contentHint" in track) track.contentHint = "detail";
    try {
      await this.request("screen:start", {});
    } catch (err) {
      stream.getTracks().forEach((t) => t.stop());
      throw err;
    }
    this.screenStream = stream;
    this.tracks.screen = track;
    track.addEventListener("ended", () => {
      // the browser's own "Stop sharing" button
      this.stopScreen().catch((err) => this.reportError(err, false));
    });
    this.changed();
    const epoch = this.epoch;
    try {
      await this.enqueueSend(() => this.publish(epoch));
    } catch (err) {
      await this.stopScreen().catch(() => {});
      throw err;
    }
  }

  /** Stop sharing: screen:stop (closes the producer), then drop the track and renegotiate. */
  async stopScreen() {
    const track = this.tracks.screen;
    if (!track) return;
    this.tracks.screen = null;
    this.screenStream = null;
    track.stop();
    this.changed();
    if (!this.joined) return;
    try {
      await this.request("screen:stop", {});
    } catch (err) {
      if (err.code !== "not_publishing") this.reportError(err, false);
    }
    const epoch = this.epoch;
    await this.enqueueSend(() => this.publish(epoch));
  }

  /** Leave the room for good: room:leave, close everything, stop the camera. */
  async leave() {
    if (this.left) return;
    this.left = true;
    if (this.socket && this.socket.connected && this.joinedEpoch === this.epoch) {
      try { await this.request("room:leave", {}); } catch { /* leaving anyway */ }
    }
    if (this.socket) this.socket.disconnect();
    this.teardownPeers();
    this.stopLocalMedia();
    this.setStatus("left", "You left the call.");
    this.changed();
  }

  // ---- local media --------------------------------------------------------------------------

  async acquireMedia() {
    const md = navigator.mediaDevices;
    if (!md || !md.getUserMedia) {
      this.mediaIssue = "no_api";
      this.notice("media_unavailable",
        "This browser cannot use a camera or microphone here (the page must be served over HTTPS). You joined without sending audio or video.");
      return;
    }
    const audio = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
    const video = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };
    let stream = null;
    try {
      stream = await md.getUserMedia({ audio, video });
      if (this.failed || this.left) {
        stream.getTracks().forEach((t) => t.stop());
        return;
      }
    } catch (err) {
      const name = err && err.name;
      if (name === "NotAllowedError" || name === "SecurityError") {
        this.mediaIssue = "permission_denied";
        this.notice("media_permission_denied",
          "Camera and microphone access was blocked, so you joined without sending audio or video. " +
          "Allow access in the browser's site settings and reload to be seen and heard.");
        return;
      }
      // No device, or one is busy: take whatever works on its own.
      const parts = [];
      for (const constraints of [{ audio }, { video }]) {
        try { parts.push(...(await md.getUserMedia(constraints)).getTracks()); } catch { /* try the next */ }
      }
      if (!parts.length) {
        this.mediaIssue = "no_device";
        this.notice("media_no_device",
          `No camera or microphone could be used (${name}), so you joined without sending audio or video.`);
        return;
      }
      stream = new MediaStream(parts);
      const hasVideo = stream.getVideoTracks().length > 0;
      this.notice("media_partial", hasVideo
        ? "No microphone could be used: others can see you but not hear you."
        : "No camera could be used: others can hear you but not see you.");
    }
    if (this.failed || this.left) {
      stream.getTracks().forEach((t) => t.stop());
      return;
    }
    this.localStream = stream;
    this.tracks.camera = stream.getVideoTracks()[0] || null;
    this.tracks.microphone = stream.getAudioTracks()[0] || null;
    for (const [source, track] of [["camera", this.tracks.camera], ["microphone", this.tracks.microphone]]) {
      if (!track) continue;
      track.addEventListener("ended", () => {
        this.notice("media_ended", source === "camera" ? "Your camera stopped (unplugged or taken by another app)."
          : "Your microphone stopped (unplugged or taken by another app).");
        this.changed();
      });
    }
    this.changed();
  }

  stopLocalMedia() {
    for (const key of Object.keys(this.tracks)) {
      if (this.tracks[key]) this.tracks[key].stop();
      this.tracks[key] = null;
    }
    this.localStream = null;
    this.screenStream = null;
  }

  hasLocalMedia() {
    return !!(this.tracks.camera || this.tracks.microphone || this.tracks.screen);
  }

  // ---- signaling ----------------------------------------------------------------------------

  connect() {
    this.setStatus("connecting", "Connecting…");
    const socket = io(this.origin, {
      auth: { token: this.token },
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      timeout: 10000,
    });
    this.socket = socket;
    socket.on("connect", () => { this.onConnect().catch((err) => this.reportError(err, false)); });
    socket.on("disconnect", (reason) => this.onDisconnect(reason));
    socket.on("connect_error", (err) => this.onConnectError(err));
    socket.io.on("reconnect_attempt", (attempt) => {
      if (this.left || this.failed) return;
      this.setStatus("reconnecting", this.everJoined
        ? `Connection lost. Reconnecting (attempt ${attempt})…`
        : `Cannot reach the server. Retrying (attempt ${attempt})…`);
    });

    socket.on("participant:joined", (msg) => {
      const p = msg && msg.participant;
      if (!p || !p.id) return;
      this.participants.set(p.id, p);
      this.changed();
    });
    socket.on("participant:updated", (msg) => {
      const p = msg && msg.participant;
      if (!p || !p.id) return;
      this.participants.set(p.id, p);
      if (p.id === this.selfId) this.self = p;
      this.changed();
    });
    socket.on("participant:left", (msg) => {
      const id = msg && msg.participant_id;
      if (!id) return;
      this.participants.delete(id);
      for (const [cid, c] of this.consumers) {
        if (c.participant_id === id) { this.consumers.delete(cid); this.closedConsumers.add(cid); }
      }
      this.changed();
    });
    socket.on("consumer:closed", (msg) => {
      const id = msg && msg.consumer_id;
      if (!id) return;
      this.closedConsumers.add(id);
      if (this.consumers.delete(id)) this.changed();
    });
    socket.on("media:offer", (msg) => {
      const epoch = this.epoch;
      this.enqueueRecv(() => this.handleOffer(msg || {}, epoch)).catch((err) => {
        if (epoch !== this.epoch) return;
        this.reportError(new CallError(err.code || "negotiation_failed",
          `Could not receive the others' audio and video (${err.message}). Reconnecting…`), false);
        // the server waits for an answer to this offer: start over on a fresh connection
        this.restart(false);
      });
    });
  }

  async onConnect() {
    const epoch = ++this.epoch;
    if (this.left) return;
    this.setStatus("joining", this.everJoined ? "Reconnected. Rejoining the room…" : "Joining the room…");
    let ack;
    try {
      ack = await this.request("room:join", { room_id: this.roomId });
    } catch (err) {
      if (epoch !== this.epoch) return;
      if (FATAL_JOIN_CODES.has(err.code)) {
        this.fail(err.code, err.message);
      } else if (err.code === "timeout" || err.code === "network") {
        this.reportError(new CallError(err.code, "The server did not answer the join request. Retrying…"), false);
        this.restart(true);
      } else {
        this.fail(err.code, err.message);
      }
      return;
    }
    if (epoch !== this.epoch) return;
    this.joinedEpoch = epoch;
    this.everJoined = true;
    this.selfId = ack.participant_id || (ack.self && ack.self.id) || null;
    this.self = ack.self || null;
    this.participants = new Map();
    for (const p of ack.participants || []) if (p && p.id) this.participants.set(p.id, p);
    if (this.self && this.self.id) this.participants.set(this.self.id, this.self);
    this.permissions = { publish: false, screen: false, ...(ack.permissions || {}) };
    this.iceServers = Array.isArray(ack.ice_servers) ? ack.ice_servers : [];
    this.locked = !!ack.locked;
    this.recording = ack.recording || null; // RecordingState (call-recording.js keeps it current)
    this.setStatus("joined", "In the call");
    this.changed();

    await this.mediaReady; // publish what the camera/microphone prompt gave us
    if (epoch !== this.epoch) return;
    if (!this.permissions.publish) {
      if (this.hasLocalMedia()) {
        this.notice("publish_not_allowed", "Your role can see and hear the others but cannot send audio or video in this room.");
      }
      if (this.tracks.screen) await this.stopScreen().catch(() => {});
      return;
    }
    if (this.tracks.screen && !this.permissions.screen) {
      await this.stopScreen().catch(() => {});
    }
    if (!this.hasLocalMedia()) return;
    try {
      if (this.tracks.screen) await this.request("screen:start", {});
      await this.enqueueSend(() => this.publish(epoch));
      // a rejoin starts unmuted on the server: restore what the user had muted
      for (const source of ["camera", "microphone"]) {
        if (this.muted[source] && this.sendTx.has(source) && epoch === this.epoch) {
          await this.request("media:mute", { source }).catch(() => {});
        }
      }
    } catch (err) {
      if (epoch !== this.epoch) return;
      this.reportError(new CallError(err.code, `Your audio and video could not be sent: ${err.message}`), false);
    }
  }

  onDisconnect(reason) {
    this.epoch++;
    this.joinedEpoch = -1;
    this.teardownPeers();
    this.changed();
    if (this.left || this.failed || reason === "io client disconnect") return;
    if (reason === "io server disconnect") {
      // the server closed us (removed from the room, account disabled, ...): it will not come back by itself
      this.fail("server_disconnect", "The server ended your connection to the call.");
      return;
    }
    this.setStatus("reconnecting", "Connection lost. Reconnecting…");
  }

  onConnectError(err) {
    if (this.left || this.failed) return;
    const data = err && err.data;
    const apiError = data && typeof data === "object" ? (data.error || data) : null;
    let code = apiError && typeof apiError.code === "string" ? apiError.code : null;
    if (!code && err && AUTH_CODES.has(err.message)) code = err.message;
    if (code) {
      // refused by the server: retrying with the same token cannot help
      this.fail(code, describeError(code, apiError && apiError.message));
      if (this.socket) this.socket.disconnect();
      return;
    }
    if (this.socket && !this.socket.active) {
      this.fail("connect_refused", `The server refused the connection (${(err && err.message) || "unknown reason"}).`);
      return;
    }
    this.setStatus("reconnecting", this.everJoined
      ? "Connection lost. Reconnecting…"
      : "Cannot reach the server. Retrying…");
  }

  /** Emit a request with an ack; resolves with the result or throws a CallError. */
  async request(event, data = {}) {
    const socket = this.socket;
    if (!socket || !socket.connected) throw new CallError("network", "Not connected to the server.");
    let res;
    try {
      res = await socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, data);
    } catch {
      throw new CallError("timeout", `The server did not answer "${event}" in time.`);
    }
    if (res && typeof res === "object" && res.error) {
      const code = res.error.code || "error";
      throw new CallError(code, describeError(code, res.error.message));
    }
    return res || {};
  }

  // ---- peer connections ---------------------------------------------------------------------

  makePc(direction) {
    const pc = new RTCPeerConnection({
      iceServers: this.iceServers,
      bundlePolicy: "max-bundle",
      rtcpMuxPolicy: "require",
    });
    const epoch = this.epoch;
    pc.addEventListener("connectionstatechange", () => {
      if (epoch !== this.epoch) return;
      if (pc.connectionState === "failed") {
        this.reportError(new CallError("media_failed",
          `The ${direction === "send" ? "outgoing" : "incoming"} media connection failed. Reconnecting…`), false);
        this.restart(false);
      }
      this.changed();
    });
    return pc;
  }

  /** Negotiate the send connection: one sendonly transceiver per local source, then media:publish. */
  async publish(epoch) {
    if (epoch !== this.epoch || !this.permissions.publish) return;
    if (!this.sendPc) this.sendPc = this.makePc("send");
    const pc = this.sendPc;
    const wanted = {
      camera: this.tracks.camera,
      microphone: this.tracks.microphone,
      screen: this.permissions.screen ? this.tracks.screen : null,
    };
    for (const [source, track] of Object.entries(wanted)) {
      let tx = this.sendTx.get(source);
      if (track && track.readyState === "live") {
        if (!tx) {
          const stream = source === "screen" ? this.screenStream : this.localStream;
          tx = pc.addTransceiver(track, { direction: "sendonly", streams: stream ? [stream] : [] });
          preferVp8(tx, track.kind);
          this.sendTx.set(source, tx);
        } else {
          if (tx.sender.track !== track) await tx.sender.replaceTrack(track);
          tx.direction = "sendonly";
        }
      } else if (tx && tx.direction !== "inactive") {
        // keep the m-line (its mid can be reused), stop sending on it
        await tx.sender.replaceTrack(null);
        tx.direction = "inactive";
      }
    }
    if (!this.sendTx.size) return;
    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    await waitForIceGathering(pc);
    if (epoch !== this.epoch) return;
    const sources = {};
    for (const [source, tx] of this.sendTx) {
      if (tx.direction === "sendonly" && tx.mid !== null) sources[tx.mid] = source;
    }
    let ack;
    try {
      ack = await this.request("media:publish", { sdp: pc.localDescription.sdp, sources });
    } catch (err) {
      if (pc.signalingState === "have-local-offer") {
        await pc.setLocalDescription({ type: "rollback" }).catch(() => {});
      }
      throw err;
    }
    if (epoch !== this.epoch) return;
    await pc.setRemoteDescription({ type: "answer", sdp: ack.sdp });
    this.producers = Array.isArray(ack.producers) ? ack.producers : [];
    this.changed();
  }

  /** Answer a media:offer on the receive connection and map its m-lines to consumers. */
  async handleOffer({ sdp, consumers }, epoch) {
    if (epoch !== this.epoch || this.left) return;
    if (typeof sdp !== "string") throw new CallError("bad_sdp", "The server sent an offer without SDP.");
    if (!this.recvPc) this.recvPc = this.makePc("recv");
    const pc = this.recvPc;
    await pc.setRemoteDescription({ type: "offer", sdp });
    const answer = await pc.createAnswer();
    await pc.setLocalDescription(answer);
    await waitForIceGathering(pc);
    if (epoch !== this.epoch) return;

    const byMid = new Map();
    for (const tx of pc.getTransceivers()) if (tx.mid !== null) byMid.set(String(tx.mid), tx);
    const next = new Map();
    for (const c of Array.isArray(consumers) ? consumers : []) {
      if (!c || !c.id || this.closedConsumers.has(c.id)) continue;
      const tx = byMid.get(String(c.mid));
      next.set(c.id, { ...c, track: tx ? tx.receiver.track : null });
    }
    this.consumers = next;
    this.changed();
    await this.request("media:answer", { sdp: pc.localDescription.sdp });
  }

  teardownPeers() {
    for (const pc of [this.sendPc, this.recvPc]) {
      if (pc) { try { pc.close(); } catch { /* closed */ } }
    }
    this.sendPc = null;
    this.recvPc = null;
    this.sendTx = new Map();
    this.producers = [];
    this.consumers = new Map();
    this.closedConsumers = new Set();
    this.participants = new Map();
    this.sendChain = Promise.resolve();
    this.recvChain = Promise.resolve();
  }

  /** Start over on a fresh connection: rejoin and renegotiate everything (at most every 5 s). */
  restart(force) {
    if (this.left || this.failed || !this.socket) return;
    const now = Date.now();
    if (!force && now - this.lastRestart < 5000) return;
    this.lastRestart = now;
    const socket = this.socket;
    this.setStatus("reconnecting", "Reconnecting…");
    socket.disconnect();
    setTimeout(() => { if (!this.left && !this.failed) socket.connect(); }, force ? 1000 : 200);
  }

  enqueueSend(fn) {
    const run = this.sendChain.then(() => fn());
    this.sendChain = run.catch(() => {});
    return run;
  }

  enqueueRecv(fn) {
    const run = this.recvChain.then(() => fn());
    this.recvChain = run.catch(() => {});
    return run;
  }

  // ---- events -------------------------------------------------------------------------------

  fail(code, message) {
    this.failed = true;
    this.setStatus("failed", AUTH_CODES.has(code) ? "Not signed in" : "Not connected");
    this.dispatchEvent(new CustomEvent("error", { detail: { code, message: message || describeError(code), fatal: true } }));
    if (this.socket) this.socket.disconnect();
    this.teardownPeers();
    this.stopLocalMedia();
    this.changed();
  }

  reportError(err, fatal) {
    const code = (err && err.code) || "error";
    const message = (err && err.message) || describeError(code);
    console.warn("carertc:", code, message);
    this.dispatchEvent(new CustomEvent("error", { detail: { code, message, fatal: !!fatal } }));
  }

  notice(code, message) {
    this.dispatchEvent(new CustomEvent("notice", { detail: { code, message } }));
  }

  setStatus(state, message) {
    this.state = state;
    this.dispatchEvent(new CustomEvent("status", { detail: { state, message } }));
  }

  changed() {
    this.dispatchEvent(new CustomEvent("change"));
  }
}
