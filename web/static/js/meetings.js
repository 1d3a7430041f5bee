// The meeting scheduler (/meetings): quick support now, scheduled meetings, reschedule and cancel,
// invite links with QR codes. Stable hooks for tests:
//   #quick-form #schedule-form (#m-title #m-start #m-length #m-invitees #m-remind)
//   #meetings tr[data-meeting-id][data-status] with .btn-join .btn-invite .btn-edit .btn-start
//   .btn-end .btn-cancel; #invite-panel #btn-invite-create #invite-url #invite-qr #btn-copy
import { io } from "/static/vendor/socket.io.esm.min.js";
import {
  $, api, claims, duration, el, fetchBlob, localInputValue, showError, showMessage, startPage, when,
} from "./meetings-common.js";
import { getToken } from "./session.js";

let me = {};
let meetings = [];
let editing = null; // the meeting being rescheduled
let inviting = null; // the meeting whose invite panel is open
const blobUrls = [];

const ORDER = { live: 0, scheduled: 1, ended: 2, cancelled: 3 };
const STATUS_TEXT = { live: "Live", scheduled: "Scheduled", ended: "Ended", cancelled: "Cancelled" };

function refs(text) {
  return String(text || "").split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
}

function canManage(m) {
  return m.host_id === me.sub || me.role === "admin";
}

function button(text, className, onClick, title) {
  const b = el("button", { type: "button", className: `secondary ${className}`, textContent: text, title });
  b.addEventListener("click", () => { onClick().catch(showError); });
  return b;
}

async function refresh() {
  const { meetings: list } = await api("GET", "/api/v1/meetings");
  meetings = list.sort((a, b) => (ORDER[a.status] - ORDER[b.status])
    || (a.status === "scheduled" ? a.start_at.localeCompare(b.start_at) : b.start_at.localeCompare(a.start_at)));
  render();
}

function render() {
  const body = $("meetings");
  body.replaceChildren();
  $("meetings-empty").hidden = meetings.length > 0;
  for (const m of meetings) {
    const active = m.status === "scheduled" || m.status === "live";
    const actions = el("td", { className: "mt-actions" });
    if (active) {
      actions.append(el("a", { className: "btn btn-join", href: m.join_path, textContent: "Join call" }));
    }
    if (active && canManage(m)) {
      actions.append(button("Invite link", "btn-invite", async () => openInvites(m)));
      actions.append(button("Edit", "btn-edit", async () => startEdit(m)));
      if (m.status === "scheduled") {
        actions.append(button("Start now", "btn-start", async () => { await act(m, "start"); }));
        actions.append(button("Cancel", "btn-cancel danger", async () => {
          if (confirm(`Cancel "${m.title}"? Invitees are told.`)) await act(m, "cancel");
        }));
      } else {
        actions.append(button("End", "btn-end danger", async () => {
          if (confirm(`End "${m.title}" for everyone?`)) await act(m, "end");
        }));
      }
    }
    if (!active && m.duration_seconds !== undefined) {
      actions.append(el("span", { className: "mt-hint", textContent: `${m.participant_count} people · ${duration(m.duration_seconds)}` }));
    }
    const invitees = m.invitees.map((i) => i.name + (i.response ? ` (${i.response})` : "")).join(", ");
    body.append(el("tr", { "data-meeting-id": m.id, "data-status": m.status },
      el("td", { className: "mt-title", textContent: m.title }),
      el("td", { textContent: m.category === "quick" ? "Quick support" : "Scheduled" }),
      el("td", {}, el("span", { className: `mt-status mt-status-${m.status}`, textContent: STATUS_TEXT[m.status] || m.status })),
      el("td", { textContent: when(m.started_at || m.start_at) }),
      el("td", { className: "mt-invitees", textContent: invitees || "—" }),
      actions));
  }
}

async function act(m, action) {
  await api("POST", `/api/v1/meetings/${m.id}/${action}`);
  showMessage(`"${m.title}": ${action === "cancel" ? "cancelled" : action === "end" ? "ended" : "started"}.`, "info");
  await refresh();
}

// ---- quick support and scheduling ------------------------------------------------------------

$("quick-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("btn-quick").disabled = true;
  try {
    const title = $("quick-title").value.trim();
    const m = await api("POST", "/api/v1/meetings", {
      category: "quick", ...(title ? { title } : {}), invitees: refs($("quick-invitees").value),
    });
    $("quick-form").reset();
    await refresh();
    await openInvites(m);
    showMessage(`Quick support "${m.title}" is live. Join the call, and send the invite link to whoever you help.`, "info");
  } catch (err) { showError(err); } finally { $("btn-quick").disabled = false; }
});

function scheduleBody() {
  const start = new Date($("m-start").value);
  if (Number.isNaN(start.getTime())) throw new Error("Pick when the meeting starts.");
  const minutes = Number($("m-length").value) || 30;
  const body = {
    title: $("m-title").value.trim(),
    start_at: start.toISOString(),
    end_at: new Date(start.getTime() + minutes * 60000).toISOString(),
    invitees: refs($("m-invitees").value),
  };
  const remind = $("m-remind").value.trim();
  body.reminder_minutes = remind === "" ? null : Number(remind);
  return body;
}

