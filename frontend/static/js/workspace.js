// The court workspace: incoming and outgoing lists (filters, search, pages), the submit form, and
// live updates over /live (a new incoming request shows up without a reload).
import { api, describeError, fieldErrors } from "./api.js";
import { localName, t } from "./i18n.js";
import { connectLive } from "./live.js";
import { countdown, requestRow, tickCountdowns } from "./requests-common.js";
import { el, flash, markFieldErrors, missingFields, showNotice, whileBusy } from "./ui.js";

const PAGE_SIZE = 20;
const state = { view: "incoming", page: 1, total: 0, filters: {} };
const matters = new Map(); // matter_type -> {name, required_materials, needs_freeze_expiry}
let allMaterials = [];
const table = document.querySelector("#requests-table tbody");
const form = document.getElementById("submit-form");
const cases = new Map();

function matterName(code) {
  return localName(matters.get(code)) || code;
}

async function loadList() {
  try {
    const page = await api.get("/api/v1/assistance-requests", {
      query: { view: state.view, page: state.page, page_size: PAGE_SIZE, ...state.filters },
    });
    state.total = page.total;
    const otherCourt = (item) => (state.view === "incoming" ? item.requesting_court.name : item.target_court.name);
    table.replaceChildren(
      ...(page.items.length
        ? page.items.map((item) => requestRow(item, { otherCourt, matterName }))
        : [el("tr", {}, el("td", { colspan: 6 }, t("common.empty")))]),
    );
    for (const node of table.querySelectorAll("[data-ends-at]")) node.textContent = countdown(node.dataset.endsAt);
    const pages = Math.max(1, Math.ceil(page.total / PAGE_SIZE));
    document.getElementById("page-info").textContent = t("common.page", { page: state.page, pages });
    document.getElementById("page-prev").disabled = state.page <= 1;
    document.getElementById("page-next").disabled = state.page >= pages;
  } catch (error) {
    table.replaceChildren(el("tr", {}, el("td", { colspan: 6 }, describeError(error))));
  }
}

function setupList() {
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      state.view = tab.dataset.view;
      state.page = 1;
      for (const other of document.querySelectorAll(".tab")) other.setAttribute("aria-selected", String(other === tab));
      loadList();
    });
  }
  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    state.filters = {
      status: data.get("status") || undefined,
      matter: data.get("matter") || undefined,
      overdue: data.get("overdue") ? "true" : undefined,
      q: (data.get("q") || "").trim() || undefined,
    };
    state.page = 1;
    loadList();
  });
  document.getElementById("page-prev").addEventListener("click", () => { state.page -= 1; loadList(); });
  document.getElementById("page-next").addEventListener("click", () => { state.page += 1; loadList(); });
}

function options(select, items, placeholder = true) {
  select.replaceChildren(
    ...(placeholder ? [el("option", { value: "" }, t("ws.choose"))] : []),
    ...items.map(([value, label]) => el("option", { value }, label)),
  );
}

async function courtsOf(query) {
  const page = await api.get("/api/v1/courts", { query: { ...query, page_size: 200 } });
  return page.items.map((court) => [court.code, court.name]);
}

function renderMaterials() {
  const matter = matters.get(form.elements.matter_type.value);
  const required = new Set((matter?.required_materials || []).map((m) => m.code));
  const list = document.getElementById("materials-list");
  list.replaceChildren(
    ...allMaterials.map((m) =>
      el("label", { class: "check" },
        el("input", { type: "checkbox", name: "materials", value: m.code, checked: required.has(m.code) }),
        ` ${localName(m)}`,
        required.has(m.code) ? el("span", { class: "muted" }, ` (${t("ws.required_material")})`) : null)),
  );
  document.getElementById("freeze-field").hidden = !matter?.needs_freeze_expiry;
}

async function previewRoute() {
  const region = form.elements.region_code.value;
  const slot = document.getElementById("route-preview");
  if (!region) { slot.textContent = ""; return; }
  try {
    const preview = await api.get("/api/v1/routing/preview", { query: { region } });
    slot.textContent = t("ws.routes_to", { court: preview.target.name, supervisor: preview.supervisor.name });
  } catch (error) {
    slot.textContent = describeError(error);
  }
}

async function loadCities(province) {
  options(form.elements.city, province ? await courtsOf({ level: "intermediate", region: province.slice(0, 2) }) : []);
  options(form.elements.region_code, []);
}

async function loadCounties(city) {
  options(form.elements.region_code, city ? await courtsOf({ level: "basic", region: city.slice(0, 4) }) : []);
}

