// The sign-in form: POST /api/v1/session, then on to the page the visitor came for (or their home).
// A user with two-factor sign-in gets a challenge (202) and a second step: a code from the
// authenticator app, or a recovery code, sent with the challenge to POST /api/v1/session/second-factor.
// A user who must set up two-factor sign-in first is sent to the setup page.
import { api, retryMinutes } from "./api.js";
import { t } from "./i18n.js";
import { showNotice } from "./ui.js";

const form = document.getElementById("sign-in-form");
const errorBox = document.getElementById("sign-in-error");
const submit = document.getElementById("sign-in-submit");
const username = form.elements.namedItem("username");
const password = form.elements.namedItem("password");

const codeForm = document.getElementById("second-factor-form");
const codeSubmit = document.getElementById("second-factor-submit");
const codeInput = document.getElementById("second-factor-code");
const recoveryInput = document.getElementById("recovery-code");
const totpField = document.getElementById("totp-field");
const recoveryField = document.getElementById("recovery-field");
const useRecovery = document.getElementById("use-recovery-code");
const useTotp = document.getElementById("use-totp-code");
const restart = document.getElementById("second-factor-restart");

let challenge = null;
let recoveryMode = false;

function locked(error) {
  const key = error.details?.locked === "address" ? "signin.locked_address" : "signin.locked_account";
  return t(key, { minutes: retryMinutes(error) });
}

function messageFor(error) {
  if (error.status === 401) {
    if (error.code === "account_disabled") return t("signin.disabled");
    if (error.code === "wrong_code") return t("signin.code_wrong");
    if (error.code === "code_reused") return t("signin.code_reused");
    if (error.code === "wrong_recovery_code") return t("signin.recovery_wrong");
    if (error.code === "challenge_expired" || error.code === "challenge_invalid") return t("signin.challenge_expired");
    return t("signin.wrong");
  }
  if (error.status === 429) return locked(error);
  if (error.status === 422) return challenge ? t(recoveryMode ? "signin.recovery_missing" : "signin.code_missing") : t("signin.missing");
  if (error.status === 0) return t("error.network");
  if (error.status >= 500) return t("error.server", { id: error.requestId || "—" });
  return error.message;
}

function fail(text, field) {
  showNotice(errorBox, text, "error");
  for (const input of [username, password, codeInput, recoveryInput]) input.removeAttribute("aria-invalid");
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
  }
}

function finish(signedIn) {
  const next = form.dataset.next || "/";
  if (signedIn?.second_factor_setup_required) {
    window.location.assign(`/account/two-factor?next=${encodeURIComponent(next)}`);
  } else {
    window.location.assign(next);
  }
}

function setRecoveryMode(on) {
  recoveryMode = on;
  totpField.hidden = on;
  recoveryField.hidden = !on;
  useRecovery.hidden = on;
  useTotp.hidden = !on;
  showNotice(errorBox, "");
  (on ? recoveryInput : codeInput).focus();
}

function showPasswordStep() {
  challenge = null;
  codeForm.hidden = true;
  form.hidden = false;
  codeInput.value = "";
  recoveryInput.value = "";
  password.value = "";
  password.focus();
}

function showCodeStep(answer) {
  challenge = answer.challenge;
  form.hidden = true;
  codeForm.hidden = false;
  showNotice(errorBox, "");
  setRecoveryMode(false);
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  showNotice(errorBox, "");
  if (!username.value.trim()) return fail(t("signin.missing"), username);
  if (!password.value) return fail(t("signin.missing"), password);
  submit.disabled = true;
  submit.textContent = t("signin.busy");
  try {
    const answer = await api.post("/api/v1/session", { username: username.value.trim(), password: password.value });
    if (answer?.second_factor_required) {
      submit.disabled = false;
      submit.textContent = t("signin.submit");
      showCodeStep(answer);
      return;
    }
    finish(answer);
  } catch (error) {
    submit.disabled = false;
    submit.textContent = t("signin.submit");
    if (error.status === 401 && error.code !== "account_disabled") password.value = "";
    fail(messageFor(error), error.status === 401 || error.status === 422 ? password : null);
  }
});

codeForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  showNotice(errorBox, "");
  const input = recoveryMode ? recoveryInput : codeInput;
  const value = input.value.replace(/\s+/g, recoveryMode ? " " : "").trim();
  if (!value) return fail(t(recoveryMode ? "signin.recovery_missing" : "signin.code_missing"), input);
  const body = recoveryMode ? { challenge, recovery_code: value } : { challenge, code: value };
  codeSubmit.disabled = true;
  codeSubmit.textContent = t("signin.verifying");
  try {
    finish(await api.post("/api/v1/session/second-factor", body));
  } catch (error) {
    codeSubmit.disabled = false;
    codeSubmit.textContent = t("signin.verify");
    const text = messageFor(error);
    if (error.code === "challenge_expired" || error.code === "challenge_invalid" || error.status === 429) {
      showPasswordStep();
      fail(text, null);
      return;
    }
    input.value = "";
    fail(text, input);
  }
});

useRecovery.addEventListener("click", () => setRecoveryMode(true));
useTotp.addEventListener("click", () => setRecoveryMode(false));
restart.addEventListener("click", () => {
  showNotice(errorBox, "");
  showPasswordStep();
});
