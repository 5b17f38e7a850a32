// One assistance request: details, deadlines with countdowns, the allowed actions (each with the fields
// it needs and the version last read), documents, the timeline, and the live thread with typing
// indicators and read receipts.
import { api, csrfToken, describeError, fieldErrors } from "./api.js";
import { has, lang, localName, t } from "./i18n.js";
import { formatDate, formatDateTime } from "./format.js";
import { connectLive } from "./live.js";
import { countdown, statusLabel, tickCountdowns } from "./requests-common.js";
import { el, flash, markFieldErrors, showNotice, whileBusy } from "./ui.js";

const root = document.getElementById("request-page");
const requestId = Number(root.dataset.requestId);
const myCourt = root.dataset.court;
const base = `/api/v1/assistance-requests/${requestId}`;
const notice = document.getElementById("request-notice");
let current = null; // the request as last read
let lastMessageId = 0;
let readMarks = {};
let live = null;
const courtNames = new Map();
const matterNames = new Map();

// The fields each action's body needs besides the version.
const ACTION_FIELDS = {
  file: [],
  start: [],
  complete: [["result_text", "textarea", true]],
  request_supplement: [["missing", "textarea", true]],
  supplement: [["note", "textarea", true]],
  reject: [["reason", "reject", true], ["note", "textarea", false]],
  withdraw: [["reason", "textarea", true]],
  reroute: [["region_code", "input", false], ["target_court", "input", false], ["reason", "textarea", true]],
};

function renderDetails(r) {
  for (const court of [r.requesting_court, r.target_court, r.supervising_court]) courtNames.set(court.code, court.name);
  const status = document.getElementById("request-status");
  status.textContent = statusLabel(r.status);
  status.className = `status status-${r.status}`;
  document.getElementById("request-overdue").hidden = !r.overdue;
  const rows = [
    ["rq.case", r.case_number],
    ["rq.matter", matterNames.get(r.matter_type) || r.matter_type],
    ["rq.urgency", t(`urgency.${r.urgency}`)],
    ["rq.requesting", r.requesting_court.name],
    ["rq.target", r.target_court.name],
    ["rq.supervising", r.supervising_court.name],
    ["rq.subject", `${r.subject.name} (${r.subject.id_number})`],
    ["rq.location", `${r.location.region_code} ${r.location.address}`],
    ["rq.routed_on", formatDate(r.routed_on)],
    ["rq.description", r.description || "—"],
    ["rq.materials", r.materials.map(localName).join(lang.startsWith("en") ? ", " : "、") || "—"],
  ];
  if (r.result_text) rows.push(["rq.result", r.result_text]);
  document.getElementById("request-details").replaceChildren(
    ...rows.flatMap(([key, value]) => [el("dt", {}, t(key)), el("dd", {}, value)]),
  );
  document.querySelector("#deadlines-table tbody").replaceChildren(
    ...r.deadlines.map((d) =>
      el("tr", { class: d.state === "missed" ? "overdue" : "" },
        el("td", {}, t(`deadline.${d.kind}`)),
        el("td", {}, formatDate(d.due_on)),
        el("td", {}, t(`state.${d.state}`)),
        el("td", {}, d.state === "pending" ? el("span", { dataset: { endsAt: d.ends_at } }, countdown(d.ends_at)) : "—"))),
  );
  const buttons = document.getElementById("action-buttons");
  buttons.replaceChildren(
    ...r.allowed_actions.map((action) =>
      el("button", { type: "button", class: "button", dataset: { action }, onclick: () => openAction(action) }, t(`action.${action}`))),
  );
  document.getElementById("no-actions").hidden = r.allowed_actions.length > 0;
  if (!r.allowed_actions.includes(document.getElementById("action-form").dataset.action)) closeAction();
}

function closeAction() {
  const form = document.getElementById("action-form");
  form.hidden = true;
  form.dataset.action = "";
}

