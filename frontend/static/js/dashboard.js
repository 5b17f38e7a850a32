// The command dashboard: counters of the supervised requests (from /api/v1/dashboard/summary), the
// list behind any counter, province tiles, and a live event feed; every number follows the live events.
import { api, describeError } from "./api.js";
import { t } from "./i18n.js";
import { formatDate, formatDateTime } from "./format.js";
import { connectLive } from "./live.js";
import { countdown, requestRow, tickCountdowns } from "./requests-common.js";
import { el, flash } from "./ui.js";

const OPEN = "submitted,routed,filed,in_progress,awaiting_supplement";
const matters = new Map();
let filter = "overdue";
const courtNames = new Map();

function matterName(code) {
  return matters.get(code) || code;
}

async function loadSummary() {
  const summary = await api.get("/api/v1/dashboard/summary");
  const set = (id, value) => {
    const node = document.querySelector(`#counter-${id} .counter-value`);
    if (node) node.textContent = String(value);
  };
  set("open", summary.open);
  set("overdue", summary.overdue);
  set("due_today", summary.due_today);
  for (const [status, count] of Object.entries(summary.by_status)) set(status, count);
  const max = Math.max(1, ...summary.by_province.map((p) => p.total));
  document.getElementById("tiles").replaceChildren(
    ...summary.by_province.map((p) => {
      const share = p.total ? p.overdue / p.total : 0;
      // Volume sets the blue's strength; an overdue share turns it towards red.
      // Kept light (alpha at most 0.4) so the dark text on the tile stays readable.
      const alpha = 0.08 + 0.32 * (p.total / max);
      const color = share > 0 ? `rgba(163, 22, 27, ${Math.min(0.4, 0.1 + 0.3 * share)})` : `rgba(20, 61, 107, ${alpha})`;
      return el("a", { class: "tile", href: "#list", style: `background:${color}`, dataset: { filter: `region:${p.code.slice(0, 2)}` } },
        el("span", {}, p.name), el("strong", {}, String(p.total)), el("span", {}, t("db.tile", { total: p.total, overdue: p.overdue })));
    }),
  );
  for (const tile of document.querySelectorAll(".tile")) tile.addEventListener("click", () => selectFilter(tile.dataset.filter, tile.firstChild.textContent));
}

function listQuery() {
  const query = { view: "supervised", page_size: 50 };
  if (filter === "overdue") query.overdue = "true";
  else if (filter === "open" || filter === "due_today") query.status = OPEN;
  else if (filter.startsWith("status:")) query.status = filter.slice(7);
  else if (filter.startsWith("region:")) query.region = filter.slice(7);
  return query;
}

/** The open supervised requests whose next pending deadline ends today (Beijing). */
function dueToday(items) {
  const today = formatDate(new Date());
  return items.filter((item) => item.next_deadline?.state === "pending" && item.next_deadline.due_on === today);
}

function fillTable(tbody, items) {
  tbody.replaceChildren(
    ...(items.length
      ? items.map((item) => requestRow(item, { otherCourt: (r) => r.target_court.name, matterName }))
      : [el("tr", {}, el("td", { colspan: 6 }, t("common.empty")))]),
  );
  for (const node of tbody.querySelectorAll("[data-ends-at]")) node.textContent = countdown(node.dataset.endsAt);
}

async function loadDueToday() {
  const page = await api.get("/api/v1/assistance-requests", { query: { view: "supervised", status: OPEN, page_size: 200 } });
  fillTable(document.querySelector("#due-table tbody"), dueToday(page.items));
}

async function loadList() {
  const query = listQuery();
  const page = await api.get("/api/v1/assistance-requests", { query: { ...query, page_size: filter === "due_today" ? 200 : 50 } });
  let items = page.items;
  for (const item of items) {
    for (const court of [item.requesting_court, item.target_court, item.supervising_court]) courtNames.set(court.code, court.name);
  }
  if (filter === "due_today") items = dueToday(items);
  fillTable(document.querySelector("#dashboard-table tbody"), items);
  const url = new URL("/api/v1/assistance-requests/export.csv", window.location.origin);
  for (const [name, value] of Object.entries(query)) if (name !== "page_size") url.searchParams.set(name, value);
  document.getElementById("list-export").href = url.pathname + url.search;
}

function selectFilter(value, label) {
  filter = value;
  document.getElementById("list-title").textContent = label;
  loadList().catch((error) => flash(describeError(error), "error"));
}

/** A court's name for the feed, looked up once per court code. */
async function courtName(code) {
  if (!code || courtNames.has(code)) return courtNames.get(code) || code || "";
  try {
    courtNames.set(code, (await api.get(`/api/v1/courts/${code}`)).name);
  } catch {
    courtNames.set(code, code);
  }
  return courtNames.get(code);
}

function feedLine(name, data) {
  const short = name.replace(/^assistance:/, "");
  const court = data.target_court;
  const key = `event.${short}`;
  const known = ["routed", "filed", "started", "completed", "supplement_requested", "supplemented", "rejected", "withdrawn", "rerouted"];
  return known.includes(short)
    ? t(key, { id: data.id, court: courtNames.get(court) || court })
    : t("event.other", { name: short, id: data.id ?? data.request_id ?? "" });
}

let refreshTimer = null;
function refreshSoon() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => {
    loadSummary().catch(() => {});
    loadList().catch(() => {});
    loadDueToday().catch(() => {});
  }, 300);
}

async function main() {
  for (const counter of document.querySelectorAll(".counter")) {
    counter.addEventListener("click", () => selectFilter(counter.dataset.filter, counter.querySelector(".counter-label").textContent));
  }
  const catalog = await api.get("/api/v1/assistance-matters");
  for (const m of catalog.matters) matters.set(m.matter_type, m.name);
  await Promise.all([loadSummary(), loadList(), loadDueToday()]);
  tickCountdowns();
  connectLive({
    async onEvent(name, data) {
      if (!name.startsWith("assistance:") || name === "assistance:thread_read") return;
      const feed = document.getElementById("feed");
      const item = el("li", {}, el("time", {}, formatDateTime(new Date())), " ");
      feed.prepend(item); // in arrival order, even while a court's name is looked up
      await courtName(data.target_court);
      item.append(el("a", { href: `/requests/${data.id ?? data.request_id}` }, feedLine(name, data)));
      while (feed.children.length > 50) feed.lastChild.remove();
      document.getElementById("feed-empty").hidden = true;
      if (name !== "assistance:message_posted") refreshSoon();
    },
    onResync: refreshSoon,
  });
}

main().catch((error) => flash(describeError(error), "error"));
