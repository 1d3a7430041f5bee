// The participant list beside the call, with host controls (docs/PROTOCOL.md, "Host controls"):
// a host may mute someone's microphone or camera, remove someone, lock the room, end it for all.
// Everyone is told when the host muted them, removed them, locked the room or ended the call.
//
// Hooks: #btn-people (toggles #people-panel), #people-panel[data-host] #people-list
//   li.person[data-participant-id][data-self] .btn-host-mute-mic .btn-host-mute-cam .btn-host-remove
//   #btn-lock[aria-pressed] #btn-end-all; body[data-room-locked], body[data-room-closed="removed"|"ended"]
const $ = (id) => document.getElementById(id);
const SVG_NS = "http://www.w3.org/2000/svg";
const PEOPLE = "M16 11c1.66 0 2.99-1.34 2.99-3S17.66 5 16 5c-1.66 0-3 1.34-3 3s1.34 3 3 3zm-8 0c1.66 0 "
  + "2.99-1.34 2.99-3S9.66 5 8 5C6.34 5 5 6.34 5 8s1.34 3 3 3zm0 2c-2.33 0-7 1.17-7 3.5V19h14v-2.5c0-2.33"
  + "-4.67-3.5-7-3.5zm8 0c-.29 0-.62.02-.97.05 1.16.84 1.97 1.97 1.97 3.45V19h6v-2.5c0-2.33-4.67-3.5-7-3.5z";

function peopleIcon() {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "icon");
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", PEOPLE);
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

function ensureStylesheet() {
  if (document.querySelector('link[href="/static/meetings.css"]')) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = "/static/meetings.css";
  document.head.append(link);
}

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Mount on the call page once the session has started (it listens on ``session.socket``).
 * @param {import("./call.js").CallSession} session
 * @param {{showNotice: (code: string, message: string) => void,
 *          showError: (code: string, message: string, fatal: boolean) => void}} ui
 */