$("schedule-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("btn-schedule").disabled = true;
  try {
    const body = scheduleBody();
    if (!body.title) throw new Error("Give the meeting a title.");
    if (editing) {
      if (editing.status === "live") { delete body.start_at; }
      const m = await api("PATCH", `/api/v1/meetings/${editing.id}`, body);
      showMessage(`"${m.title}" was changed; invitees are told.`, "info");
      stopEdit();
    } else {
      const m = await api("POST", "/api/v1/meetings", { category: "realtime", ...body });
      showMessage(`"${m.title}" is scheduled for ${when(m.start_at)}.`, "info");
      resetSchedule();
    }
    await refresh();
  } catch (err) { showError(err); } finally { $("btn-schedule").disabled = false; }
});

function resetSchedule() {
  $("schedule-form").reset();
  const soon = new Date(Date.now() + 60 * 60000);
  soon.setMinutes(Math.ceil(soon.getMinutes() / 15) * 15, 0, 0);
  $("m-start").value = localInputValue(soon);
}

function startEdit(m) {
  editing = m;
  $("schedule-heading").textContent = `Reschedule "${m.title}"`;
  $("m-title").value = m.title;
  $("m-start").value = localInputValue(new Date(m.start_at));
  $("m-start").disabled = m.status === "live";
  $("m-length").value = String(Math.round((new Date(m.end_at) - new Date(m.start_at)) / 60000));
  $("m-invitees").value = m.invitees.map((i) => i.user_id).join(", ");
  $("m-remind").value = m.reminder_minutes === null ? "" : String(m.reminder_minutes);
  $("btn-schedule").textContent = "Save changes";
  $("btn-edit-cancel").hidden = false;
  $("m-title").focus();
}

function stopEdit() {
  editing = null;
  $("schedule-heading").textContent = "Schedule a meeting";
  $("btn-schedule").textContent = "Schedule";
  $("btn-edit-cancel").hidden = true;
  $("m-start").disabled = false;
  resetSchedule();
}
$("btn-edit-cancel").addEventListener("click", stopEdit);

// ---- invite links ----------------------------------------------------------------------------

async function openInvites(m) {
  inviting = m;
  $("invite-meeting").textContent = m.title;
  $("invite-result").hidden = true;
  $("invite-panel").hidden = false;
  await renderInvites();
  $("invite-panel").scrollIntoView({ block: "nearest" });
}

async function renderInvites() {
  const { invites } = await api("GET", `/api/v1/meetings/${inviting.id}/invites`);
  const body = $("invite-list");
  body.replaceChildren();
  for (const inv of invites) {
    const state = inv.revoked_at ? "revoked" : new Date(inv.expires_at) <= new Date() ? "expired"
      : inv.max_uses !== null && inv.uses >= inv.max_uses ? "used up" : "valid";
    const cell = el("td");
    if (state === "valid") {
      cell.append(button("Revoke", "btn-revoke danger", async () => {
        await api("DELETE", `/api/v1/meetings/${inviting.id}/invites/${inv.id}`);
        await renderInvites();
      }));
    }
    body.append(el("tr", { "data-invite-id": inv.id, "data-state": state },
      el("td", { textContent: when(inv.created_at) }),
      el("td", { textContent: when(inv.expires_at) }),
      el("td", { textContent: inv.max_uses === null ? String(inv.uses) : `${inv.uses} / ${inv.max_uses}` }),
      el("td", { textContent: state }),
      cell));
  }
}

async function blobUrl(path) {
  const url = URL.createObjectURL(await fetchBlob(path));
  blobUrls.push(url);
  return url;
}

$("invite-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!inviting) return;
  $("btn-invite-create").disabled = true;
  try {
    const max = $("invite-max").value.trim();
    const created = await api("POST", `/api/v1/meetings/${inviting.id}/invites`, {
      expires_in_seconds: Number($("invite-ttl").value),
      max_uses: max === "" ? null : Number(max),
    });
    while (blobUrls.length) URL.revokeObjectURL(blobUrls.pop());
    $("invite-url").value = created.url;
    $("invite-expires").textContent = `Valid until ${when(created.invite.expires_at)}`
      + (created.invite.max_uses ? `, for ${created.invite.max_uses} use(s)` : "");
    $("invite-qr").src = await blobUrl(created.qr_png);
    $("invite-png").href = $("invite-qr").src;
    $("invite-svg").href = await blobUrl(created.qr_svg);
    $("invite-result").hidden = false;
    await renderInvites();
  } catch (err) { showError(err); } finally { $("btn-invite-create").disabled = false; }
});

$("btn-copy").addEventListener("click", async () => {
  const input = $("invite-url");
  try {
    await navigator.clipboard.writeText(input.value);
  } catch {
    input.select();
    document.execCommand("copy");
  }
  $("btn-copy").textContent = "Copied";
  setTimeout(() => { $("btn-copy").textContent = "Copy link"; }, 1500);
});

$("btn-invite-close").addEventListener("click", () => {
  $("invite-panel").hidden = true;
  inviting = null;
});

// ---- live updates ------------------------------------------------------------------------------

function listen() {
  const socket = io(location.origin, { auth: { token: getToken() }, transports: ["websocket"] });
  socket.on("meeting:update", () => { refresh().catch(() => {}); });
  socket.on("meeting:reminder", (msg) => {
    const m = msg && msg.meeting;
    if (!m) return;
    showMessage(`Reminder: "${m.title}" starts in ${msg.starts_in_minutes} minute(s).`, "info");
  });
}

startPage(async (c) => {
  me = c;
  resetSchedule();
  await refresh();
  listen();
});
