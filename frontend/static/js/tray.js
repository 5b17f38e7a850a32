// The notification tray in the header: a button with a count and a panel. Pages add items with
// addNotification(); the live pages feed it the user's reminders, escalations and invitations.
import { formatDateTime } from "./format.js";
import { el } from "./ui.js";

const MAX_ITEMS = 50;
let unread = 0;

function parts() {
  return {
    toggle: document.getElementById("tray-toggle"),
    panel: document.getElementById("notification-tray"),
    list: document.getElementById("notification-list"),
    empty: document.getElementById("notification-empty"),
    count: document.getElementById("tray-count"),
  };
}

function setUnread(value) {
  const { count } = parts();
  unread = value;
  if (!count) return;
  count.textContent = String(unread);
  count.hidden = unread === 0;
}

function setOpen(open) {
  const { toggle, panel } = parts();
  if (!toggle || !panel) return;
  panel.hidden = !open;
  toggle.setAttribute("aria-expanded", String(open));
  if (open) setUnread(0);
}

/** Adds {title, body, href, at, id} at the top of the tray; an item with a known id is not added twice. */
export function addNotification({ id, title, body = "", href = null, at = null }) {
  const { list, empty, panel } = parts();
  if (!list) return;
  if (id && list.querySelector(`[data-id="${CSS.escape(String(id))}"]`)) return;
  const heading = href ? el("a", { href, class: "tray-item-title" }, title) : el("span", { class: "tray-item-title" }, title);
  list.prepend(el("li", { dataset: id ? { id } : {} }, heading, body ? el("span", {}, body) : null,
    at ? el("div", { class: "tray-item-time" }, formatDateTime(at)) : null));
  while (list.children.length > MAX_ITEMS) list.lastElementChild.remove();
  if (empty) empty.hidden = true;
  if (panel?.hidden) setUnread(unread + 1);
}

export function initTray() {
  const { toggle, panel } = parts();
  if (!toggle || !panel) return;
  toggle.addEventListener("click", () => setOpen(panel.hidden));
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      setOpen(false);
      toggle.focus();
    }
  });
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !panel.contains(event.target) && !toggle.contains(event.target)) setOpen(false);
  });
}
