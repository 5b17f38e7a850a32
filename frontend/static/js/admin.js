// The admin page: users, API tokens, the holiday calendar and audit-chain verification.
import { api, describeError, fieldErrors } from "./api.js";
import { formatDateTime, formatNumber } from "./format.js";
import { t } from "./i18n.js";
import { el, flash, markFieldErrors, missingFields, showNotice, whileBusy } from "./ui.js";

const root = document.getElementById("admin");
const OWN_COURT = root.dataset.courtCode;
const OWN_COURT_NAME = root.dataset.courtName;
const IS_SPC = root.dataset.spc === "true";
const ME = Number(root.dataset.userId);
const PAGE_SIZE = 20;

// --- shared pieces --------------------------------------------------------------------------------

/** Marks the fields an API error names and explains it above the form; focuses the first bad field. */
function showFormError(form, notice, error) {
  const fields = fieldErrors(error);
  const first = markFieldErrors(form, fields);
  showNotice(notice, Object.keys(fields).length && first ? t("error.invalid") : describeError(error));
  (first || notice).focus?.();
}

/** Browser-side check before sending; false (and the fields marked) when something is missing. */
function formIsComplete(form, notice) {
  const missing = missingFields(form);
  const first = markFieldErrors(form, missing);
  if (!first) return true;
  showNotice(notice, t("error.invalid"));
  first.focus();
  return false;
}

function renderPager(container, page, onPage) {
  container.replaceChildren();
  const pages = Math.max(1, Math.ceil(page.total / page.page_size));
  if (page.total <= page.page_size && page.page === 1) return;
  const previous = el("button", { type: "button", class: "button button-small", disabled: page.page <= 1 },
    t("pager.previous"));
  const next = el("button", { type: "button", class: "button button-small", disabled: page.page >= pages },
    t("pager.next"));
  previous.addEventListener("click", () => onPage(page.page - 1));
  next.addEventListener("click", () => onPage(page.page + 1));
  container.append(
    el("span", { class: "pager-summary" }, t("pager.summary", { page: page.page, pages, total: page.total })),
    previous, next);
}

function emptyRow(tbody, columns, text) {
  tbody.replaceChildren(el("tr", {}, el("td", { colspan: columns, class: "empty" }, text)));
}

const courtNames = new Map([[OWN_COURT, OWN_COURT_NAME]]);

async function courtName(code) {
  if (!courtNames.has(code)) {
    try {
      courtNames.set(code, (await api.get(`/api/v1/courts/${encodeURIComponent(code)}`)).name);
    } catch (error) {
      if (error.status !== 404) throw error;
      courtNames.set(code, null);
    }
  }
  return courtNames.get(code);
}

function courtLabel(code, name) {
  return name ? `${name} (${code})` : code;
}

/** A court-code input (SPC admins): suggestions by name or code, and the chosen court's name beside it. */
function bindCourtInput(input, note) {
  if (!input) return;
  const options = document.getElementById("court-options");
  let timer = null;
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const text = input.value.trim();
      note.textContent = "";
      if (!text) return;
      try {
        if (/^\d{6}$/.test(text)) {
          const name = await courtName(text);
          note.textContent = name || t("court.unknown");
          return;
        }
        const found = await api.get("/api/v1/courts", { query: { q: text, page_size: 10 } });
        options.replaceChildren(...found.items.map((court) => {
          courtNames.set(court.code, court.name);
          return el("option", { value: court.code, label: court.name }, court.name);
        }));
      } catch (error) {
        note.textContent = describeError(error);
      }
    }, 250);
  });
}

// --- users ----------------------------------------------------------------------------------------

