// Sign-in page: name + password -> token in sessionStorage -> "join room" box.
import { clearSession, getToken, getUser, login, saveSession, tokenClaims, tokenExpired } from "./session.js";

const $ = (id) => document.getElementById(id);
const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;

function showMessage(text, kind = "error") {
  const el = $("message");
  el.textContent = text;
  el.className = `message ${kind}`;
  el.hidden = !text;
}

function showSignIn() {
  $("join").hidden = true;
  $("signin").hidden = false;
  $("name").focus();
}

function showJoin() {
  const token = getToken();
  const user = getUser() || {};
  const claims = tokenClaims(token) || {};
  $("user-name").textContent = user.display_name || user.name || claims.name || "you";
  const role = user.role || claims.role || "";
  $("user-role").textContent = role ? `(${role})` : "";
  $("link-elder").hidden = role !== "elder";
  $("admin-links").hidden = !["admin", "doctor", "nurse", "psychologist", "staff"].includes(role);
  $("signin").hidden = true;
  $("join").hidden = false;
  const params = new URLSearchParams(location.search);
  const wanted = params.get("room");
  if (wanted && ROOM_RE.test(wanted)) $("room-id").value = wanted;
  $("room-id").focus();
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = $("name").value.trim();
  const password = $("password").value;
  if (!name || !password) {
    showMessage("Enter your name and password.");
    return;
  }
  const btn = $("btn-signin");
  btn.disabled = true;
  showMessage("Signing in…", "info");
  try {
    const { token, user } = await login(name, password);
    saveSession(token, user);
    $("password").value = "";
    showMessage("");
    // came from a call page ("Sign in again"): straight back into that room
    const back = new URLSearchParams(location.search).get("room");
    if (back && ROOM_RE.test(back) && new URLSearchParams(location.search).has("reason")) {
      location.assign(`/room/${encodeURIComponent(back)}`);
      return;
    }
    showJoin();
  } catch (err) {
    showMessage(err.code === "invalid_credentials" || err.code === "bad_credentials"
      ? "Wrong name or password." : err.message);
    $("password").select();
  } finally {
    btn.disabled = false;
  }
});

$("join-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const room = $("room-id").value.trim();
  if (!ROOM_RE.test(room)) {
    showMessage("A room name is 1 to 64 letters, digits, '-' or '_'.");
    return;
  }
  location.assign(`/room/${encodeURIComponent(room)}`);
});

$("btn-signout").addEventListener("click", () => {
  clearSession();
  showMessage("Signed out.", "info");
  showSignIn();
});

// Start: a stored, unexpired token goes straight to the join box.
const token = getToken();
const reason = new URLSearchParams(location.search).get("reason");
if (token && !tokenExpired(token)) {
  showJoin();
} else {
  if (token) {
    clearSession();
    showMessage("Your session has expired. Sign in again.");
  } else if (reason) {
    showMessage(reason === "expired" ? "Your session has expired. Sign in again." : "Sign in to join the call.");
  }
  showSignIn();
}
