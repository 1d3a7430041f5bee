// Accounts admin page (/admin/accounts): create, search, disable/enable, reset password.
import { ROLES, api, el, showError, showMessage, startAdminPage } from "./admin-common.js";

const $ = (id) => document.getElementById(id);
let me = null;

/** The organisation acted for ("" for none): the switcher only offers real organisations. */
function orgQuery() {
  return $("acting-org").value || "";
}

function showSecret(name, password) {
  $("secret-for").textContent = name;
  $("secret").textContent = password;
  $("secret-box").hidden = false;
}

function hideSecret() {
  $("secret").textContent = "";
  $("secret-for").textContent = "";
  $("secret-box").hidden = true;
}

function row(account) {
  const state = account.disabled ? "disabled" : "active";
  const toggle = el("button", {
    type: "button",
    className: account.disabled ? "act-enable" : "act-disable danger",
    textContent: account.disabled ? "Enable" : "Disable",
  });
  toggle.addEventListener("click", () => setDisabled(account, !account.disabled));
  const reset = el("button", { type: "button", className: "act-reset", textContent: "Reset password" });
  reset.addEventListener("click", () => resetPassword(account));
  const role = account.global_admin ? `${account.role} (global admin)` : account.role;
  return el("tr", { "data-user-id": account.id, "data-name": account.name, "data-disabled": account.disabled },
    el("td", { className: "name", textContent: account.name }),
    el("td", { textContent: account.display_name }),
    el("td", { textContent: role }),
    el("td", { className: `state state-${state}`, textContent: state }),
    el("td", {}, toggle, " ", reset));
}

async function loadAccounts() {
  const params = new URLSearchParams();
  const org = orgQuery();
  if (org) params.set("org_id", org);
  const q = $("search").value.trim();
  if (q) params.set("q", q);
  const { accounts } = await api("GET", `/api/v1/accounts?${params}`);
  $("accounts-body").replaceChildren(...accounts.map(row));
  $("accounts-empty").hidden = accounts.length > 0;
  document.body.dataset.accountsLoaded = String(Date.now());
}

async function setDisabled(account, disabled) {
  try {
    await api("POST", `/api/v1/accounts/${encodeURIComponent(account.id)}/${disabled ? "disable" : "enable"}`);
    showMessage(`${account.name} is ${disabled ? "disabled" : "enabled again"}.`, "info");
    await loadAccounts();
  } catch (err) { showError(err); }
}

async function resetPassword(account) {
  try {
    const res = await api("POST", `/api/v1/accounts/${encodeURIComponent(account.id)}/password`);
    showSecret(account.name, res.password || "");
    showMessage(`The password of ${account.name} was reset.`, "info");
  } catch (err) { showError(err); }
}

$("create-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = $("new-name").value.trim();
  if (!name) { showMessage("Give the account a name."); return; }
  const body = { name, role: $("new-role").value, duty_desk: $("new-duty").checked };
  const display = $("new-display").value.trim();
  if (display) body.display_name = display;
  if ($("new-password").value) body.password = $("new-password").value;
  const org = orgQuery();
  if (org) body.org_id = org;
  $("btn-create").disabled = true;
  try {
    const account = await api("POST", "/api/v1/accounts", body);
    $("create-form").reset();
    if (account.password) showSecret(account.name, account.password);
    else hideSecret();
    showMessage(`Created ${account.name}.`, "info");
    await loadAccounts();
  } catch (err) {
    showError(err);
  } finally {
    $("btn-create").disabled = false;
  }
});

$("search-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  loadAccounts().catch(showError);
});
$("btn-secret-done").addEventListener("click", hideSecret);

$("new-role").replaceChildren(...ROLES.map((r) =>
  el("option", { value: r, textContent: r, defaultSelected: r === "nurse" })));

startAdminPage(async (current) => {
  me = current;
  hideSecret();
  const org = orgQuery();
  const option = $("acting-org").selectedOptions[0];
  $("org-name").textContent = org && option ? option.textContent.split(" — ")[0] : "every organisation";
  await loadAccounts();
});