export function mountHostControls(session, { showNotice, showError }) {
  ensureStylesheet();
  const panel = make("aside", "people-side");
  panel.id = "people-panel";
  panel.hidden = true;
  panel.setAttribute("aria-label", "Participants");
  const head = make("div", "people-head");
  const title = make("h2", "people-title", "Participants");
  const tools = make("div", "people-tools");
  const lockBtn = make("button", "people-tool", "Lock room");
  lockBtn.type = "button";
  lockBtn.id = "btn-lock";
  lockBtn.setAttribute("aria-pressed", "false");
  const endBtn = make("button", "people-tool danger", "End for all");
  endBtn.type = "button";
  endBtn.id = "btn-end-all";
  tools.append(lockBtn, endBtn);
  head.append(title, tools);
  const list = make("ul", "people-list");
  list.id = "people-list";
  panel.append(head, list);
  const body = document.querySelector(".room-body") || document.body;
  body.append(panel);

  const toggle = make("button", "ctl");
  toggle.type = "button";
  toggle.id = "btn-people";
  toggle.setAttribute("aria-expanded", "false");
  toggle.setAttribute("aria-controls", "people-panel");
  const ti = make("span", "ctl-icon");
  ti.append(peopleIcon());
  toggle.append(ti, make("span", "ctl-label", "People"));
  const count = make("span", "count-badge people-count");
  toggle.append(count);
  const controls = $("controls");
  controls.insertBefore(toggle, $("btn-leave"));
  toggle.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
    render();
  });

  let locked = false;
  let closed = null;

  const act = (fn) => async () => {
    try { await fn(); } catch (err) { showError(err && err.code, err && err.message, false); }
    render();
  };

  lockBtn.addEventListener("click", act(async () => {
    const ack = await session.request("room:lock", { locked: !locked });
    locked = !!ack.locked;
  }));
  endBtn.addEventListener("click", act(async () => {
    if (!confirm("End the call for everyone?")) return;
    await session.request("room:end", {});
  }));

  function isHost() {
    return !!(session.self && session.self.host) && session.joined;
  }

  function render() {
    const host = isHost();
    panel.dataset.host = String(host);
    document.body.dataset.roomLocked = String(locked);
    tools.hidden = !host;
    lockBtn.textContent = locked ? "Unlock room" : "Lock room";
    lockBtn.setAttribute("aria-pressed", String(locked));
    const people = [...session.participants.values()];
    count.textContent = String(people.length);
    count.hidden = people.length === 0;
    title.textContent = `Participants (${people.length})${locked ? " · locked" : ""}`;
    if (panel.hidden) return;
    list.replaceChildren();
    people.sort((a, b) => (b.id === session.selfId) - (a.id === session.selfId)
      || String(a.name).localeCompare(String(b.name)));
    for (const p of people) {
      const self = p.id === session.selfId;
      const li = make("li", "person");
      li.dataset.participantId = p.id;
      if (self) li.dataset.self = "true";
      const name = make("span", "person-name", `${p.name || "Participant"}${self ? " (you)" : ""}`);
      const tags = make("span", "person-tags");
      if (p.host) tags.append(make("span", "tag", "host"));
      if (p.role === "guest") tags.append(make("span", "tag", "guest"));
      if (p.audio_muted) tags.append(make("span", "tag muted", "mic off"));
      if (p.video_muted) tags.append(make("span", "tag muted", "camera off"));
      if (p.screen_sharing) tags.append(make("span", "tag", "sharing"));
      li.append(name, tags);
      if (host && !self) {
        const buttons = make("span", "person-actions");
        const add = (text, cls, fn, disabled) => {
          const b = make("button", `people-tool ${cls}`, text);
          b.type = "button";
          b.disabled = !!disabled;
          b.addEventListener("click", act(fn));
          buttons.append(b);
        };
        add("Mute", "btn-host-mute-mic", () => session.request("room:mute_participant",
          { participant_id: p.id, source: "microphone" }), p.audio_muted);
        add("Stop video", "btn-host-mute-cam", () => session.request("room:mute_participant",
          { participant_id: p.id, source: "camera" }), p.video_muted);
        add("Remove", "btn-host-remove danger", async () => {
          if (!confirm(`Remove ${p.name || "this participant"} from the call?`)) return;
          await session.request("room:remove_participant", { participant_id: p.id });
        });
        li.append(buttons);
      }
      list.append(li);
    }
  }

  function closeCall(reason, message) {
    if (closed) return;
    closed = reason;
    document.body.dataset.roomClosed = reason;
    session.leave().finally(() => {
      showNotice(reason === "removed" ? "removed_by_host" : "room_ended", message);
      const status = $("status");
      if (status) status.textContent = reason === "removed" ? "Removed" : "Call ended";
    });
  }

  session.addEventListener("change", render);
  session.addEventListener("status", (ev) => {
    if (ev.detail && ev.detail.state === "joined") {
      locked = !!session.locked;
      render();
    }
  });
  const socket = session.socket;
  if (socket) {
    socket.on("room:locked", (msg) => {
      locked = !!(msg && msg.locked);
      showNotice("room_locked", locked ? "The host locked the room: nobody new can join." : "The host unlocked the room.");
      render();
    });
    socket.on("room:muted_by_host", (msg) => {
      const source = msg && msg.source;
      if (source !== "camera" && source !== "microphone") return;
      const track = session.tracks[source];
      session.muted[source] = true;
      if (track) track.enabled = false;
      session.changed();
      showNotice("muted_by_host", source === "camera"
        ? "The host turned off your camera. You can turn it on again."
        : "The host muted your microphone. You can unmute yourself.");
    });
    socket.on("room:removed", () => closeCall("removed", "The host removed you from this call."));
    socket.on("room:ended", () => closeCall("ended", "The host ended this call for everyone."));
  }
  render();
}
