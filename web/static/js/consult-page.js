// The consults page (/consults): the signed-in user's consults of today and later on the left, a
// form to open a new one (clinicians choose the patient, elders the clinician), and the open
// consult on the right (consult-view.js). The open consult is in the address: /consults#<id>.
//
// Live updates come over the chat's Socket.IO connection: consult:update (a consult changed) and
// consult:mode (switch the call to text, voice or video). After a reconnect everything is fetched
// again. Hooks: #status[data-state], #error[data-code], #notice[data-code], #new-consult
// (#new-who #new-kind #new-when #btn-create), .consult-item[data-consult-id][data-status]
// [aria-current]. window.carertcChat is the ChatStore, window.carertcConsults the view.
import { ChatStore } from "./chat-store.js";
import { ConsultApi, describeConsultError } from "./consult-api.js";
import { ConsultView, otherParty, when } from "./consult-view.js";
import { icon } from "./icons.js";
import { showErrorBanner, takeUrlToken } from "./page-common.js";
import { getUser, tokenClaims, tokenExpired } from "./session.js";

const $ = (id) => document.getElementById(id);
const CLINICIANS = new Set(["doctor", "nurse", "psychologist", "admin"]);
const KIND_TEXT = { medical: "Medical", nursing: "Nursing", psychological: "Psychological" };
const MODE_TEXT = { text: "in text", voice: "in voice", video: "in video" };
const STATUS_TEXT = { connecting: "Connecting…", online: "Online", offline: "Reconnecting…", failed: "Not connected" };

function showError(code, message) {
  showErrorBanner(code, message || describeConsultError(code), { dismissable: true });
}

function showNotice(code, message) {
  $("notice").dataset.code = code;
  $("notice-text").textContent = message;
  $("notice").hidden = false;
}

function setStatus(state) {
  $("status").dataset.state = state;
  $("status").textContent = STATUS_TEXT[state] || state;
}

function startOfToday() {
  const d = new Date();
  d.setHours(0, 0, 0, 0);
  return d.toISOString();
}

function start() {
  const token = takeUrlToken();
  if (!token || tokenExpired(token)) {
    setStatus("failed");
    showError(token ? "token_expired" : "token_missing",
      token ? undefined : "You are not signed in. Sign in to see your consults.");
    return;
  }
  const claims = tokenClaims(token) || {};
  const user = getUser();
  const myName = (user && (user.display_name || user.name)) || claims.name || "You";
  $("me").textContent = ` · ${myName}`;
  const api = new ConsultApi(token);
  const store = new ChatStore({ origin: location.origin, token });
  window.carertcChat = store;

  const consults = new Map(); // id -> record (today and later, and every active one)
  const view = new ConsultView({
    api,
    store,
    token,
    myName,
    onError: (err) => showError(err && err.code, err && err.message),
    onNotice: showNotice,
    onChanged: (record) => { consults.set(record.id, record); renderList(); },
  });
  window.carertcConsults = view;

  // ---- the list ----------------------------------------------------------------------------------

  function renderList() {
    const list = $("consult-list");
    const items = Array.from(consults.values())
      .filter((c) => c.my_role)
      .sort((a, b) => (b.status === "active") - (a.status === "active")
        || (a.scheduled_at < b.scheduled_at ? -1 : a.scheduled_at > b.scheduled_at ? 1 : 0));
    list.replaceChildren(...items.map((c) => {
      const li = document.createElement("li");
      const btn = document.createElement("button");
      btn.type = "button";
      btn.className = "conv consult-item";
      btn.dataset.consultId = c.id;
      btn.dataset.status = c.status;
      if (c.id === view.id) btn.setAttribute("aria-current", "true");
      const title = document.createElement("span");
      title.className = "conv-title";
      title.textContent = otherParty(c);
      const time = document.createElement("span");
      time.className = "conv-time";
      time.textContent = when(c.started_at || c.scheduled_at);
      const preview = document.createElement("span");
      preview.className = "conv-preview";
      preview.textContent = `${KIND_TEXT[c.kind] || c.kind} · ${c.status === "active" ? MODE_TEXT[c.current_mode] || "" : c.status}`;
      btn.append(title, time, preview);
      btn.addEventListener("click", () => { location.hash = encodeURIComponent(c.id); });
      li.append(btn);
      return li;
    }));
    $("list-empty").hidden = items.length > 0;
  }

  async function refreshList() {
    try {
      const [upcoming, active] = await Promise.all([
        api.list({ from: startOfToday(), limit: "200" }),
        api.list({ status: "active", limit: "200" }),
      ]);
      consults.clear();
      for (const c of [...upcoming, ...active]) consults.set(c.id, c);
      renderList();
    } catch (err) {
      showError(err.code, err.message);
    }
  }

  // ---- the open consult ------------------------------------------------------------------------

  async function fromHash() {
    const id = decodeURIComponent(location.hash.replace(/^#/, ""));
    document.body.dataset.view = id ? "consult" : "list";
    if (!id) { view.closeCall(); $("consult").hidden = true; view.record = null; renderList(); return; }
    try {
      const record = await api.get(id);
      consults.set(record.id, record);
      view.show(record);
    } catch (err) {
      showError(err.code, err.message);
    }
    renderList();
  }

  // ---- a new consult -----------------------------------------------------------------------------

  const form = $("new-consult");
  const clinician = CLINICIANS.has(claims.role);
  form.hidden = !(clinician || claims.role === "elder");
  $("new-who-label").textContent = clinician ? "Patient" : "Clinician (doctor, nurse or psychologist)";
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const who = $("new-who").value.trim();
    if (!who) return;
    const body = clinician ? { patient: who } : { clinician: who };
    if ($("new-kind").value) body.kind = $("new-kind").value;
    const at = $("new-when").value;
    if (at) body.scheduled_at = new Date(at).toISOString();
    $("btn-create").disabled = true;
    try {
      let record = await api.create(body);
      if (!at && clinician) record = await api.action(record.id, "start");
      consults.set(record.id, record);
      form.reset();
      location.hash = encodeURIComponent(record.id);
      renderList();
    } catch (err) {
      showError(err.code, err.message);
    } finally {
      $("btn-create").disabled = false;
    }
  });

  // ---- live updates ------------------------------------------------------------------------------

  store.connect();
  store.socket.on("consult:update", (ev) => {
    const c = ev && ev.consult;
    if (!c || !c.id) return;
    consults.set(c.id, c);
    if (c.id === view.id) view.show(c);
    renderList();
  });
  store.socket.on("consult:mode", (ev) => {
    if (ev && ev.consult_id === view.id) view.applyMode(ev.mode);
    const c = ev && consults.get(ev.consult_id);
    if (c) { consults.set(c.id, { ...c, current_mode: ev.mode }); renderList(); }
  });
  let wasOnline = false;
  store.addEventListener("status", (ev) => {
    setStatus(ev.detail.state);
    if (ev.detail.state === "online") {
      if (wasOnline) { refreshList(); view.refresh(); } // catch up with what was missed
      wasOnline = true;
    }
  });
  store.addEventListener("error", (ev) => { if (ev.detail.fatal) showError(ev.detail.code, ev.detail.message); });
  $("btn-notice-close").addEventListener("click", () => { $("notice").hidden = true; });
  $("btn-back").replaceChildren(icon("back"));
  $("btn-back").addEventListener("click", () => { history.pushState(null, "", location.pathname); fromHash(); });
  window.addEventListener("hashchange", () => fromHash());
  window.addEventListener("pagehide", () => view.closeCall());
  setStatus("connecting");
  refreshList().then(() => fromHash());
}

start();
