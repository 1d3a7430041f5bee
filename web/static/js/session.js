// Where the sign-in token lives: sessionStorage (per tab, gone when the tab closes).
const TOKEN_KEY = "carertc.token";
const USER_KEY = "carertc.user";

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY) || ""; } catch { return ""; }
}

export function getUser() {
  try { return JSON.parse(sessionStorage.getItem(USER_KEY) || "null"); } catch { return null; }
}

export function saveSession(token, user) {
  sessionStorage.setItem(TOKEN_KEY, token);
  if (user) sessionStorage.setItem(USER_KEY, JSON.stringify(user));
  else sessionStorage.removeItem(USER_KEY);
}

export function clearSession() {
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

/** The claims of a JWT (unverified: only to show a name or notice expiry early), or null. */
export function tokenClaims(token) {
  try {
    const part = token.split(".")[1];
    const b64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const json = decodeURIComponent(Array.from(atob(b64), (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

/** True when the token carries an `exp` that is already in the past. */
export function tokenExpired(token, skewSeconds = 0) {
  const claims = tokenClaims(token);
  return !!(claims && typeof claims.exp === "number" && claims.exp + skewSeconds < Date.now() / 1000);
}

/** POST /api/v1/auth/login -> {token, user}; throws an Error with .code on failure. */
export async function login(name, password) {
  let res;
  try {
    res = await fetch("/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ name, password }),
      credentials: "same-origin",
    });
  } catch {
    throw codedError("network", "Cannot reach the server. Check your connection and try again.");
  }
  let body = null;
  try { body = await res.json(); } catch { /* not JSON */ }
  if (body && body.error) throw codedError(body.error.code || "error", body.error.message || "Sign-in failed.");
  if (!res.ok || !body || typeof body.token !== "string") {
    throw codedError(res.status === 401 ? "invalid_credentials" : "error",
      res.status === 401 ? "Wrong name or password." : `Sign-in failed (HTTP ${res.status}).`);
  }
  return body;
}

function codedError(code, message) {
  const err = new Error(message);
  err.code = code;
  return err;
}