function openAction(action) {
  const form = document.getElementById("action-form");
  form.dataset.action = action;
  document.getElementById("action-title").textContent = t(`action.${action}`);
  const fields = ACTION_FIELDS[action].map(([name, kind, required]) => {
    const id = `action-${name}`;
    let input;
    if (kind === "textarea") input = el("textarea", { id, name, rows: 3, required });
    else if (kind === "reject") {
      input = el("select", { id, name, required },
        ...["wrong_jurisdiction", "not_assistance_matter", "materials_invalid"].map((v) => el("option", { value: v }, t(`reject.${v}`))));
    } else input = el("input", { id, name, required });
    return el("div", { class: "field" }, el("label", { for: id }, t(`field.${name}`)), input,
      el("p", { class: "field-error", id: `${id}-error` }));
  });
  document.getElementById("action-fields").replaceChildren(...fields);
  form.hidden = false;
  (form.querySelector("textarea, input, select") || document.getElementById("action-confirm")).focus();
}

async function submitAction(event) {
  event.preventDefault();
  const form = event.target;
  const action = form.dataset.action;
  const body = { version: current.version };
  for (const [name, , required] of ACTION_FIELDS[action]) {
    const value = form.elements[name].value.trim();
    if (value) body[name] = value;
    else if (required) {
      markFieldErrors(form, { [name]: t("form.required") })?.focus();
      return;
    }
  }
  await whileBusy(document.getElementById("action-confirm"), null, async () => {
    try {
      current = await api.post(`${base}/${action}`, body);
      renderDetails(current);
      closeAction();
      showNotice(notice, t("action.done", { action: t(`action.${action}`) }), "success");
      loadTimeline();
    } catch (error) {
      markFieldErrors(form, fieldErrors(error));
      showNotice(notice, describeError(error));
      if (error.status === 409) loadRequest();
    }
  });
}

async function loadRequest() {
  current = await api.get(base);
  renderDetails(current);
}

/** A timeline entry's action in the page's language (the raw action name only if it is unknown). */
function timelineAction(entry) {
  const key = `audit.${entry.action}`;
  const label = has(key) ? t(key) : entry.action.replace(/^assistance\./, "").replaceAll("_", " ");
  const reason = entry.details?.reason;
  return reason && has(`reject.${reason}`) ? `${label}: ${t(`reject.${reason}`)}` : label;
}

async function loadTimeline() {
  const entries = await api.get(`${base}/timeline`);
  document.getElementById("timeline").replaceChildren(
    ...entries.map((e) => el("li", { dataset: { action: e.action } }, el("time", {}, formatDateTime(e.at)), " ",
      el("strong", {}, timelineAction(e)),
      " · ", e.actor.replace(/^user:/, ""), e.court ? ` (${courtNames.get(e.court) || e.court})` : "")),
  );
}

async function loadAttachments() {
  const page = await api.get(`${base}/attachments`, { query: { page_size: 200 } });
  const list = document.getElementById("attachments-list");
  if (!page.items.length) {
    list.replaceChildren(el("li", { class: "muted" }, t("common.none")));
    return;
  }
  list.replaceChildren(
    ...page.items.map((a) => el("li", {}, el("a", { href: a.download_url }, a.filename), ` · ${t(`purpose.${a.purpose}`)} · ${Math.ceil(a.size / 1024)} KB · ${formatDateTime(a.created_at)}`)),
  );
}

function renderReceipts() {
  for (const node of document.querySelectorAll("#thread li[data-mine='true']")) {
    const id = Number(node.dataset.id);
    const readers = Object.entries(readMarks)
      .filter(([court, last]) => court !== myCourt && last >= id)
      .map(([court]) => courtNames.get(court) || court);
    node.querySelector(".receipt").textContent = readers.length ? t("thread.read_by", { courts: readers.join("、") }) : "";
  }
}

