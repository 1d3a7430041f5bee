// The SOS log (/admin/sos): every SOS of the organisation with every step and its time.
// Needs `sos.log` in the organisation the token acts for (?org_id= picks another for global admins).
//
// Hooks: #sos-list, .sos-entry[data-sos-id][data-status], .sos-steps tr[data-kind], #log-error.
import { getToken, saveSession, getUser, tokenClaims } from "./session.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
let token = params.get("token") || "";
if (token) {
  saveSession(token, getUser());
  params.delete("token");
  history.replaceState(null, "", location.pathname + (params.toString() ? `?${params}` : ""));
} else {
  token = getToken();
}
const claims = token ? tokenClaims(token) || {} : {};
const orgId = params.get("org_id") || claims.org || "";

const STEP_TEXT = {
  raised: "Raised", ring_delivered: "Rang on a device", accepted: "Accepted", declined: "Declined",
  escalated: "Escalated", joined: "Joined the call", left: "Left the call", cancelled: "Cancelled",
  ended: "Ended", unanswered: "Nobody answered", webhook_sent: "Webhook sent", webhook_failed: "Webhook failed",
};

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text;
  return td;
}

function time(iso) {
  const d = new Date(iso);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString([], { hour12: false })}.${String(d.getMilliseconds()).padStart(3, "0")}`;
}

function detailText(e) {
  const d = e.data || {};
  switch (e.kind) {
    case "raised": return `${d.source || ""} ${d.kind || ""}${d.device_id ? ` (${d.device_id})` : ""} · tier ${d.tier ?? "–"} rung: ${(d.to || []).length}`;
    case "ring_delivered": return `device ${d.sid || "?"} after ${d.delay_ms} ms`;
    case "accepted": return `${d.delay_ms} ms after the alarm`;
    case "escalated": return `to ${d.tier === "duty_desk" ? "the duty desk" : `tier ${d.tier}`} (${d.reason}) · ${(d.to || []).length} rung`;
    case "unanswered": return d.reason || "";
    case "cancelled": case "ended": return d.reason || "";
    case "webhook_sent": case "webhook_failed": return `${d.event} · ${d.attempts} attempt(s)${d.status ? ` · HTTP ${d.status}` : ""}`;
    case "joined": case "left": return d.role || "";
    default: return "";
  }
}

function entry(sos) {
  const details = document.createElement("details");
  details.className = "sos-entry";
  details.dataset.sosId = sos.id;
  details.dataset.status = sos.status;
  const summary = document.createElement("summary");
  const st = document.createElement("span");
  st.className = "st";
  st.dataset.status = sos.status;
  st.textContent = sos.status;
  const who = document.createElement("strong");
  who.textContent = sos.elder.name || sos.elder.id;
  const when = document.createElement("span");
  when.textContent = time(sos.created_at);
  const how = document.createElement("span");
  how.textContent = `${sos.source} · ${sos.kind}`;
  const answered = document.createElement("span");
  answered.textContent = sos.answered_by ? `answered by ${sos.answered_by.name}` : "";
  summary.append(st, who, when, how, answered);
  details.appendChild(summary);
  const table = document.createElement("table");
  table.className = "sos-steps";
  const head = document.createElement("tr");
  for (const h of ["Time", "+s", "Step", "Who", "Details"]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.appendChild(th);
  }
  table.appendChild(head);
  const t0 = new Date(sos.created_at).getTime();
  for (const e of sos.events || []) {
    const tr = document.createElement("tr");
    tr.dataset.kind = e.kind;
    const rel = ((new Date(e.at).getTime() - t0) / 1000).toFixed(3);
    tr.append(cell(time(e.at), "t"), cell(rel, "t"), cell(STEP_TEXT[e.kind] || e.kind),
      cell(e.user ? e.user.name || e.user.id : ""), cell(detailText(e)));
    table.appendChild(tr);
  }
  details.appendChild(table);
  return details;
}

async function load() {
  const error = $("log-error");
  error.hidden = true;
  if (!token) {
    error.textContent = "Sign in first.";
    error.hidden = false;
    return;
  }
  const q = new URLSearchParams({ include: "events" });
  if (orgId) q.set("org_id", orgId);
  const from = $("from").value;
  const to = $("to").value;
  if (from) q.set("from", new Date(from).toISOString());
  if (to) q.set("to", new Date(to).toISOString());
  const res = await fetch(`/api/v1/sos?${q}`, { headers: { Authorization: `Bearer ${token}` } });
  const body = await res.json().catch(() => null);
  if (!res.ok || !body) {
    error.textContent = (body && body.error && body.error.message) || `Could not load the log (HTTP ${res.status}).`;
    error.hidden = false;
    return;
  }
  const list = $("sos-list");
  list.replaceChildren(...body.sos.map(entry));
  $("sos-empty").hidden = body.sos.length > 0;
  list.dataset.loaded = "true";
}

$("filters").addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
load();
