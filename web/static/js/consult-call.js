// The call of a consult: a CallSession (call.js) whose camera and microphone follow the consult's
// mode, and a small view of it (the others' tiles, the own preview, the others' sound).
//
//   text  -> nothing is sent (camera and microphone off)
//   voice -> microphone only
//   video -> camera and microphone
//
// Switching stops or starts the local tracks and publishes again (media:publish); an m-line that
// stops sending ends its producer on the server, and sending on it again makes a new one.
//
// Hooks: #consult-call[data-mode], .tile[data-participant-id][data-self] video,
// #call-audio audio[data-consumer-id].
import { CallSession } from "./call.js";

const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30 } };

/** What each mode sends. */
export const MODE_SOURCES = { text: [], voice: ["microphone"], video: ["camera", "microphone"] };

const live = (track) => !!track && track.readyState === "live";

export class ConsultCall extends CallSession {
  /** @param {{origin: string, token: string, roomId: string, mode: string}} opts */
  constructor({ origin, token, roomId, mode }) {
    super({ origin, token, roomId });
    this.mode = MODE_SOURCES[mode] ? mode : "text";
    this.modeChain = Promise.resolve();
  }

  /** CallSession.start() asks for media here: take what the current mode needs. */
  acquireMedia() {
    return this.queue(() => this.applyMode(this.mode));
  }

  /** Switch to "text", "voice" or "video": start or stop the devices, then publish again. */
  setMode(mode) {
    if (!MODE_SOURCES[mode]) return Promise.resolve();
    this.mode = mode;
    this.changed();
    return this.queue(async () => {
      if (this.left || this.failed || mode !== this.mode) return; // a later switch wins
      await this.applyMode(mode);
      if (this.joined && this.permissions.publish) {
        const epoch = this.epoch;
        await this.enqueueSend(() => this.publish(epoch));
      }
    });
  }

  queue(fn) {
    const run = this.modeChain.then(fn);
    this.modeChain = run.catch((err) => this.reportError(err, false));
    return run;
  }

  async applyMode(mode) {
    const wanted = new Set(MODE_SOURCES[mode]);
    for (const source of ["camera", "microphone"]) {
      if (!wanted.has(source) && this.tracks[source]) {
        this.tracks[source].stop();
        this.tracks[source] = null;
      }
    }
    const need = {};
    if (wanted.has("microphone") && !live(this.tracks.microphone)) need.audio = AUDIO;
    if (wanted.has("camera") && !live(this.tracks.camera)) need.video = VIDEO;
    if (need.audio || need.video) {
      for (const track of await this.devices(need)) {
        const source = track.kind === "video" ? "camera" : "microphone";
        if (this.left || this.failed || !MODE_SOURCES[this.mode].includes(source)) {
          track.stop();
          continue;
        }
        if (this.tracks[source]) this.tracks[source].stop();
        this.tracks[source] = track;
      }
    }
    const tracks = [this.tracks.camera, this.tracks.microphone].filter(Boolean);
    this.localStream = tracks.length ? new MediaStream(tracks) : null;
    this.mediaIssue = null;
    this.changed();
  }

  /** getUserMedia for `need`; on failure whatever works alone; a notice says what is missing. */
  async devices(need) {
    const md = navigator.mediaDevices;
    if (!md || !md.getUserMedia) {
      this.notice("media_unavailable", "This browser cannot use a camera or microphone here (the page must be served over HTTPS).");
      return [];
    }
    try {
      return (await md.getUserMedia(need)).getTracks();
    } catch (err) {
      const name = err && err.name;
      if (name === "NotAllowedError" || name === "SecurityError") {
        this.notice("media_permission_denied",
          "Camera and microphone access was blocked. Allow it in the browser's site settings to be seen and heard.");
        return [];
      }
      const parts = [];
      for (const [key, value] of Object.entries(need)) {
        try { parts.push(...(await md.getUserMedia({ [key]: value })).getTracks()); } catch { /* next */ }
      }
      if (parts.length < Object.keys(need).length) {
        this.notice("media_partial", `Not every device could be used (${name}): the others may not see or hear you.`);
      }
      return parts;
    }
  }
}

