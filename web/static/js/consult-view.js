// ConsultView: one open consult on the consults page — who and when, the actions the viewer may
// take (start, Text / Voice / Video, cancel, end with a summary), the call area, the chat beside
// it, and for the clinician the form that pushes cards (materials, questionnaires) into the chat.
//
// Hooks: #consult[data-consult-id][data-status][data-my-role][data-mode], #consult-status,
// #btn-start, #btn-mode-text/-voice/-video[aria-pressed], #btn-cancel, #btn-end, #end-dialog
// (#end-summary, #btn-end-confirm), #card-form (#card-type #card-title #card-desc #card-url
// #btn-card), #consult-summary, #consult-chat .chat (chat.js). window.carertcConsultCall is the call.
import { ChatPanel } from "./chat.js";
import { ConsultCall, CallView } from "./consult-call.js";

const $ = (id) => document.getElementById(id);

const STATUS_TEXT = { scheduled: "Scheduled", active: "In progress", ended: "Ended", cancelled: "Cancelled" };
const KIND_TEXT = { medical: "Medical", nursing: "Nursing", psychological: "Psychological" };
const MODE_TEXT = { text: "Text", voice: "Voice", video: "Video" };

/** "Mon 1 Dec, 09:30" in local time. */
export function when(iso) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

/** "12 min 5 s" */
export function duration(seconds) {
  if (typeof seconds !== "number") return "";
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return [h ? `${h} h` : "", m ? `${m} min` : "", `${s % 60} s`].filter(Boolean).join(" ");
}

/** The name of the other party for the viewer. */
export function otherParty(c) {
  return c.my_role === "patient" ? c.clinician.name : c.patient.name;
}

