// The campaign console: define a campaign (criteria), preview how many open cases it reaches, dispatch
// it with a live progress bar (`campaign:progress` on the campaign's room), and read the per-court report.
import { api, describeError, fieldErrors } from "./api.js";
import { t } from "./i18n.js";
import { formatDate, formatYuan } from "./format.js";
import { connectLive } from "./live.js";
import { el, flash, markFieldErrors, missingFields, showNotice, whileBusy } from "./ui.js";

let selected = null; // the campaign shown in the panel
let live = null;

function percent(progress) {
  return progress.total ? Math.round((progress.done / progress.total) * 100) : (progress.percent ?? 0);
}

function progressBar(value) {
  return el("progress", { max: 100, value, "aria-label": `${value} %` });
}

async function loadCampaigns() {
  const page = await api.get("/api/v1/campaigns", { query: { page_size: 50 } });
  const tbody = document.querySelector("#campaigns-table tbody");
  tbody.replaceChildren(
    ...(page.items.length
      ? page.items.map((c) => el("tr", { dataset: { id: c.id } },
          el("td", {}, el("a", { href: `#campaign-${c.id}`, onclick: (event) => { event.preventDefault(); select(c.id); } }, c.name)),
          el("td", {}, `${formatDate(c.window_start)} – ${formatDate(c.window_end)}`),
          el("td", {}, t(`cp.status.${c.status}`)),
          el("td", {}, progressBar(percent(c.progress)), ` ${percent(c.progress)} %`)))
      : [el("tr", {}, el("td", { colspan: 4 }, t("common.empty")))]),
  );
}

function showProgress(done, total, fallback = 0) {
  const value = total ? Math.round((done / total) * 100) : fallback;
  document.getElementById("campaign-progress").value = value;
  document.getElementById("campaign-progress-label").textContent = `${value} % (${done} / ${total})`;
}

function renderCampaign(c) {
  selected = c;
  document.getElementById("campaign-panel").hidden = false;
  document.getElementById("campaign-heading").textContent = `${c.name} · ${t(`cp.status.${c.status}`)}`;
  document.getElementById("campaign-summary").textContent = t("cp.summary", {
    start: formatDate(c.window_start), end: formatDate(c.window_end), court: c.creator_court_name || c.creator_court,
  });
  showProgress(c.progress.done, c.progress.total, c.status === "active" || c.status === "completed" ? 100 : 0);
  document.getElementById("campaign-dispatch").hidden = c.status !== "draft";
  document.getElementById("campaign-cancel").hidden = !["draft", "dispatching", "active"].includes(c.status);
  document.getElementById("campaign-csv").href = `/api/v1/campaigns/${c.id}/report?format=csv`;
}

async function loadPreview(id) {
  const slot = document.getElementById("campaign-preview");
  try {
    const preview = await api.get(`/api/v1/campaigns/${id}/preview`);
    slot.textContent = t("cp.preview", { total: preview.total, courts: preview.courts.length });
  } catch (error) {
    slot.textContent = describeError(error);
  }
}

async function loadReport(id) {
  const report = await api.get(`/api/v1/campaigns/${id}/report`);
  const row = (label, f) => el("tr", {}, el("th", { scope: "row" }, label), el("td", {}, String(f.tasks)),
    el("td", {}, String(f.concluded)), el("td", {}, formatYuan(f.amount_recovered)), el("td", {}, String(f.overdue)));
  const tbody = document.querySelector("#report-table tbody");
  tbody.replaceChildren(...(report.courts.length
    ? report.courts.map((c) => row(c.court_name || c.court_code, c))
    : [el("tr", {}, el("td", { colspan: 5 }, t("common.empty")))]));
  document.querySelector("#report-table tfoot").replaceChildren(row(t("cp.total"), report.totals));
}

async function select(id) {
  const campaign = await api.get(`/api/v1/campaigns/${id}`);
  renderCampaign(campaign);
  live?.follow(`campaign:${id}`);
  await Promise.all([loadPreview(id), loadReport(id).catch(() => {})]);
}

function setupForm() {
  const form = document.getElementById("campaign-form");
  const notice = document.getElementById("campaign-notice");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showNotice(notice, "");
    const missing = missingFields(form);
    if (Object.keys(missing).length) {
      markFieldErrors(form, missing)?.focus();
      return;
    }
    markFieldErrors(form, {});
    const data = new FormData(form);
    const amount = data.get("min_amount");
    const body = {
      name: data.get("name"),
      window_start: data.get("window_start"),
      window_end: data.get("window_end"),
      criteria: {
        livelihood: Boolean(data.get("livelihood")),
        categories: data.getAll("categories"),
        region_prefixes: String(data.get("region_prefixes") || "").split(/[,，\s]+/).filter(Boolean),
        filed_before: data.get("filed_before") || null,
        min_amount: amount ? Math.round(Number(amount) * 100) : null,
      },
    };
    await whileBusy(document.getElementById("campaign-create"), null, async () => {
      try {
        const created = await api.post("/api/v1/campaigns", body);
        showNotice(notice, t("cp.created", { name: created.name }), "success");
        await loadCampaigns();
        await select(created.id);
      } catch (error) {
        const errors = {};
        for (const [field, message] of Object.entries(fieldErrors(error))) {
          const name = field.split(".").filter((part) => !/^\d+$/.test(part)).pop();
          errors[name] = message;
        }
        markFieldErrors(form, errors)?.focus();
        showNotice(notice, describeError(error));
      }
    });
  });
}

async function act(action) {
  if (!selected) return;
  try {
    await api.post(`/api/v1/campaigns/${selected.id}/${action}`);
    await select(selected.id);
    await loadCampaigns();
  } catch (error) {
    flash(describeError(error), "error");
  }
}

async function main() {
  setupForm();
  document.getElementById("campaign-dispatch").addEventListener("click", () => act("dispatch"));
  document.getElementById("campaign-cancel").addEventListener("click", () => {
    if (window.confirm(t("cp.confirm_cancel"))) act("cancel");
  });
  await loadCampaigns();
  // A link from the dashboard (/campaigns#campaign-<id>) opens that campaign.
  const linked = /^#campaign-(\d+)$/.exec(window.location.hash);
  if (linked) select(Number(linked[1])).catch((error) => flash(describeError(error), "error"));
  live = connectLive({
    onEvent(name, data) {
      if (!name.startsWith("campaign:") || !selected || data.campaign_id !== selected.id) return;
      if (name === "campaign:progress") showProgress(data.done, data.total, 100);
      else select(selected.id);
      if (name === "campaign:dispatched") loadCampaigns();
    },
    onResync(room) {
      if (selected && room === `campaign:${selected.id}`) select(selected.id);
    },
  });
}

main().catch((error) => flash(describeError(error), "error"));
