// Shared by the meeting pages (scheduler, service records, statistics, invite links): the API
// with the meeting pages' error messages, formatting, and the staff-only sign-in on top of
// page-common.js.
import { describeError } from "./errors.js";
import { getUser } from "./session.js";
import { $, api as pageApi, claims, showApp, wireSignIn } from "./page-common.js";

export { $, ApiError, claims, el, showError, showMessage } from "./page-common.js";

const MESSAGES = {
  meeting_not_found: "That meeting does not exist, or you may not see it.",
  invite_not_found: "That invite link is not valid.",
  invite_invalid: "This invite link has expired, was revoked or has been used up.",
  bad_state: "The meeting is not in a state that allows this.",
  permission_denied: "Your role may not do that.",
  user_not_found: "One of the invitees has no account here.",
  too_many_requests: "Too many attempts. Wait a moment and try again.",
};

/** A human message for an API error code. */
export function messageFor(code, serverMessage) {
  if (code === "bad_request") return serverMessage || "The request was not valid.";
  return MESSAGES[code] || describeError(code, serverMessage);
}

const describe = (code, serverMessage, status) => messageFor(code, serverMessage || `HTTP ${status}`);

/** One JSON request with the session's bearer token; throws ApiError. */
export function api(method, path, body) {
  return pageApi(method, path, body, { describe });
}

/** A JSON request without a token (guests). */
export function publicApi(method, path, body) {
  return pageApi(method, path, body, { auth: false, describe });
}

/** GET a file (an image, a CSV) with the token, as a Blob. */
export function fetchBlob(path) {
  return pageApi("GET", path, undefined, { raw: true, describe });
}

/** ``12:05`` / ``1:02:03`` for a number of seconds. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** A local date and time for an ISO string (or "—"). */
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "—" : d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/** The value for an <input type="datetime-local"> from a Date. */
export function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** Wire sign-in and sign-out (guest tokens do not count as signed in); call ``ready(claims)`` once signed in. */
export function startPage(ready) {
  wireSignIn({
    allowGuest: false,
    onSignedIn: async () => {
      const user = getUser() || {};
      const c = claims();
      $("who-name").textContent = user.display_name || user.name || c.name || "";
      $("who-role").textContent = c.role ? `(${c.role}${c.org ? `, ${c.org}` : ""})` : "";
      showApp();
      await ready(c);
    },
  });
}
