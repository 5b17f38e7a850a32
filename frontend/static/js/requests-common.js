// Shared by the workspace, request and dashboard pages: status labels, countdowns, request rows.
import { t } from "./i18n.js";
import { parseTimestamp } from "./format.js";
import { el } from "./ui.js";

export function statusLabel(status) {
  return t(`status.${status}`);
}

/** "3 d 4 h left" / "overdue by 1 d 2 h" until `endsAt` (an API timestamp). */
export function countdown(endsAt, now = Date.now()) {
  const end = parseTimestamp(endsAt);
  if (!end) return "—";
  const diff = end.getTime() - now;
  const hoursTotal = Math.floor(Math.abs(diff) / 3_600_000);
  const params = { days: Math.floor(hoursTotal / 24), hours: hoursTotal % 24 };
  return diff >= 0 ? t("countdown.left", params) : t("countdown.over", params);
}

/** Refreshes every [data-ends-at] countdown on the page once a minute. */
export function tickCountdowns() {
  const update = () => {
    for (const node of document.querySelectorAll("[data-ends-at]")) {
      node.textContent = countdown(node.dataset.endsAt);
    }
  };
  update();
  setInterval(update, 60_000);
}

export function requestRow(item, { otherCourt, matterName }) {
  const deadline = item.next_deadline;
  return el(
    "tr",
    { dataset: { id: item.id }, class: item.overdue ? "overdue" : "" },
    el("td", {}, el("a", { href: `/requests/${item.id}` }, String(item.id))),
    el("td", {}, item.case_number),
    el("td", {}, matterName(item.matter_type), item.urgency === "urgent" ? el("span", { class: "badge badge-urgent" }, t("urgency.urgent")) : null),
    el("td", {}, otherCourt(item)),
    el("td", {}, el("span", { class: `status status-${item.status}` }, statusLabel(item.status)),
      item.overdue ? el("span", { class: "badge badge-overdue" }, t("common.overdue")) : null),
    el("td", {}, deadline ? el("span", { dataset: { endsAt: deadline.ends_at } }, "") : "—"),
  );
}
