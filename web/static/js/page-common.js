// Shared by the signed-in pages: the JSON API with the session token, a DOM helper that only ever
// sets text (never HTML) from data, the page message, and the sign-in form / sign-out /
// expired-session wiring (admin, meetings, records, statistics: #message, #signin, #signin-form
// with #name #password #btn-signin, #app, #session-bar, #btn-signout). Pages signed in by a token
// in the address (messages, consults) use takeUrlToken() and showErrorBanner().
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

/** Create an element: props are properties (className, textContent, type, value…) or data-/aria- attributes. */
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

function defaultDescribe(code, serverMessage, status) {
  return describeError(code, serverMessage || `Request failed (HTTP ${status}).`);
}

/**
 * One JSON request; throws ApiError. Options: ``auth`` (send the session's bearer token, default
 * true), ``raw`` (return the body as a Blob), ``describe(code, serverMessage, status)`` (the
 * message of the ApiError for an error answer).
 */
export async function api(method, path, body, { auth = true, raw = false, describe = defaultDescribe } = {}) {
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
  if (res.status === 204) return null;
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  if (!res.ok) {
    const e = (data && data.error) || {};
    throw new ApiError(e.code || "error", describe(e.code, e.message, res.status), res.status);
  }
  return data;
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

/** The claims of the session's token (unverified), or {}. */
export function claims() {
  return tokenClaims(getToken()) || {};
}

/** Hide the page behind the sign-in form, with an optional message. */
export function showSignIn(text) {
  $("app").hidden = true;
  $("session-bar").hidden = true;
  $("signin").hidden = false;
  if (text) showMessage(text);
  $("name").focus();
}

/** Show the page (and the session bar) instead of the sign-in form. */
export function showApp() {
  $("signin").hidden = true;
  $("app").hidden = false;
  $("session-bar").hidden = false;
  showMessage("");
}

/**
 * Wire the sign-in form and the sign-out button, then call ``onSignedIn()`` now if the tab holds
 * a usable session (else show the sign-in form, saying so if the session expired) and after
 * each sign-in. A guest token counts as no session unless ``allowGuest``.
 */
export function wireSignIn({ onSignedIn, allowGuest = true }) {
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
      await onSignedIn();
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
  const enter = async () => onSignedIn();
  const token = getToken();
  const usable = token && !tokenExpired(token) && (allowGuest || (tokenClaims(token) || {}).role !== "guest");
  if (usable) {
    enter().catch(showError);
  } else {
    if (token) clearSession();
    showSignIn(token && tokenExpired(token) ? "Your session has expired. Sign in again." : "");
  }
}

/**
 * Show the error banner of a page signed in by token (#error[data-code], #error-text,
 * #error-actions). An auth error ends the session and offers "Sign in" (#btn-signin-again, to /);
 * other errors get a Dismiss button when ``dismissable``.
 */
export function showErrorBanner(code, text, { dismissable = false } = {}) {
  const box = $("error");
  box.dataset.code = code || "error";
  $("error-text").textContent = text;
  const actions = $("error-actions");
  actions.replaceChildren();
  if (AUTH_CODES.has(code)) {
    clearSession();
    actions.append(el("a", { className: "btn", id: "btn-signin-again", href: "/", textContent: "Sign in" }));
  } else if (dismissable) {
    const close = el("button", { type: "button", className: "link", textContent: "Dismiss" });
    close.addEventListener("click", () => { box.hidden = true; });
    actions.append(close);
  }
  box.hidden = false;
}

/** The token from ``?token=`` (saved as the session and removed from the address), else the session's. */
export function takeUrlToken() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get("token");
  if (!fromUrl) return getToken();
  saveSession(fromUrl, getUser());
  params.delete("token");
  const rest = params.toString();
  history.replaceState(null, "", location.pathname + (rest ? `?${rest}` : "") + location.hash);
  return fromUrl;
}
