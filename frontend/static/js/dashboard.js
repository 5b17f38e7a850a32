// The command dashboard: counters of the supervised requests (from /api/v1/dashboard/summary), the
// list behind any counter, province tiles, the open video sessions of the court's subtree, the progress
// of its campaigns, and a live event feed; every number follows the live events.
import { api, describeError } from "./api.js";
import { localName, t } from "./i18n.js";
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

// --- video sessions and campaigns -------------------------------------------------------------------

const OPEN_VIDEO_STATES = ["live", "scheduled"];
const SHOWN_CAMPAIGNS = ["dispatching", "active", "completed"]; // running and recent, newest first
let live = null;
let wasConnected = false;

async function loadVideoSessions() {
  const pages = await Promise.all(OPEN_VIDEO_STATES.map((state) =>
    api.get("/api/v1/video-sessions", { query: { state, page_size: 20 } })));
  const sessions = pages.flatMap((page) => page.items);
  await Promise.all(sessions.map((s) => courtName(s.host_court)));
  const list = document.getElementById("video-sessions");
  list.replaceChildren(...sessions.map(videoRow));
  document.getElementById("video-empty").hidden = sessions.length > 0;
}

function videoRow(s) {
  const people = s.participants.filter((p) => p.state === "admitted").length;
  return el("li", { class: "panel-item", dataset: { sessionId: s.id, state: s.state } },
    el("div", { class: "panel-main" },
      el("a", { href: `/video/${s.id}`, class: "panel-title" }, s.topic),
      el("span", { class: `badge ${s.state === "live" ? "badge-live" : "badge-info"}` }, t(`video.state.${s.state}`)),
      el("div", { class: "muted panel-meta" }, t("db.video_meta", {
        court: courtNames.get(s.host_court) || s.host_court, people, time: formatDateTime(s.started_at || s.created_at),
      }))),
    el("a", { class: "button button-small button-primary", href: `/video/${s.id}`, "aria-label": t("db.join_label", { topic: s.topic }) }, t("db.join")));
}

const endedVideoSessions = new Set();

/** Adds, updates or removes one session's row on `video:opened` / `video:ended`. */
async function onVideoEvent(name, data) {
  const list = document.getElementById("video-sessions");
  const id = Number(data.session_id);
  const rowOf = () => list.querySelector(`[data-session-id="${id}"]`);
  if (name === "video:ended") {
    endedVideoSessions.add(id);
    rowOf()?.remove();
  } else {
    // The event names no topic or people: read the session itself for its row.
    const session = await api.get(`/api/v1/video-sessions/${id}`);
    await courtName(session.host_court);
    const row = rowOf(); // looked up after the reads: the session may have ended meanwhile
    if (endedVideoSessions.has(id) || !OPEN_VIDEO_STATES.includes(session.state)) row?.remove();
    else if (row) row.replaceWith(videoRow(session));
    else list.prepend(videoRow(session));
  }
  document.getElementById("video-empty").hidden = list.children.length > 0;
}

function campaignPercent(progress) {
  return progress.total ? Math.round((progress.done / progress.total) * 100) : Math.round(progress.percent ?? 0);
}

function renderCampaignProgress(item, done, total) {
  const percent = total ? Math.round((done / total) * 100) : 0;
  item.querySelector("progress").value = percent;
  item.querySelector("progress").setAttribute("aria-valuetext", `${percent} %`);
  item.querySelector(".panel-meta").textContent = t("db.campaign_progress", { percent: `${percent} %`, done, total });
}

async function loadCampaigns() {
  const page = await api.get("/api/v1/campaigns", { query: { page_size: 20 } });
  const shown = page.items.filter((c) => SHOWN_CAMPAIGNS.includes(c.status)).slice(0, 6);
  const list = document.getElementById("campaign-progress-list");
  list.replaceChildren(...shown.map((c) => {
    const percent = campaignPercent(c.progress);
    const item = el("li", { class: "panel-item panel-stack", dataset: { campaignId: c.id, status: c.status } },
      el("div", { class: "panel-main" },
        el("a", { href: `/campaigns#campaign-${c.id}`, class: "panel-title" }, c.name),
        el("span", { class: `badge ${c.status === "dispatching" ? "badge-info" : c.status === "active" ? "badge-success" : "badge-muted"}` }, t(`cp.status.${c.status}`)),
        el("div", { class: "muted" }, t("db.campaign_window", { start: formatDate(c.window_start), end: formatDate(c.window_end) }))),
      el("progress", { max: 100, value: percent, "aria-label": c.name }),
      el("div", { class: "muted panel-meta" }));
    renderCampaignProgress(item, c.progress.done, c.progress.total);
    return item;
  }));
  document.getElementById("campaigns-empty").hidden = shown.length > 0;
  // Progress events go to each campaign's own room: follow the ones still dispatching.
  for (const c of shown) if (c.status === "dispatching") live?.follow(`campaign:${c.id}`);
}

function onCampaignEvent(name, data) {
  const item = document.querySelector(`#campaign-progress-list [data-campaign-id="${data.campaign_id}"]`);
  if (name === "campaign:progress" && item) renderCampaignProgress(item, data.done, data.total);
  else loadCampaigns().catch(() => {});
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
  for (const m of catalog.matters) matters.set(m.matter_type, localName(m));
  await Promise.all([loadSummary(), loadList(), loadDueToday()]);
  tickCountdowns();
  live = connectLive({
    async onEvent(name, data) {
      if (name.startsWith("campaign:")) {
        onCampaignEvent(name, data);
        return;
      }
      if (name === "video:opened" || name === "video:ended") {
        onVideoEvent(name, data).catch(() => loadVideoSessions().catch(() => {}));
        return;
      }
      if (name.startsWith("video:")) {
        loadVideoSessions().catch(() => {});
        return;
      }
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
    onResync(room) {
      if (room?.startsWith("campaign:")) loadCampaigns().catch(() => {});
      else {
        refreshSoon();
        loadVideoSessions().catch(() => {});
      }
    },
    onStatus(connected) {
      // Back after a drop: the sessions' list has no room of its own to replay, so read it again.
      if (connected && wasConnected) {
        loadVideoSessions().catch(() => {});
        loadCampaigns().catch(() => {});
      }
      wasConnected ||= connected;
    },
  });
  await Promise.all([
    loadVideoSessions().catch((error) => { document.getElementById("video-empty").hidden = false; document.getElementById("video-empty").textContent = describeError(error); }),
    loadCampaigns().catch((error) => { document.getElementById("campaigns-empty").hidden = false; document.getElementById("campaigns-empty").textContent = describeError(error); }),
  ]);
}

main().catch((error) => flash(describeError(error), "error"));
