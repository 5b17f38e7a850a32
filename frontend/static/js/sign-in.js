// The sign-in form: POST /api/v1/session, then on to the page the visitor came for (or their home).
import { api, retryMinutes } from "./api.js";
import { t } from "./i18n.js";
import { showNotice } from "./ui.js";

const form = document.getElementById("sign-in-form");
const errorBox = document.getElementById("sign-in-error");
const submit = document.getElementById("sign-in-submit");
const username = form.elements.namedItem("username");
const password = form.elements.namedItem("password");

function messageFor(error) {
  if (error.status === 401) return error.code === "account_disabled" ? t("signin.disabled") : t("signin.wrong");
  if (error.status === 429) {
    const key = error.details?.locked === "address" ? "signin.locked_address" : "signin.locked_account";
    return t(key, { minutes: retryMinutes(error) });
  }
  if (error.status === 422) return t("signin.missing");
  if (error.status === 0) return t("error.network");
  if (error.status >= 500) return t("error.server", { id: error.requestId || "—" });
  return error.message;
}

function fail(text, field) {
  showNotice(errorBox, text, "error");
  for (const input of [username, password]) input.removeAttribute("aria-invalid");
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showNotice(errorBox, "");
  if (!username.value.trim()) return fail(t("signin.missing"), username);
  if (!password.value) return fail(t("signin.missing"), password);
  submit.disabled = true;
  submit.textContent = t("signin.busy");
  try {
    await api.post("/api/v1/session", { username: username.value.trim(), password: password.value });
    window.location.assign(form.dataset.next || "/");
  } catch (error) {
    submit.disabled = false;
    submit.textContent = t("signin.submit");
    if (error.status === 401 && error.code !== "account_disabled") password.value = "";
    fail(messageFor(error), error.status === 401 || error.status === 422 ? password : null);
  }
});
