// /admin/stats: meeting statistics per organisation and period, a chart (inline SVG) and CSV.
// Hooks: #filter-form (#f-org #f-from #f-to) #btn-csv #s-meetings #s-participants #s-total
//   #s-average #by-category tr[data-category] #chart svg rect.bar[data-date]
import { $, api, duration, el, fetchBlob, showError, startPage } from "./meetings-common.js";

const SVG = "http://www.w3.org/2000/svg";
const KINDS = { quick: "Quick support", realtime: "Scheduled" };

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function query() {
  const q = new URLSearchParams();
  for (const [key, id] of [["org_id", "f-org"], ["from", "f-from"], ["to", "f-to"]]) {
    const value = $(id).value.trim();
    if (value) q.set(key, value);
  }
  return q;
}

/** Bars: meetings per day (height), total minutes as a label above each bar. */
function drawChart(days) {
  const box = $("chart");
  box.replaceChildren();
  if (!days.length) {
    box.append(el("p", { className: "mt-hint", textContent: "No meetings held in this period." }));
    return;
  }
  const W = 760, H = 260, left = 40, bottom = 40, top = 24;
  const max = Math.max(4, Math.ceil(Math.max(...days.map((d) => d.meetings)) / 4) * 4); // whole ticks
  const slot = (W - left - 10) / days.length;
  const barW = Math.max(4, Math.min(48, slot * 0.7));
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "Meetings per day", class: "mt-svg" });
  const plotH = H - top - bottom;
  for (let i = 0; i <= 4; i++) {
    const y = top + plotH - (plotH * i) / 4;
    chart.append(svg("line", { x1: left, x2: W - 5, y1: y, y2: y, class: "grid-line" }));
    chart.append(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "axis" },
      String((max * i) / 4)));
  }
  days.forEach((d, i) => {
    const h = (plotH * d.meetings) / max;
    const x = left + slot * i + (slot - barW) / 2;
    const bar = svg("rect", { x, y: top + plotH - h, width: barW, height: Math.max(h, 1), rx: 3, class: "bar", "data-date": d.date, "data-meetings": d.meetings });
    bar.append(svg("title", {}, `${d.date}: ${d.meetings} meeting(s), ${d.participants} participant(s), ${duration(d.total_duration_seconds)}`));
    chart.append(bar);
    chart.append(svg("text", { x: x + barW / 2, y: top + plotH - h - 6, "text-anchor": "middle", class: "bar-label" },
      `${Math.round(d.total_duration_seconds / 60)} min`));
    if (days.length <= 16 || i % Math.ceil(days.length / 16) === 0) {
      chart.append(svg("text", { x: x + barW / 2, y: H - bottom + 18, "text-anchor": "middle", class: "axis" }, d.date.slice(5)));
    }
  });
  box.append(chart);
}

async function load() {
  const s = await api("GET", `/api/v1/stats/meetings?${query()}`);
  $("s-meetings").textContent = String(s.meetings);
  $("s-participants").textContent = String(s.participants);
  $("s-total").textContent = duration(s.total_duration_seconds);
  $("s-average").textContent = duration(s.average_duration_seconds);
  const body = $("by-category").querySelector("tbody");
  body.replaceChildren();
  for (const [kind, t] of Object.entries(s.by_category)) {
    body.append(el("tr", { "data-category": kind },
      el("td", { textContent: KINDS[kind] || kind }),
      el("td", { textContent: String(t.meetings) }),
      el("td", { textContent: String(t.participants) }),
      el("td", { textContent: duration(t.total_duration_seconds) }),
      el("td", { textContent: duration(t.average_duration_seconds) })));
  }
  drawChart(s.by_day);
}

$("filter-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  load().catch(showError);
});

$("btn-csv").addEventListener("click", async () => {
  try {
    const q = query();
    q.set("format", "csv");
    const blob = await fetchBlob(`/api/v1/stats/meetings?${q}`);
    const url = URL.createObjectURL(blob);
    const a = el("a", { href: url, download: `meetings-${q.get("from") || "all"}-${q.get("to") || "now"}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) { showError(err); }
});

startPage(async (claims) => {
  const today = new Date();
  $("f-from").value = new Date(today.getTime() - 30 * 86400000).toISOString().slice(0, 10);
  $("f-to").value = today.toISOString().slice(0, 10);
  if (claims.org) $("f-org").placeholder = claims.org;
  await load();
});
