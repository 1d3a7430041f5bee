// /admin/records: service records of meetings (by kind and period) with participants and duration.
// Hooks: #filter-form (#f-category #f-from #f-to #f-org) #records tr[data-meeting-id] .participants li
import { $, api, duration, el, showError, startPage, when } from "./meetings-common.js";

function query() {
  const q = new URLSearchParams({ scope: "org", held: "1" });
  for (const [key, id] of [["category", "f-category"], ["from", "f-from"], ["to", "f-to"], ["org_id", "f-org"]]) {
    const value = $(id).value.trim();
    if (value) q.set(key, value);
  }
  return q;
}

async function load() {
  const { meetings } = await api("GET", `/api/v1/meetings?${query()}`);
  const body = $("records");
  body.replaceChildren();
  let total = 0;
  for (const m of meetings) {
    total += m.duration_seconds;
    const people = el("ul", { className: "participants" });
    for (const p of m.participants) {
      people.append(el("li", { "data-user-id": p.user_id || "" },
        `${p.name}${p.guest ? " (guest)" : p.role ? ` (${p.role})` : ""} — ${duration(p.seconds)}`));
    }
    body.append(el("tr", { "data-meeting-id": m.id, "data-category": m.category },
      el("td", { className: "mt-title", textContent: m.title }),
      el("td", { textContent: m.category === "quick" ? "Quick support" : "Scheduled" }),
      el("td", { textContent: m.status }),
      el("td", { textContent: m.host_name }),
      el("td", { textContent: when(m.started_at || m.start_at) }),
      el("td", { className: "duration", textContent: duration(m.duration_seconds) }),
      el("td", {}, people)));
  }
  $("records-summary").textContent = meetings.length
    ? `${meetings.length} meeting(s), ${duration(total)} in total.`
    : "No meetings held in this period.";
}

$("filter-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  load().catch(showError);
});

startPage(async () => {
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 30 * 86400000);
  $("f-from").value = monthAgo.toISOString().slice(0, 10);
  $("f-to").value = today.toISOString().slice(0, 10);
  await load();
});