async function loadMessages() {
  let after = lastMessageId;
  for (;;) {
    const page = await api.get(`${base}/messages`, { query: { after_id: after || undefined, page_size: 100 } });
    readMarks = page.read || readMarks;
    const list = document.getElementById("thread");
    for (const m of page.items) {
      if (list.querySelector(`li[data-id="${m.id}"]`)) continue;
      list.append(el("li", { class: m.author_court === myCourt ? "message mine" : "message", dataset: { id: m.id, mine: String(m.author_court === myCourt) } },
        el("div", { class: "message-meta" }, `${m.author_name} · ${courtNames.get(m.author_court) || m.author_court} · ${formatDateTime(m.created_at)}`),
        el("div", { class: "message-body" }, m.body),
        el("div", { class: "receipt muted" })));
      lastMessageId = Math.max(lastMessageId, m.id);
    }
    if (!page.next_after_id) break;
    after = page.next_after_id;
  }
  const list = document.getElementById("thread");
  if (!list.children.length) list.append(el("li", { class: "muted empty" }, t("thread.empty")));
  else list.querySelector(".empty")?.remove();
  renderReceipts();
  markRead();
}

function markRead() {
  if (!lastMessageId || (readMarks[myCourt] ?? 0) >= lastMessageId || document.hidden) return;
  readMarks[myCourt] = lastMessageId;
  api.post(`${base}/messages/read`, { last_message_id: lastMessageId }).catch(() => {});
}

let typingTimer = null;
function showTyping(body) {
  if (body?.request_id !== requestId || body.court === myCourt) return;
  const slot = document.getElementById("typing");
  slot.textContent = t("thread.typing", { who: body.user?.name || courtNames.get(body.court) || body.court });
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => { slot.textContent = ""; }, 4000);
}

function setupThread() {
  const form = document.getElementById("message-form");
  const box = document.getElementById("message-body");
  let lastTyping = 0;
  box.addEventListener("input", () => {
    if (Date.now() - lastTyping > 2000 && live) {
      lastTyping = Date.now();
      live.emit("typing", { request_id: requestId });
    }
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = box.value.trim();
    if (!text) return;
    await whileBusy(document.getElementById("message-send"), null, async () => {
      try {
        await api.post(`${base}/messages`, { body: text });
        box.value = "";
        await loadMessages();
      } catch (error) {
        flash(describeError(error), "error");
      }
    });
  });
  document.addEventListener("visibilitychange", markRead);
}

function setupUpload() {
  document.getElementById("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const file = form.elements.file.files[0];
    if (!file) return;
    const data = new FormData(form);
    const response = await fetch(`${base}/attachments`, {
      method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken(), Accept: "application/json" },
    }).catch(() => null);
    if (response && response.ok) {
      flash(t("upload.done", { name: file.name }));
      form.reset();
      loadAttachments();
    } else {
      const body = response ? await response.json().catch(() => ({})) : {};
      flash(body?.error?.message || t("error.network"), "error");
    }
  });
}

async function main() {
  document.getElementById("action-form").addEventListener("submit", submitAction);
  document.getElementById("action-cancel").addEventListener("click", closeAction);
  setupThread();
  setupUpload();
  try {
    const catalog = await api.get("/api/v1/assistance-matters");
    for (const m of catalog.matters) matterNames.set(m.matter_type, localName(m));
    await loadRequest();
  } catch (error) {
    showNotice(notice, describeError(error));
    return;
  }
  tickCountdowns();
  await Promise.all([loadMessages(), loadTimeline(), loadAttachments()]).catch((error) => flash(describeError(error), "error"));
  live = connectLive({
    rooms: [`request:${requestId}`],
    onEvent(name, data) {
      if (name === "assistance:message_posted" && data.request_id === requestId) loadMessages();
      else if (name === "assistance:thread_read" && data.request_id === requestId) {
        readMarks[data.court] = Math.max(readMarks[data.court] ?? 0, data.last_message_id);
        renderReceipts();
      } else if (name.startsWith("assistance:") && data.id === requestId) {
        loadRequest();
        loadTimeline();
      }
    },
    onResync: () => { loadRequest(); loadMessages(); loadTimeline(); },
    onEphemeral(name, body) {
      if (name === "thread:typing") showTyping(body);
    },
  });
}

main();
