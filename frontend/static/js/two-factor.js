// The two-factor setup page: starts an enrollment (a new TOTP secret, shown as a QR code and as text),
// confirms it with the app's current code, then shows the recovery codes once.
import { api } from "./api.js";
import { t } from "./i18n.js";
import { el, flash, showNotice } from "./ui.js";

const steps = document.getElementById("enroll-steps");
const errorBox = document.getElementById("two-factor-error");
const qr = document.getElementById("enroll-qr");
const secretInput = document.getElementById("enroll-secret");
const uriLink = document.getElementById("enroll-uri");
const confirmForm = document.getElementById("enroll-confirm-form");
const codeInput = document.getElementById("enroll-code");
const confirmButton = document.getElementById("enroll-confirm-submit");
const recoverySection = document.getElementById("recovery-section");
const recoveryList = document.getElementById("recovery-codes");

function describe(error) {
  if (error.status === 0) return t("error.network");
  if (error.status >= 500) return t("error.server", { id: error.requestId || "—" });
  return error.message;
}

async function start() {
  try {
    const started = await api.post("/api/v1/second-factor/enrollment");
    secretInput.value = started.secret;
    uriLink.href = started.otpauth_uri;
    uriLink.hidden = false;
    // The image is fetched after the secret exists; the query string only defeats caches.
    qr.src = `${started.qr_code_url}?v=${Date.now()}`;
    qr.hidden = false;
    codeInput.focus();
  } catch (error) {
    showNotice(errorBox, describe(error), "error");
  }
}

confirmForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  showNotice(errorBox, "");
  codeInput.removeAttribute("aria-invalid");
  const code = codeInput.value.replace(/\s+/g, "");
  if (!code) {
    codeInput.setAttribute("aria-invalid", "true");
    showNotice(errorBox, t("twofactor.code_missing"), "error");
    codeInput.focus();
    return;
  }
  confirmButton.disabled = true;
  confirmButton.textContent = t("twofactor.checking");
  try {
    const confirmed = await api.post("/api/v1/second-factor/enrollment/confirm", { code });
    recoveryList.replaceChildren(...confirmed.recovery_codes.map((value) => el("li", {}, el("code", {}, value))));
    steps.hidden = true;
    recoverySection.hidden = false;
    flash(t("twofactor.enrolled"));
    document.getElementById("enroll-continue").focus();
  } catch (error) {
    confirmButton.disabled = false;
    confirmButton.textContent = t("twofactor.confirm");
    codeInput.value = "";
    codeInput.setAttribute("aria-invalid", "true");
    showNotice(errorBox, error.code === "wrong_code" ? t("twofactor.code_wrong") : describe(error), "error");
    codeInput.focus();
  }
});

start();
