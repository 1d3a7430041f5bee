// Shared by the admin pages: sign-in, the JSON API with the session token, the
// "acting for" organisation switcher, messages, and a DOM helper that only ever
// sets text (never HTML) from data.
import { clearSession, getToken, login, saveSession, tokenClaims, tokenExpired } from "./session.js";
import { AUTH_CODES, describeError } from "./errors.js";

export const ROLES = ["admin", "doctor", "nurse", "psychologist", "staff", "family", "elder", "guest"];

const $ = (id) => document.getElementById(id);

/** An API error with its stable code and HTTP status. */
export class ApiError extends Error {
  constructor(code, message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.status = status;
  }
}

/** Create an element: props are properties (className, textContent, type, value…) or data-* attributes. */
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

/** Show (or clear, with "") the page message. */
export function showMessage(text, kind = "error") {
  const box = $("message");
  box.textContent = text;
  box.className = `message ${kind}`;
  box.hidden = !text;
}

/** Show an error from api() (or anything thrown) in the page message. */
export function showError(err) {
  const code = err && err.code;
  if (code && AUTH_CODES.has(code)) {
    clearSession();
    showSignIn(describeError(code, err.message));
    return;
  }
  showMessage((err && err.message) || "Something went wrong.");
}

/** One JSON request with the session's bearer token; throws ApiError. */
export async function api(method, path, body) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${getToken()}` };
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
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(e.code || "error", adminMessage(e.code, e.message, res.status), res.status);
  }
  return data;
}

const ADMIN_MESSAGES = {
  permission_denied: "Your role may not do that in this organisation.",
  bad_request: null, // the server's message says what was wrong
};

function adminMessage(code, serverMessage, status) {
  if (code in ADMIN_MESSAGES) return ADMIN_MESSAGES[code] || serverMessage || "Bad request.";
  return describeError(code, serverMessage || `Request failed (HTTP ${status}).`);
}

let started = null;

function showSignIn(text) {
  $("app").hidden = true;
  $("session-bar").hidden = true;
  $("signin").hidden = false;
  if (text) showMessage(text);
  $("name").focus();
}

/** The current token's claims ({sub, role, org, …}) or {}. */
export function claims() {
  return tokenClaims(getToken()) || {};
}

async function renderHeader(me) {
  $("who-name").textContent = me.user.display_name || me.user.name;
  $("who-role").textContent = me.global_admin ? "(global admin)" : `(${me.session.role})`;
  const select = $("acting-org");
  select.replaceChildren();
  let options = me.memberships.map((m) => ({ id: m.org_id, label: `${m.name} — ${m.role}` }));
  if (me.global_admin) {
    const { orgs } = await api("GET", "/api/v1/orgs");
    options = orgs.map((o) => ({ id: o.id, label: o.role ? `${o.name} — ${o.role}` : o.name }));
  }
  if (!me.session.org || !options.some((o) => o.id === me.session.org)) {
    select.append(el("option", { value: "", textContent: "— no organisation —" }));
  }
  for (const o of options) select.append(el("option", { value: o.id, textContent: o.label }));
  select.value = me.session.org && options.some((o) => o.id === me.session.org) ? me.session.org : "";
  select.disabled = options.length === 0;
}

async function enter() {
  const me = await api("GET", "/api/v1/me");
  await renderHeader(me);
  $("signin").hidden = true;
  $("app").hidden = false;
  $("session-bar").hidden = false;
  showMessage("");
  await started(me);
}

/** Wire the sign-in form, the switcher and sign-out; call ``onReady(me)`` once signed in (and after each switch). */
export function startAdminPage(onReady) {
  started = onReady;
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
  $("acting-org").addEventListener("change", async (ev) => {
    const orgId = ev.target.value;
    if (!orgId) return;
    try {
      const { token, user } = await api("POST", "/api/v1/auth/switch", { org_id: orgId });
      saveSession(token, user);
      await enter();
    } catch (err) { showError(err); }
  });
  $("btn-signout").addEventListener("click", () => {
    clearSession();
    showSignIn("");
    showMessage("Signed out.", "info");
  });
  const token = getToken();
  if (token && !tokenExpired(token)) {
    enter().catch(showError);
  } else {
    if (token) clearSession();
    showSignIn(token ? "Your session has expired. Sign in again." : "");
  }
}