/** As the address is typed, offers the province → city → county it names; "Use" fills the picker. */
function setupRegionSuggestion() {
  const box = document.getElementById("region-suggestion");
  const text = document.getElementById("region-suggestion-text");
  let suggestion = null;
  let timer = null;
  let asked = "";
  const show = (found) => {
    suggestion = found && (found.county || found.city || found.province) ? found : null;
    box.hidden = !suggestion;
    if (!suggestion) return;
    const names = [found.province, found.city, found.county].filter(Boolean).map((r) => r.name);
    text.textContent = t("ws.suggestion", { region: [...new Set(names)].join(" › ") });
  };
  form.elements.address.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const address = form.elements.address.value.trim();
      if (address === asked) return;
      asked = address;
      if (!address) { show(null); return; }
      try {
        const found = await api.get("/api/v1/regions/suggest", { query: { address } });
        if (asked === address) show(found);
      } catch {
        show(null);
      }
    }, 250);
  });
  document.getElementById("region-suggestion-accept").addEventListener("click", async () => {
    if (!suggestion) return;
    const { province, city, county } = suggestion;
    form.elements.province.value = province?.code || "";
    await loadCities(province?.code || "");
    if (city) {
      form.elements.city.value = city.code;
      await loadCounties(city.code);
      if (county) form.elements.region_code.value = county.code;
    }
    box.hidden = true;
    flash(t("ws.suggestion_used"));
    await previewRoute();
    (county ? form.elements.region_code : city ? form.elements.region_code : form.elements.city).focus();
  });
}

async function setupForm() {
  const caseSelect = form.elements.case_id;
  const casePage = await api.get("/api/v1/cases", { query: { page_size: 200 } });
  for (const item of casePage.items) cases.set(String(item.id), item);
  options(caseSelect, casePage.items.map((c) => [c.id, c.case_number]));
  caseSelect.addEventListener("change", () => {
    const item = cases.get(caseSelect.value);
    options(form.elements.subject_id, (item?.respondents || []).map((p) => [p.id, p.name]), !item);
  });
  options(form.elements.subject_id, []);
  options(form.elements.matter_type, [...matters.entries()].map(([code, m]) => [code, localName(m)]));
  form.elements.matter_type.addEventListener("change", renderMaterials);
  renderMaterials();

  options(form.elements.province, await courtsOf({ level: "high" }));
  options(form.elements.city, []);
  options(form.elements.region_code, []);
  form.elements.province.addEventListener("change", async () => {
    await loadCities(form.elements.province.value);
    previewRoute();
  });
  form.elements.city.addEventListener("change", async () => {
    await loadCounties(form.elements.city.value);
    previewRoute();
  });
  setupRegionSuggestion();
  form.elements.region_code.addEventListener("change", previewRoute);

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const notice = document.getElementById("submit-notice");
    showNotice(notice, "");
    const missing = missingFields(form);
    delete missing.materials;
    if (Object.keys(missing).length) {
      markFieldErrors(form, missing)?.focus();
      return;
    }
    markFieldErrors(form, {});
    const data = new FormData(form);
    const body = {
      case_id: Number(data.get("case_id")),
      subject_id: Number(data.get("subject_id")),
      matter_type: data.get("matter_type"),
      urgency: data.get("urgency"),
      location: { region_code: data.get("region_code"), address: data.get("address") },
      description: data.get("description") || "",
      materials: data.getAll("materials"),
    };
    if (!document.getElementById("freeze-field").hidden) {
      body.current_freeze_expires_on = data.get("current_freeze_expires_on") || null;
    }
    const button = document.getElementById("submit-request");
    await whileBusy(button, t("ws.submitting"), async () => {
      try {
        const created = await api.post("/api/v1/assistance-requests", body, {
          headers: { "Idempotency-Key": crypto.randomUUID() },
        });
        showNotice(notice, t("ws.submitted", { id: created.id, court: created.target_court.name }), "success");
        form.elements.address.value = "";
        form.elements.description.value = "";
        if (state.view === "outgoing") loadList();
      } catch (error) {
        const errors = {};
        for (const [field, message] of Object.entries(fieldErrors(error))) {
          errors[field.split(".").pop()] = message;
        }
        markFieldErrors(form, errors)?.focus();
        showNotice(notice, describeError(error));
      }
    });
  });
}

async function main() {
  setupList();
  const catalog = await api.get("/api/v1/assistance-matters");
  for (const m of catalog.matters) matters.set(m.matter_type, m);
  allMaterials = catalog.materials;
  options(document.getElementById("filter-matter"), [...matters.entries()].map(([c, m]) => [c, localName(m)]), false);
  document.getElementById("filter-matter").prepend(el("option", { value: "", selected: true }, document.querySelector("#filter-status option").textContent));
  await loadList();
  tickCountdowns();
  connectLive({
    onEvent(name, data) {
      if (!name.startsWith("assistance:") || name === "assistance:message_posted" || name === "assistance:thread_read") return;
      const mine = document.querySelector("[data-court]").dataset.court;
      if (name === "assistance:routed" && data.target_court === mine) {
        flash(t("ws.new_incoming", { id: data.id, court: data.requesting_court }));
      }
      loadList();
    },
    onResync: () => loadList(),
  });
  if (form) await setupForm();
}

main().catch((error) => flash(describeError(error), "error"));
