// Recording, the composite view, pixelation and snapshots on the call page (docs/PROTOCOL.md,
// "Recording, composite, pixelation, snapshots").
//
// Everyone sees the recording indicator while the call is recorded and may switch to the
// composite view; a host starts/stops recording, picks the composite's layout and pixelates
// a participant's camera; a host or staff member takes snapshots (posted into the call's chat).
//
// Hooks: #rec-indicator[data-testid=recording-indicator] (hidden when not recording),
//   body[data-recording="true"|"false"] body[data-composite="on"|"off"] body[data-layout]
//   #btn-record[aria-pressed] #layout-select #btn-composite[aria-pressed]
//   .tile[data-pixelated] .tile-actions .btn-pixelate[aria-pressed] .btn-snapshot
const STAFF = new Set(["admin", "doctor", "nurse", "psychologist", "staff"]);
const LAYOUTS = [["grid", "Grid"], ["speaker", "Speaker"], ["pip", "Picture in picture"]];

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function ensureStylesheet() {
  if (document.querySelector('link[href="/static/recording.css"]')) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/recording.css";
  document.head.append(link);
}

function ctlButton(id, label) {
  const b = make("button", "ctl");
  b.type = "button";
  b.id = id;
  b.setAttribute("aria-pressed", "false");
  b.append(make("span", "ctl-icon rec-ctl-icon"), make("span", "ctl-label", label));
  return b;
}

/**
 * Mount on the call page once the session has started (it listens on ``session.socket``).
 * @param {import("./call.js").CallSession} session
 * @param {{showNotice: (code: string, message: string) => void,
 *          showError: (code: string, message: string, fatal: boolean) => void}} ui
 */