function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/).filter(Boolean);
  return ((parts[0] || "?")[0] + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}

/** The call area: one tile per other participant, the own preview, an <audio> per remote track. */
export class CallView {
  /**
   * @param {{tiles: HTMLElement, audio: HTMLElement, session: ConsultCall, myName: string}} opts
   */
  constructor({ tiles, audio, session, myName }) {
    this.tilesEl = tiles;
    this.audioEl = audio;
    this.session = session;
    this.myName = myName;
    this.tiles = new Map(); // key -> {el, video, name, avatar, track}
    this.audios = new Map(); // consumer id -> {el, track}
    this.onChange = () => this.render();
    session.addEventListener("change", this.onChange);
  }

  destroy() {
    this.session.removeEventListener("change", this.onChange);
    for (const t of this.tiles.values()) { t.video.srcObject = null; t.el.remove(); }
    for (const a of this.audios.values()) { a.el.srcObject = null; a.el.remove(); }
    this.tiles.clear();
    this.audios.clear();
  }

  tile(key) {
    let t = this.tiles.get(key);
    if (t) return t;
    const el = document.createElement("figure");
    el.className = "tile";
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // sound goes through the <audio> elements
    const avatar = document.createElement("div");
    avatar.className = "avatar";
    avatar.setAttribute("aria-hidden", "true");
    const label = document.createElement("figcaption");
    label.className = "tile-label";
    const name = document.createElement("span");
    name.className = "tile-name";
    label.append(name);
    el.append(video, avatar, label);
    t = { el, video, avatar, name, track: null };
    this.tiles.set(key, t);
    return t;
  }

  render() {
    const s = this.session;
    const wanted = [];
    const audioWanted = new Map();
    for (const p of s.participants.values()) {
      if (p.id === s.selfId) continue;
      const cs = Array.from(s.consumers.values()).filter((c) => c.participant_id === p.id);
      const cam = cs.find((c) => c.kind === "video" && c.source === "camera");
      for (const c of cs) if (c.kind === "audio" && c.track) audioWanted.set(c.id, c);
      wanted.push({ key: p.id, pid: p.id, self: false, name: p.name || "Participant", track: cam ? cam.track : null });
    }
    wanted.push({ key: "self", pid: s.selfId || "self", self: true, name: `${this.myName} (you)`, track: s.tracks.camera });

    const keep = new Set(wanted.map((w) => w.key));
    for (const [key, t] of this.tiles) {
      if (!keep.has(key)) { t.video.srcObject = null; t.el.remove(); this.tiles.delete(key); }
    }
    wanted.forEach((w, index) => {
      const t = this.tile(w.key);
      t.el.dataset.participantId = w.pid;
      if (w.self) t.el.dataset.self = "true"; else delete t.el.dataset.self;
      t.el.classList.toggle("tile-self", w.self);
      t.el.dataset.source = "camera";
      t.name.textContent = w.name;
      t.avatar.textContent = initials(w.self ? this.myName : w.name);
      t.el.setAttribute("aria-label", w.name);
      if (t.track !== w.track) {
        t.track = w.track;
        t.video.srcObject = w.track ? new MediaStream([w.track]) : null;
        if (w.track) t.video.play().catch(() => {});
      }
      t.el.classList.toggle("no-video", !w.track);
      if (this.tilesEl.children[index] !== t.el) this.tilesEl.insertBefore(t.el, this.tilesEl.children[index] || null);
    });
    this.tilesEl.dataset.count = String(wanted.length);

    for (const [cid, a] of this.audios) {
      if (!audioWanted.has(cid)) { a.el.srcObject = null; a.el.remove(); this.audios.delete(cid); }
    }
    for (const [cid, c] of audioWanted) {
      let a = this.audios.get(cid);
      if (!a) {
        const el = document.createElement("audio");
        el.autoplay = true;
        el.dataset.consumerId = cid;
        this.audioEl.append(el);
        a = { el, track: null };
        this.audios.set(cid, a);
      }
      a.el.dataset.participantId = c.participant_id;
      if (a.track !== c.track) {
        a.track = c.track;
        a.el.srcObject = new MediaStream([c.track]);
        a.el.play().catch(() => {});
      }
    }
  }
}