export class ConsultView {
  /**
   * @param {{api: import("./consult-api.js").ConsultApi, store: import("./chat-store.js").ChatStore,
   *          token: string, myName: string, onError: (err: any) => void, onNotice: (code: string, msg: string) => void,
   *          onChanged: (consult: object) => void}} opts
   */
  constructor(opts) {
    Object.assign(this, opts);
    this.record = null;
    this.call = null;
    this.callView = null;
    this.chat = new ChatPanel($("consult-chat"), this.store, { title: "Chat" });
    this.chat.setVisible(true);
    $("btn-start").addEventListener("click", () => this.act("start"));
    $("btn-cancel").addEventListener("click", () => this.act("cancel"));
    for (const mode of Object.keys(MODE_TEXT)) {
      $(`btn-mode-${mode}`).addEventListener("click", () => this.switchMode(mode));
    }
    $("btn-end").addEventListener("click", () => this.askEnd());
    $("end-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (ev.submitter && ev.submitter.value === "cancel") { $("end-dialog").close(); return; }
      this.end();
    });
    $("card-form").addEventListener("submit", (ev) => { ev.preventDefault(); this.pushCard(); });
    $("card-type").addEventListener("change", () => this.renderCardForm());
  }

  get id() {
    return this.record && this.record.id;
  }

  /** Show `record` (a fresh consult, or a newer state of the open one). */
  show(record) {
    const changedConsult = !this.record || this.record.id !== record.id;
    if (changedConsult) this.closeCall();
    this.record = record;
    const root = $("consult");
    root.hidden = false;
    root.dataset.consultId = record.id;
    root.dataset.status = record.status;
    root.dataset.myRole = record.my_role || "";
    root.dataset.mode = record.current_mode || "text";
    const runner = record.my_role === "clinician" || record.my_role === "staff";
    $("consult-title").textContent = `${KIND_TEXT[record.kind] || record.kind} consult with ${otherParty(record)}`;
    const meta = [`${record.clinician.name} · ${record.patient.name}`];
    if (record.status === "scheduled") meta.push(`scheduled ${when(record.scheduled_at)}`);
    if (record.started_at) meta.push(`started ${when(record.started_at)}`);
    if (record.status === "ended") meta.push(`lasted ${duration(record.duration_seconds)}`);
    if (record.modes_used && record.modes_used.length) meta.push(record.modes_used.map((m) => MODE_TEXT[m] || m).join(" → "));
    $("consult-meta").textContent = meta.join(" · ");
    const status = $("consult-status");
    status.dataset.status = record.status;
    status.textContent = STATUS_TEXT[record.status] || record.status;

    $("btn-start").hidden = !(runner && record.status === "scheduled");
    $("btn-cancel").hidden = record.status !== "scheduled";
    $("btn-end").hidden = !(runner && record.status === "active");
    $("modes").hidden = !(runner && record.status === "active");
    for (const mode of Object.keys(MODE_TEXT)) {
      $(`btn-mode-${mode}`).setAttribute("aria-pressed", String(record.current_mode === mode));
    }
    $("consult-tools").hidden = !runner || record.status === "cancelled";
    $("waiting").hidden = !(record.status === "scheduled" && !runner);
    $("consult-summary").hidden = record.status !== "ended";
    $("summary-text").textContent = record.summary || (record.status === "ended" ? "No summary." : "");
    $("summary-text").hidden = record.summary === undefined;
    if (changedConsult && record.conversation_id) this.chat.open(record.conversation_id);
    this.renderCardForm();
    this.syncCall();
  }

  /** Join the consult's call while it is active, in its mode; leave it otherwise. */
  syncCall() {
    const r = this.record;
    const mode = r.current_mode || "text";
    $("consult-call").dataset.mode = r.status === "active" ? mode : "off";
    $("call-note").textContent = r.status !== "active" ? ""
      : mode === "text" ? "Text consult: no audio or video. Use the chat."
        : mode === "voice" ? "Voice consult: microphones only." : "";
    if (r.status !== "active") { this.closeCall(); return; }
    if (this.call) {
      if (this.call.mode !== mode) this.call.setMode(mode);
      return;
    }
    const call = new ConsultCall({ origin: location.origin, token: this.token, roomId: r.room_id, mode });
    window.carertcConsultCall = call;
    this.call = call;
    this.callView = new CallView({ tiles: $("call-tiles"), audio: $("call-audio"), session: call, myName: this.myName });
    call.addEventListener("error", (ev) => this.onError(ev.detail));
    call.addEventListener("notice", (ev) => this.onNotice(ev.detail.code, ev.detail.message));
    call.addEventListener("status", (ev) => { $("consult-call").dataset.state = ev.detail.state; });
    call.start().catch((err) => this.onError(err));
  }

  closeCall() {
    if (this.callView) this.callView.destroy();
    if (this.call) this.call.leave().catch(() => {});
    this.call = null;
    this.callView = null;
    window.carertcConsultCall = null;
  }

  /** A consult:mode notification (or our own switch): follow it at once. */
  applyMode(mode) {
    if (!this.record || this.record.status !== "active") return;
    this.record = { ...this.record, current_mode: mode };
    $("consult").dataset.mode = mode;
    for (const m of Object.keys(MODE_TEXT)) $(`btn-mode-${m}`).setAttribute("aria-pressed", String(m === mode));
    this.syncCall();
  }

  async switchMode(mode) {
    if (!this.record || this.record.current_mode === mode) return;
    this.applyMode(mode);
    await this.act("mode", { mode });
  }

  async act(name, body = {}) {
    const id = this.id;
    if (!id) return null;
    try {
      const record = await this.api.action(id, name, body);
      if (this.id === id) this.show(record);
      this.onChanged(record);
      return record;
    } catch (err) {
      this.onError(err);
      if (err.code === "bad_state") this.refresh();
      return null;
    }
  }

  async refresh() {
    if (!this.id) return;
    try {
      this.show(await this.api.get(this.id));
    } catch (err) {
      this.onError(err);
    }
  }

  askEnd() {
    $("end-summary").value = "";
    $("end-dialog").showModal();
    $("end-summary").focus();
  }

  async end() {
    const summary = $("end-summary").value.trim();
    $("end-dialog").close();
    await this.act("end", summary ? { summary } : {});
  }

  renderCardForm() {
    const type = $("card-type").value;
    const needsUrl = type === "questionnaire" || type === "link";
    $("card-url").required = needsUrl;
    $("card-url").placeholder = needsUrl ? "https://… (required)" : "https://… or /path (optional)";
  }

  async pushCard() {
    if (!this.id) return;
    const body = { card_type: $("card-type").value, title: $("card-title").value.trim() };
    const description = $("card-desc").value.trim();
    const url = $("card-url").value.trim();
    if (description) body.description = description;
    if (url) body.url = url;
    const button = $("btn-card");
    button.disabled = true;
    try {
      await this.api.action(this.id, "cards", body);
      $("card-form").reset();
      this.renderCardForm();
      $("card-state").textContent = `Sent “${body.title}”.`;
    } catch (err) {
      $("card-state").textContent = err.message;
    } finally {
      button.disabled = false;
    }
  }
}