export function mountCallRecording(session, { showNotice, showError }) {
  ensureStylesheet();
  let state = { recording: false, recording_id: null, started_by: null, layout: "grid" };
  let compositeOn = false;
  let busy = false;

  const indicator = make("span", "rec-indicator");
  indicator.id = "rec-indicator";
  indicator.dataset.testid = "recording-indicator";
  indicator.setAttribute("role", "status");
  indicator.hidden = true;
  indicator.append(make("span", "rec-dot"), make("span", "rec-text", "REC"));
  const status = document.getElementById("status");
  if (status && status.parentNode) status.parentNode.insertBefore(indicator, status);

  const recordBtn = ctlButton("btn-record", "Record");
  const compositeBtn = ctlButton("btn-composite", "Composite view");
  const layoutSelect = make("select", "ctl-select");
  layoutSelect.id = "layout-select";
  layoutSelect.setAttribute("aria-label", "Layout of the composite and the recording");
  for (const [value, label] of LAYOUTS) {
    const o = make("option", "", label);
    o.value = value;
    layoutSelect.append(o);
  }
  const controls = document.getElementById("controls");
  const leave = document.getElementById("btn-leave");
  if (controls) for (const node of [compositeBtn, layoutSelect, recordBtn]) controls.insertBefore(node, leave);

  const act = (fn) => async (ev) => {
    if (ev) ev.stopPropagation();
    if (busy) return;
    busy = true;
    try { await fn(); } catch (err) { showError(err && err.code, err && err.message, false); }
    busy = false;
    render();
  };

  const isHost = () => !!(session.self && session.self.host) && session.joined;
  const mayShoot = () => session.joined && !!session.self
    && (STAFF.has(session.self.role) || (session.self.host && !["elder", "family", "guest"].includes(session.self.role)));

  function apply(next) {
    if (!next || typeof next !== "object") return;
    state = { ...state, ...next };
    session.recording = state;
  }

  recordBtn.addEventListener("click", act(async () => {
    if (state.recording) {
      apply(await session.request("recording:stop", {}));
      showNotice("recording_stopped", "Recording stopped.");
    } else {
      apply(await session.request("recording:start", {}));
    }
  }));
  layoutSelect.addEventListener("change", act(async () => {
    const ack = await session.request("composite:layout", { layout: layoutSelect.value });
    apply({ layout: ack.layout });
  }));
  compositeBtn.addEventListener("click", act(async () => {
    const ack = await session.request("media:composite", { on: !compositeOn });
    compositeOn = !!ack.on;
  }));

  function tileActions(tile, p) {
    let box = tile.querySelector(".tile-actions");
    const host = isHost();
    const shoot = mayShoot();
    if (!host && !shoot) {
      if (box) box.remove();
      return;
    }
    if (!box) {
      box = make("div", "tile-actions");
      const pix = make("button", "tile-btn btn-pixelate", "Pixelate");
      pix.type = "button";
      const snap = make("button", "tile-btn btn-snapshot", "Snapshot");
      snap.type = "button";
      box.append(pix, snap);
      tile.append(box);
      pix.addEventListener("click", act(async () => {
        const pid = tile.dataset.participantId;
        const who = session.participants.get(pid) || {};
        await session.request("host:pixelate", { participant_id: pid, on: !who.pixelated });
      }));
      snap.addEventListener("click", act(async () => {
        const ack = await session.request("media:snapshot", { participant_id: tile.dataset.participantId });
        tile.dataset.lastSnapshot = ack.attachment_id || "";
        showNotice("snapshot_taken", "Snapshot taken: it is in the call's chat.");
      }));
    }
    const pix = box.querySelector(".btn-pixelate");
    pix.hidden = !host;
    pix.setAttribute("aria-pressed", String(!!p.pixelated));
    pix.textContent = p.pixelated ? "Unpixelate" : "Pixelate";
    box.querySelector(".btn-snapshot").hidden = !shoot;
  }

  function render() {
    const host = isHost();
    const live = session.joined && !session.left;
    if (!live) compositeOn = false;
    indicator.hidden = !state.recording;
    indicator.title = state.recording && state.started_by
      ? `Recording, started by ${state.started_by.name || "the host"}` : "";
    document.body.dataset.recording = String(!!state.recording);
    document.body.dataset.composite = compositeOn ? "on" : "off";
    document.body.dataset.layout = state.layout || "grid";
    recordBtn.hidden = !host;
    recordBtn.disabled = !live || busy;
    recordBtn.setAttribute("aria-pressed", String(!!state.recording));
    recordBtn.querySelector(".ctl-label").textContent = state.recording ? "Stop recording" : "Record";
    layoutSelect.hidden = !host;
    layoutSelect.disabled = !live;
    if (layoutSelect.value !== state.layout) layoutSelect.value = state.layout || "grid";
    compositeBtn.disabled = !live || busy;
    compositeBtn.setAttribute("aria-pressed", String(compositeOn));
    compositeBtn.querySelector(".ctl-label").textContent = compositeOn ? "All tiles" : "Composite view";
    for (const tile of document.querySelectorAll(".tile[data-participant-id]")) {
      const pid = tile.dataset.participantId;
      const p = pid === session.selfId ? session.self || {} : session.participants.get(pid);
      tile.dataset.pixelated = String(!!(p && p.pixelated));
      const remoteCamera = tile.dataset.source === "camera" && tile.dataset.self !== "true"
        && pid !== "composite" && !!p;
      if (remoteCamera) tileActions(tile, p);
      else tile.querySelector(".tile-actions")?.remove();
    }
  }

  session.addEventListener("change", render);
  session.addEventListener("status", (ev) => {
    if (ev.detail && ev.detail.state === "joined") {
      compositeOn = false; // a new participant on the server: the view starts with every tile
      apply(session.recording || { recording: false, recording_id: null, started_by: null });
    }
    render();
  });
  const socket = session.socket;
  if (socket) {
    socket.on("recording:state", (msg) => {
      const was = state.recording;
      apply(msg);
      if (!was && state.recording) {
        const by = state.started_by && state.started_by.name;
        showNotice("recording_started", by ? `${by} started recording this call.` : "This call is being recorded.");
      } else if (was && !state.recording) {
        showNotice("recording_stopped", "Recording stopped.");
      }
      render();
    });
    socket.on("composite:layout", (msg) => {
      if (msg && msg.layout) apply({ layout: msg.layout });
      render();
    });
  }
  render();
}