const users = {
  state: { page: 1, court_code: IS_SPC ? "" : OWN_COURT, q: "", role: "", active: "" },
  tbody: document.querySelector("#users-table tbody"),
  pager: document.getElementById("users-pager"),
  error: document.getElementById("users-error"),

  async load() {
    try {
      const page = await api.get("/api/v1/users", { query: { ...this.state, page_size: PAGE_SIZE } });
      showNotice(this.error, "");
      this.render(page);
    } catch (error) {
      showNotice(this.error, describeError(error));
    }
  },

  render(page) {
    renderPager(this.pager, page, (number) => { this.state.page = number; this.load(); });
    if (!page.items.length) return emptyRow(this.tbody, 7, t("users.empty"));
    this.tbody.replaceChildren(...page.items.map((user) => {
      const badges = [
        user.id === ME ? el("span", { class: "badge badge-info" }, t("users.you")) : null,
        user.is_demo ? el("span", { class: "badge badge-muted" }, t("users.demo")) : null,
      ];
      let action = null;
      if (user.active && user.id !== ME) {
        action = el("button", { type: "button", class: "button button-small button-danger" }, t("users.deactivate"));
        action.setAttribute("aria-label", `${t("users.deactivate")} ${user.username}`);
        action.addEventListener("click", () => this.deactivate(user, action));
      }
      return el("tr", { class: user.active ? null : "row-inactive" },
        el("td", {}, el("span", { class: "mono" }, user.username), " ", ...badges),
        el("td", {}, user.display_name),
        el("td", { class: "nowrap" }, t(`role.${user.role}`)),
        el("td", {}, courtLabel(user.court_code, user.court_name)),
        el("td", {}, user.active
          ? el("span", { class: "badge badge-success" }, t("users.active"))
          : el("span", { class: "badge badge-muted" }, t("users.inactive"))),
        el("td", { class: "nowrap" }, formatDateTime(user.created_at)),
        el("td", { class: "actions" }, action));
    }));
  },

  async deactivate(user, button) {
    if (!window.confirm(t("users.deactivate_confirm", { name: user.display_name || user.username }))) return;
    try {
      await whileBusy(button, null, () => api.post(`/api/v1/users/${user.id}/deactivate`));
      flash(t("users.deactivated", { name: user.display_name || user.username }));
      await this.load();
    } catch (error) {
      flash(describeError(error), "error");
    }
  },

  init() {
    const filters = document.getElementById("user-filters");
    const courtInput = document.getElementById("user-filter-court");
    bindCourtInput(courtInput, document.getElementById("user-filter-court-name"));
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = new FormData(filters);
      Object.assign(this.state, {
        page: 1,
        court_code: IS_SPC ? (data.get("court_code") || "").trim() : OWN_COURT,
        q: (data.get("q") || "").trim(),
        role: data.get("role") || "",
        active: data.get("active") || "",
      });
      this.load();
    });

    const form = document.getElementById("user-create");
    const formError = document.getElementById("user-create-error");
    bindCourtInput(document.getElementById("new-court"), document.getElementById("new-court-name"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showNotice(formError, "");
      if (!formIsComplete(form, formError)) return;
      const data = new FormData(form);
      const body = {
        username: (data.get("username") || "").trim(),
        display_name: (data.get("display_name") || "").trim() || null,
        role: data.get("role"),
        password: data.get("password") || "",
      };
      if (IS_SPC && (data.get("court_code") || "").trim()) body.court_code = data.get("court_code").trim();
      const button = form.querySelector('button[type="submit"]');
      try {
        const created = await whileBusy(button, null, () => api.post("/api/v1/users", body));
        markFieldErrors(form, {});
        form.reset();
        flash(t("users.created", { name: created.display_name || created.username }));
        await this.load();
      } catch (error) {
        if (error.status === 409 && error.details?.[0]?.field === "username") {
          error.details = [{ field: "username", message: t("users.taken", { name: body.username }) }];
        }
        showFormError(form, formError, error);
      }
    });
    this.load();
  },
};

// --- API tokens -----------------------------------------------------------------------------------

