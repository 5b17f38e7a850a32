// Small DOM helpers shared by the pages. Elements are built with el() (text is never parsed as HTML).
import { t } from "./i18n.js";

/** el("td", {class: "num", dataset: {id: 3}}, "text", childNode, ...) */
export function el(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name === "dataset") Object.assign(element.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

/** Shows `text` in a notice element (hidden when text is empty); `kind`: error, success, info. */
export function showNotice(element, text, kind = "error") {
  if (!element) return;
  element.className = `notice notice-${kind}`;
  element.textContent = text || "";
  element.hidden = !text;
}

let flashTimer = null;

/** A short message at the bottom of the screen, read out by screen readers. */
export function flash(text, kind = "info") {
  const box = document.getElementById("flash");
  if (!box) return;
  box.textContent = text;
  box.className = kind === "error" ? "flash flash-error" : "flash";
  box.hidden = false;
  clearTimeout(flashTimer);
  flashTimer = setTimeout(() => { box.hidden = true; }, kind === "error" ? 8000 : 4000);
}

/** Disables a button while work runs and shows `busyText` on it meanwhile. */
export async function whileBusy(button, busyText, work) {
  const label = button.textContent;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  if (busyText) button.textContent = busyText;
  try {
    return await work();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.textContent = label;
  }
}

/**
 * Marks form fields invalid from {field: message}: the input named `field` gets aria-invalid and the
 * element with id `<form id>-<field>-error` or `<input id>-error` the message. Returns the first
 * invalid input (to focus) or null. Clears earlier marks first.
 */
export function markFieldErrors(form, errors) {
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const slot of form.querySelectorAll(".field-error")) slot.textContent = "";
  let first = null;
  for (const [field, message] of Object.entries(errors || {})) {
    const input = form.elements.namedItem(field);
    if (!input || !(input instanceof HTMLElement)) continue;
    input.setAttribute("aria-invalid", "true");
    const slot = document.getElementById(`${input.id}-error`) || document.getElementById(`new-${field}-error`);
    if (slot) slot.textContent = message;
    first ??= input;
  }
  return first;
}

/**
 * The browser-side checks of a form before it is sent, in the page's language: {field: message} for
 * every empty `required` field and every value shorter than its `minlength`. The API checks again.
 */
export function missingFields(form) {
  const errors = {};
  for (const input of form.querySelectorAll("input[name], select[name], textarea[name]")) {
    const value = input.type === "file" ? input.files.length : input.value.trim();
    if (input.required && !value) errors[input.name] = t("form.required");
    else if (input.minLength > 0 && value && input.value.length < input.minLength) {
      errors[input.name] = t("form.too_short", { min: input.minLength });
    }
  }
  return errors;
}
