// /join/<token>: a guest opens an invite link, enters a name and joins the meeting's call.
// Hooks: #invite #meeting-title #guest-form #guest-name #btn-guest-join #message[data-code]
import { $, messageFor, publicApi, when } from "./meetings-common.js";
import { saveSession } from "./session.js";

const token = decodeURIComponent(location.pathname.replace(/^\/join\//, "").replace(/\/$/, ""));

function fail(err) {
  const box = $("message");
  box.dataset.code = (err && err.code) || "error";
  box.textContent = (err && err.message) || messageFor(err && err.code);
  box.className = "message error";
  box.hidden = false;
}

async function show() {
  const info = await publicApi("GET", `/api/v1/invites/${encodeURIComponent(token)}`);
  const m = info.meeting;
  $("meeting-title").textContent = m.title;
  document.title = `CareRTC — ${m.title}`;
  const host = m.host_name ? `with ${m.host_name}` : "";
  $("meeting-info").textContent = m.status === "live"
    ? `In progress ${host}`.trim()
    : `${when(m.start_at)} ${host}`.trim();
  $("invite").hidden = false;
  $("guest-name").focus();
}

$("guest-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = $("guest-name").value.trim();
  if (!name) {
    fail({ code: "bad_request", message: "Enter your name so the others know who joined." });
    return;
  }
  $("btn-guest-join").disabled = true;
  try {
    const joined = await publicApi("POST", `/api/v1/invites/${encodeURIComponent(token)}/join`, { name });
    saveSession(joined.token, joined.user);
    location.assign(joined.join_path);
  } catch (err) {
    fail(err);
    $("btn-guest-join").disabled = false;
  }
});

show().catch((err) => {
  $("invite").hidden = true;
  fail(err);
});