const tokens = {
  state: { page: 1, court_code: OWN_COURT },
  tbody: document.querySelector("#tokens-table tbody"),
  pager: document.getElementById("tokens-pager"),
  error: document.getElementById("tokens-error"),
  secretBox: document.getElementById("token-secret"),
  secretValue: document.getElementById("token-secret-value"),

  async load() {
    try {
      const page = await api.get("/api/v1/api-tokens", { query: { ...this.state, page_size: PAGE_SIZE } });
      showNotice(this.error, "");
      await this.render(page);
    } catch (error) {
      showNotice(this.error, describeError(error));
    }
  },

  async render(page) {
    renderPager(this.pager, page, (number) => { this.state.page = number; this.load(); });
    if (!page.items.length) return emptyRow(this.tbody, 6, t("tokens.empty"));
    const name = await courtName(this.state.court_code).catch(() => null);
    this.tbody.replaceChildren(...page.items.map((token) => {
      let action = null;
      if (!token.revoked_at) {
        action = el("button", { type: "button", class: "button button-small button-danger" }, t("tokens.revoke"));
        action.setAttribute("aria-label", `${t("tokens.revoke")} ${token.name}`);
        action.addEventListener("click", () => this.revoke(token, action));
      }
      return el("tr", { class: token.revoked_at ? "row-inactive" : null },
        el("td", {}, token.name),
        el("td", {}, courtLabel(token.court_code, name)),
        el("td", { class: "nowrap" }, formatDateTime(token.created_at)),
        el("td", { class: "nowrap" }, token.last_used_at ? formatDateTime(token.last_used_at) : t("tokens.never")),
        el("td", {}, token.revoked_at
          ? el("span", { class: "badge badge-muted", title: formatDateTime(token.revoked_at) }, t("tokens.revoked"))
          : el("span", { class: "badge badge-success" }, t("tokens.active"))),
        el("td", { class: "actions" }, action));
    }));
  },

  async revoke(token, button) {
    if (!window.confirm(t("tokens.revoke_confirm", { name: token.name }))) return;
    try {
      await whileBusy(button, null, () => api.del(`/api/v1/api-tokens/${token.id}`));
      flash(t("tokens.revoked_done", { name: token.name }));
      await this.load();
    } catch (error) {
      flash(describeError(error), "error");
    }
  },

  showSecret(secret) {
    this.secretValue.textContent = secret;
    this.secretBox.hidden = false;
    this.secretBox.focus();
  },

  init() {
    const filters = document.getElementById("token-filters");
    if (filters) {
      bindCourtInput(document.getElementById("token-filter-court"), document.getElementById("token-filter-court-name"));
      filters.addEventListener("submit", (event) => {
        event.preventDefault();
        const code = (new FormData(filters).get("court_code") || "").trim();
        Object.assign(this.state, { page: 1, court_code: code || OWN_COURT });
        this.load();
      });
    }
    const form = document.getElementById("token-create");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      showNotice(this.error, "");
      if (!formIsComplete(form, this.error)) return;
      const name = (new FormData(form).get("name") || "").trim();
      const button = form.querySelector('button[type="submit"]');
      try {
        const created = await whileBusy(button, null,
          () => api.post("/api/v1/api-tokens", { name, court_code: this.state.court_code }));
        markFieldErrors(form, {});
        form.reset();
        this.showSecret(created.secret);
        await this.load();
      } catch (error) {
        showFormError(form, this.error, error);
      }
    });
    document.getElementById("token-secret-copy").addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(this.secretValue.textContent);
        flash(t("tokens.copied"));
      } catch {
        window.getSelection().selectAllChildren(this.secretValue);
        flash(t("tokens.copy_failed"));
      }
    });
    document.getElementById("token-secret-done").addEventListener("click", () => {
      this.secretValue.textContent = "";
      this.secretBox.hidden = true;
      document.getElementById("token-name").focus();
    });
    this.load();
  },
};

// --- holiday calendar -----------------------------------------------------------------------------

const RECENT_YEARS_BACK = 2;

