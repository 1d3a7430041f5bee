// Shared by the meeting pages (scheduler, service records, statistics): sign-in, the JSON API
// with the session token, a DOM helper that only ever sets text from data, and formatting.
import { AUTH_CODES, describeError } from "./errors.js";
import { clearSession, getToken, getUser, login, saveSession, tokenClaims, tokenExpired } from "./session.js";

export const $ = (id) => document.getElementById(id);

/** An API error with its stable code and HTTP status. */
export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
  }
}

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

/** Create an element: props are properties (className, textContent, …) or data-/aria- attributes. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key.startsWith("data-") || key.startsWith("aria-")) node.setAttribute(key, String(value));
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

async function request(method, path, body, { auth = true, raw = false } = {}) {
  const headers = { Accept: raw ? "*/*" : "application/json" };
  if (auth) headers.Authorization = `Bearer ${getToken()}`;
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError("network", describeError("network"));
  }
  if (res.ok && raw) return res.blob();
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(e.code || "error", messageFor(e.code, e.message || `HTTP ${res.status}`), res.status);
  }
  return data;
}

/** One JSON request with the session's bearer token; throws ApiError. */
export function api(method, path, body) {
  return request(method, path, body);
}

/** A JSON request without a token (guests). */
export function publicApi(method, path, body) {
  return request(method, path, body, { auth: false });
}

/** GET a file (an image, a CSV) with the token, as a Blob. */
export function fetchBlob(path) {
  return request("GET", path, undefined, { raw: true });
}

/** Show (or clear, with "") the page message. */
export function showMessage(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}

/** Show an error (ApiError or any Error) in the page message; auth errors ask to sign in again. */
export function showError(err) {
  if (err && AUTH_CODES.has(err.code)) {
    clearSession();
    showSignIn(describeError(err.code, err.message));
    return;
  }
  showMessage((err && err.message) || "Something went wrong.");
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

/** The claims of the session's token (unverified), or {}. */
export function claims() {
  return tokenClaims(getToken()) || {};
}

let onReady = null;

function showSignIn(text) {
  $("app").hidden = true;
  $("session-bar").hidden = true;
  $("signin").hidden = false;
  if (text) showMessage(text);
  $("name").focus();
}

async function enter() {
  const user = getUser() || {};
  const c = claims();
  $("who-name").textContent = user.display_name || user.name || c.name || "";
  $("who-role").textContent = c.role ? `(${c.role}${c.org ? `, ${c.org}` : ""})` : "";
  $("signin").hidden = true;
  $("app").hidden = false;
  $("session-bar").hidden = false;
  showMessage("");
  await onReady(c);
}

/** Wire sign-in and sign-out; call ``ready(claims)`` once signed in. */
export function startPage(ready) {
  onReady = ready;
  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = $("name").value.trim();
    const password = $("password").value;
    if (!name || !password) { showMessage("Enter your name and password."); return; }
    $("btn-signin").disabled = true;
    try {
      const { token, user } = await login(name, password);
      saveSession(token, user);
      $("password").value = "";
      await enter();
    } catch (err) {
      showMessage(err.code === "bad_credentials" || err.code === "invalid_credentials"
        ? "Wrong name or password." : describeError(err.code, err.message));
    } finally {
      $("btn-signin").disabled = false;
    }
  });
  $("btn-signout").addEventListener("click", () => {
    clearSession();
    showSignIn("");
    showMessage("Signed out.", "info");
  });
  const token = getToken();
  if (token && !tokenExpired(token) && (tokenClaims(token) || {}).role !== "guest") {
    enter().catch(showError);
  } else {
    if (token) clearSession();
    showSignIn(token && tokenExpired(token) ? "Your session has expired. Sign in again." : "");
  }
}
