// Recordings admin page (/admin/recordings): search, list, play (<video>), download, and the
// access log (every list, view, download and export is audited by the server) with CSV export.
//
// Hooks: #recordings-body tr[data-recording-id][data-status] .act-play; #player (video)
//   #player-file #player-download; #audit-body tr[data-action]; #audit-csv;
//   body[data-recordings-loaded] body[data-audit-loaded]
import { api, el, showError, startAdminPage } from "./admin-common.js";
import { getToken } from "./session.js";

const $ = (id) => document.getElementById(id);
const PAGE = 50;
let offset = 0;

function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(Number(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

function size(bytes) {
  const n = Number(bytes || 0);
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GB`;
}

function fileUrl(rec, file, action) {
  const q = new URLSearchParams({ token: getToken() || "" });
  return `/api/v1/recordings/${encodeURIComponent(rec.id)}/files/${encodeURIComponent(file.id)}/${action}?${q}`;
}

function query() {
  const params = new URLSearchParams();
  const from = $("q-from").value;
  const to = $("q-to").value;
  if (from) params.set("from", from);
  if (to) params.set("to", to);
  for (const [id, key] of [["q-room", "room_id"], ["q-participant", "participant"], ["q-status", "status"]]) {
    const v = $(id).value.trim();
    if (v) params.set(key, v);
  }
  return params;
}

function row(rec) {
  const play = el("button", { type: "button", className: "act-play", textContent: "Play" });
  play.addEventListener("click", () => openPlayer(rec.id).catch(showError));
  const flow = rec.consult_id ? `consult ${rec.consult_id.slice(0, 8)}`
    : rec.meeting_id ? `meeting ${rec.meeting_id.slice(0, 8)}` : "—";
  const people = (rec.participants || []).map((p) => p.name || p.user_id).join(", ") || "—";
  return el("tr", { "data-recording-id": rec.id, "data-status": rec.status },
    el("td", {}, el("strong", { textContent: rec.title || rec.room_id }), el("br"),
      el("small", { textContent: rec.room_id })),
    el("td", { textContent: flow }),
    el("td", { className: "participants", textContent: people }),
    el("td", { textContent: when(rec.started_at) }),
    el("td", { textContent: when(rec.ended_at) }),
    el("td", { className: "duration", textContent: duration(rec.duration_s) }),
    el("td", { textContent: size(rec.size_bytes) }),
    el("td", { textContent: rec.layout || "—" }),
    el("td", { className: `status status-${rec.status}`, textContent: rec.status }),
    el("td", {}, play));
}

async function loadRecordings(more = false) {
  offset = more ? offset + PAGE : 0;
  const params = query();
  params.set("limit", String(PAGE));
  params.set("offset", String(offset));
  const { recordings, has_more: hasMore } = await api("GET", `/api/v1/recordings?${params}`);
  const rows = recordings.map(row);
  if (more) $("recordings-body").append(...rows);
  else $("recordings-body").replaceChildren(...rows);
  $("recordings-empty").hidden = $("recordings-body").children.length > 0;
  $("btn-more").hidden = !hasMore;
  document.body.dataset.recordingsLoaded = String(Date.now());
  await loadAudit();
}

function fileLabel(file) {
  const what = file.kind === "composite" ? "Composite" : `${file.name || file.user_id || "track"} — ${file.source || file.media_kind}`;
  return `${what} (${file.media_kind}, ${duration(file.duration_s)}, ${size(file.size_bytes)})`;
}

async function openPlayer(recordingId) {
  const rec = await api("GET", `/api/v1/recordings/${encodeURIComponent(recordingId)}`);
  const files = (rec.files || []).filter((f) => f.size_bytes > 0 || f.status !== "failed");
  const select = $("player-file");
  select.replaceChildren(...files.map((f) => el("option", { value: f.id, textContent: fileLabel(f) })));
  const first = files.find((f) => f.kind === "composite") || files.find((f) => f.media_kind !== "audio") || files[0];
  $("player-title").textContent = rec.title || rec.room_id;
  $("player-section").hidden = false;
  const play = (file) => {
    const video = $("player");
    video.src = fileUrl(rec, file, "media");
    video.dataset.fileId = file.id;
    $("player-download").href = fileUrl(rec, file, "download");
    video.play().catch(() => { /* the user presses play */ });
    setTimeout(() => loadAudit().catch(() => {}), 1500);
  };
  select.onchange = () => {
    const file = files.find((f) => f.id === select.value);
    if (file) play(file);
  };
  if (first) {
    select.value = first.id;
    play(first);
  }
  $("player-section").scrollIntoView({ block: "nearest" });
}

function auditRow(e) {
  return el("tr", { "data-action": e.action, "data-recording-id": e.recording_id || "" },
    el("td", { textContent: when(e.at) }),
    el("td", { textContent: e.user_name || e.user_id || "—" }),
    el("td", { textContent: e.role || "" }),
    el("td", { className: "action", textContent: e.action }),
    el("td", { textContent: e.recording_id ? e.recording_id.slice(0, 8) : "—" }),
    el("td", { textContent: e.file_id ? e.file_id.slice(0, 8) : "—" }),
    el("td", { textContent: e.range || "" }),
    el("td", { textContent: e.ip || "" }),
    el("td", { className: "ua", textContent: e.user_agent || "" }));
}

async function loadAudit() {
  try {
    const { entries } = await api("GET", "/api/v1/recordings/audit?limit=100");
    $("audit-body").replaceChildren(...entries.map(auditRow));
    $("audit-empty").hidden = entries.length > 0;
  } catch (err) {
    if (err.status !== 403) throw err;
    $("audit-body").replaceChildren(); // only admins read the log
    $("audit-empty").hidden = false;
  }
  document.body.dataset.auditLoaded = String(Date.now());
}

async function exportCsv(ev) {
  ev.preventDefault();
  const res = await fetch("/api/v1/recordings/audit.csv", { headers: { Authorization: `Bearer ${getToken()}` } });
  if (!res.ok) {
    let msg = `Export failed (HTTP ${res.status}).`;
    try { msg = (await res.json()).error.message || msg; } catch { /* not JSON */ }
    throw new Error(msg);
  }
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: "recording-audit.csv" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loadRecordings().catch(showError);
});
$("btn-more").addEventListener("click", () => loadRecordings(true).catch(showError));
$("audit-csv").addEventListener("click", (ev) => exportCsv(ev).catch(showError));

startAdminPage(() => loadRecordings());