const calendar = {
  tbody: document.querySelector("#calendar-table tbody"),
  error: document.getElementById("calendar-error"),
  moreButton: document.getElementById("calendar-show-all"),
  showAll: false,
  years: [],

  async load() {
    try {
      const data = await api.get("/api/v1/calendar/years");
      showNotice(this.error, "");
      this.years = data.years.slice().reverse(); // newest first
      this.render(this.years);
    } catch (error) {
      showNotice(this.error, describeError(error));
    }
  },

  render(years) {
    if (!years.length) return emptyRow(this.tbody, 6, t("common.none"));
    // The years that matter are the current ones and those to come; older ones wait behind a button.
    const recent = new Date().getUTCFullYear() - RECENT_YEARS_BACK;
    const older = years.filter((year) => year.year < recent && year.origin !== "loaded").length;
    this.moreButton.hidden = this.showAll || older === 0;
    this.moreButton.textContent = t("calendar.show_all", { count: years.length });
    this.tbody.replaceChildren(...years.filter((year) => this.showAll || year.year >= recent || year.origin === "loaded").map((year) => {
      const origin = year.origin === "loaded"
        ? el("span", {}, el("span", { class: "badge badge-info" }, t("calendar.loaded")),
          year.replaces_package ? el("div", { class: "field-note" }, t("calendar.replaces")) : null)
        : el("span", { class: "badge badge-muted" }, t("calendar.package"));
      return el("tr", { dataset: { year: year.year } },
        el("th", { scope: "row" }, String(year.year)),
        el("td", {}, origin),
        el("td", {}, year.source),
        el("td", { class: "num" }, formatNumber(year.holidays)),
        el("td", { class: "num" }, formatNumber(year.workdays)),
        el("td", { class: "nowrap" }, year.loaded_at ? formatDateTime(year.loaded_at) : "—"));
    }));
  },

  init() {
    this.moreButton.addEventListener("click", () => {
      this.showAll = true;
      this.render(this.years);
    });
    const form = document.getElementById("calendar-load");
    if (form) {
      const notice = document.getElementById("calendar-load-error");
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const file = form.elements.namedItem("file").files[0];
        if (!file) return showNotice(notice, t("calendar.no_file"));
        let document_;
        try {
          document_ = JSON.parse(await file.text());
        } catch (error) {
          return showNotice(notice, t("calendar.bad_json", { problem: error.message }));
        }
        const button = form.querySelector('button[type="submit"]');
        try {
          const loaded = await whileBusy(button, null, () => api.post("/api/v1/calendar/years", document_));
          showNotice(notice, t("calendar.done", { year: loaded.year }), "success");
          form.reset();
          await this.load();
        } catch (error) {
          showNotice(notice, describeError(error));
        }
      });
    }
    this.load();
  },
};

// --- audit chain ----------------------------------------------------------------------------------

function initAudit() {
  const button = document.getElementById("audit-verify");
  const result = document.getElementById("audit-result");
  button.addEventListener("click", async () => {
    result.hidden = true;
    try {
      const outcome = await whileBusy(button, t("audit.busy"), () => api.get("/api/v1/audit/verify"));
      const at = el("div", { class: "field-note" }, t("audit.at", { time: formatDateTime(new Date()) }));
      const notice = outcome.ok
        ? el("div", { class: "notice notice-success" }, t("audit.ok", { count: formatNumber(outcome.checked) }), at)
        : el("div", { class: "notice notice-error" },
          t("audit.broken", { seq: outcome.first_broken?.seq ?? "?", reason: outcome.first_broken?.reason ?? "" }),
          el("div", {}, t("audit.checked", { count: formatNumber(outcome.checked) })), at);
      result.replaceChildren(notice);
      result.dataset.ok = String(outcome.ok);
    } catch (error) {
      result.replaceChildren(el("div", { class: "notice notice-error" }, describeError(error)));
    }
    result.hidden = false;
  });
}

users.init();
tokens.init();
calendar.init();
initAudit();
