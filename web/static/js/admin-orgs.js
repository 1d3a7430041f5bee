// Organisations admin page (/admin/orgs): organisations, members, the permission grid per role.
import { ROLES, api, claims, el, showError, showMessage, startAdminPage } from "./admin-common.js";

const $ = (id) => document.getElementById(id);
const KINDS = ["hospital", "community_hospital", "care_institution", "other"];
let me = null;
let selected = null; // organisation id

function options(select, values, preset) {
  select.replaceChildren(...values.map((v) =>
    el("option", { value: v, textContent: v, defaultSelected: v === preset })));
}

async function loadOrgs() {
  const { orgs } = await api("GET", "/api/v1/orgs");
  const items = orgs.map((org) => {
    const btn = el("button", {
      type: "button", className: "secondary", textContent: org.name,
      "data-org-id": org.id, "aria-pressed": String(org.id === selected),
    });
    btn.addEventListener("click", () => select(org.id).catch(showError));
    return el("li", {}, btn);
  });
  $("org-list").replaceChildren(...items);
  $("orgs-empty").hidden = orgs.length > 0;
  return orgs;
}

async function select(orgId) {
  selected = orgId;
  for (const btn of $("org-list").querySelectorAll("button")) {
    btn.setAttribute("aria-pressed", String(btn.dataset.orgId === orgId));
  }
  const org = await api("GET", `/api/v1/orgs/${encodeURIComponent(orgId)}`);
  $("org-heading").textContent = org.name;
  $("org-name").value = org.name;
  $("org-kind").value = org.kind;
  $("org-detail").hidden = false;
  await Promise.all([loadMembers(), loadGrid()]);
}

function memberRow(m) {
  const role = el("select", { className: "member-role", "aria-label": `Role of ${m.name}` });
  options(role, ROLES);
  role.value = m.role;
  role.addEventListener("change", () => changeMember(m, { role: role.value }));
  const duty = el("input", { type: "checkbox", checked: m.duty_desk, "aria-label": `Duty desk: ${m.name}` });
  duty.addEventListener("change", () => changeMember(m, { duty_desk: duty.checked }));
  const remove = el("button", { type: "button", className: "danger act-remove", textContent: "Remove" });
  remove.addEventListener("click", () => removeMember(m));
  return el("tr", { "data-user-id": m.user_id, "data-name": m.name, "data-disabled": m.disabled },
    el("td", { className: "name", textContent: m.name }),
    el("td", { textContent: m.display_name }),
    el("td", {}, role),
    el("td", {}, duty),
    el("td", {}, remove));
}

async function loadMembers() {
  const { members } = await api("GET", `/api/v1/orgs/${encodeURIComponent(selected)}/members`);
  $("members-body").replaceChildren(...members.map(memberRow));
}

async function changeMember(m, change) {
  try {
    await api("PATCH", `/api/v1/orgs/${encodeURIComponent(selected)}/members/${encodeURIComponent(m.user_id)}`, change);
    showMessage(`Updated ${m.name}.`, "info");
  } catch (err) { showError(err); }
  await loadMembers().catch(showError);
}

async function removeMember(m) {
  try {
    await api("DELETE", `/api/v1/orgs/${encodeURIComponent(selected)}/members/${encodeURIComponent(m.user_id)}`);
    showMessage(`Removed ${m.name}.`, "info");
    await loadMembers();
  } catch (err) { showError(err); }
}

async function loadGrid() {
  const { roles } = await api("GET", `/api/v1/orgs/${encodeURIComponent(selected)}/permissions`);
  const roleNames = Object.keys(roles);
  const perms = Object.keys(roles[roleNames[0]].permissions);
  $("perm-head").replaceChildren(el("th", { textContent: "permission" }),
    ...roleNames.map((r) => el("th", { scope: "col", textContent: r })));
  const rows = perms.map((perm) => el("tr", { "data-permission": perm },
    el("th", { scope: "row", textContent: perm }),
    ...roleNames.map((role) => {
      const overridden = perm in roles[role].overrides;
      const box = el("input", {
        type: "checkbox", checked: roles[role].permissions[perm], disabled: role === "admin",
        "aria-label": `${perm} for ${role}`, "data-role": role,
      });
      box.addEventListener("change", () => setPermission(role, perm, box.checked));
      const cell = el("td", { className: overridden ? "overridden" : "" }, box);
      if (overridden) {
        const reset = el("button", { type: "button", textContent: "↺", title: "back to the default" });
        reset.addEventListener("click", () => setPermission(role, perm, null));
        cell.append(" ", reset);
      }
      return cell;
    })));
  $("perm-body").replaceChildren(...rows);
}

async function setPermission(role, perm, value) {
  try {
    await api("PUT", `/api/v1/orgs/${encodeURIComponent(selected)}/roles/${encodeURIComponent(role)}/permissions`,
      { [perm]: value });
    showMessage(`${perm} for ${role}: ${value === null ? "default" : value ? "granted" : "revoked"}.`, "info");
  } catch (err) { showError(err); }
  await loadGrid().catch(showError);
}

$("org-create-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = $("org-new-name").value.trim();
  if (!name) { showMessage("Give the organisation a name."); return; }
  try {
    const org = await api("POST", "/api/v1/orgs", { name, kind: $("org-new-kind").value });
    $("org-create-form").reset();
    showMessage(`Created ${org.name}.`, "info");
    await loadOrgs();
    await select(org.id);
  } catch (err) { showError(err); }
});

$("org-edit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const org = await api("PATCH", `/api/v1/orgs/${encodeURIComponent(selected)}`,
      { name: $("org-name").value.trim(), kind: $("org-kind").value });
    $("org-heading").textContent = org.name;
    showMessage("Saved.", "info");
    await loadOrgs();
  } catch (err) { showError(err); }
});

$("member-add-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = $("member-name").value.trim();
  if (!name) { showMessage("Give the account name."); return; }
  try {
    await api("POST", `/api/v1/orgs/${encodeURIComponent(selected)}/members`,
      { name, role: $("member-role").value, duty_desk: $("member-duty").checked });
    $("member-add-form").reset();
    showMessage(`Added ${name}.`, "info");
    await loadMembers();
  } catch (err) { showError(err); }
});

options($("org-new-kind"), KINDS);
options($("org-kind"), KINDS);
options($("member-role"), ROLES, "nurse");

startAdminPage(async (current) => {
  me = current;
  $("org-create-form").hidden = !me.global_admin;
  const orgs = await loadOrgs();
  const acting = claims().org;
  const first = orgs.find((o) => o.id === acting) || orgs[0];
  if (first) await select(first.id);
  else $("org-detail").hidden = true;
});
