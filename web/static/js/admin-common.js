// Shared by the admin pages: the roles, the API with the admin pages' error messages, and the
// "acting for" organisation switcher on top of the shared sign-in (page-common.js).
import { saveSession } from "./session.js";
import { describeError } from "./errors.js";
import { $, api as pageApi, el, showApp, showError, wireSignIn } from "./page-common.js";

export { ApiError, claims, el, showError, showMessage } from "./page-common.js";

export const ROLES = ["admin", "doctor", "nurse", "psychologist", "staff", "family", "elder", "guest"];

const ADMIN_MESSAGES = {
  permission_denied: "Your role may not do that in this organisation.",
  bad_request: null, // the server's message says what was wrong
};

function adminMessage(code, serverMessage, status) {
  if (code in ADMIN_MESSAGES) return ADMIN_MESSAGES[code] || serverMessage || "Bad request.";
  return describeError(code, serverMessage || `Request failed (HTTP ${status}).`);
}

/** One JSON request with the session's bearer token; throws ApiError. */
export function api(method, path, body) {
  return pageApi(method, path, body, { describe: adminMessage });
}

let started = null;

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
  showApp();
  await started(me);
}

/** Wire the sign-in form, the switcher and sign-out; call ``onReady(me)`` once signed in (and after each switch). */
export function startAdminPage(onReady) {
  started = onReady;
  $("acting-org").addEventListener("change", async (ev) => {
    const orgId = ev.target.value;
    if (!orgId) return;
    try {
      const { token, user } = await api("POST", "/api/v1/auth/switch", { org_id: orgId });
      saveSession(token, user);
      await enter();
    } catch (err) { showError(err); }
  });
  wireSignIn({ onSignedIn: enter });
}
