// The one way pages call the JSON API: same-origin fetch with the session's CSRF token, and the
// error envelope {"error": {"code", "message", "details", "request_id"}} turned into an ApiError
// whose message a person can read in the page's language (see describeError).
import { t } from "./i18n.js";

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const SESSION_ENDED = new Set(["session_invalid", "session_expired", "account_disabled", "not_authenticated"]);

export class ApiError extends Error {
  constructor({ status, code, message, details = null, requestId = null, retryAfter = null }) {
    super(message);
    this.name = "ApiError";
    this.status = status; // 0: the server was not reached
    this.code = code;
    this.details = details;
    this.requestId = requestId;
    this.retryAfter = retryAfter; // seconds, from the Retry-After header (429)
  }
}

export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

function buildUrl(path, query) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, String(value));
  }
  return url;
}

/**
 * Calls the API and resolves with the parsed JSON (null for 204); rejects with an ApiError.
 * A signed-in page whose session ended is sent to the sign-in page (it comes back here afterwards)
 * unless `options.stayOnSessionEnd` is set.
 */
export async function request(method, path, options = {}) {
  const { body, query, headers = {}, signal, stayOnSessionEnd = false } = options;
  const init = { method, credentials: "same-origin", signal, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers["Content-Type"] = "application/json";
  }
  if (UNSAFE.has(method)) {
    const token = csrfToken();
    if (token) init.headers["X-CSRF-Token"] = token;
  }
  let response;
  try {
    response = await fetch(buildUrl(path, query), init);
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError({ status: 0, code: "network_error", message: t("error.network") });
  }
  if (response.status === 204) return null;
  let data = null;
  if ((response.headers.get("content-type") || "").includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  if (response.ok) return data;

  const envelope = (data && data.error) || {};
  const retry = Number.parseInt(response.headers.get("retry-after") || "", 10);
  const error = new ApiError({
    status: response.status,
    code: envelope.code || `http_${response.status}`,
    message: envelope.message || response.statusText || `HTTP ${response.status}`,
    details: envelope.details ?? null,
    requestId: envelope.request_id || response.headers.get("x-request-id"),
    retryAfter: Number.isFinite(retry) ? retry : null,
  });
  if (response.status === 401 && SESSION_ENDED.has(error.code) && !stayOnSessionEnd
      && document.body.dataset.signedIn === "true") {
    const here = window.location.pathname + window.location.search + window.location.hash;
    window.location.assign(`/sign-in?reason=expired&next=${encodeURIComponent(here)}`);
  }
  throw error;
}

export const api = {
  get: (path, options) => request("GET", path, options),
  post: (path, body, options = {}) => request("POST", path, { ...options, body }),
  put: (path, body, options = {}) => request("PUT", path, { ...options, body }),
  patch: (path, body, options = {}) => request("PATCH", path, { ...options, body }),
  del: (path, options) => request("DELETE", path, options),
};

/** Minutes to wait, rounded up, from a 429's Retry-After (at least 1). */
export function retryMinutes(error) {
  const seconds = error.retryAfter ?? error.details?.retry_after ?? 60;
  return Math.max(1, Math.ceil(seconds / 60));
}

/**
 * Per-field messages from a 422/409 envelope: {field: message}. The API sends details as
 * [{"field", "message"}, ...]; other shapes (a list of strings) have no field and are left out.
 */
export function fieldErrors(error) {
  const out = {};
  if (Array.isArray(error?.details)) {
    for (const item of error.details) {
      if (item && typeof item === "object" && item.field) out[item.field] ??= item.message || error.message;
    }
  }
  return out;
}

/** One sentence for a person, in the page's language; the server's own message where it says more. */
export function describeError(error) {
  if (!(error instanceof ApiError)) return String(error?.message || error);
  switch (error.status) {
    case 0:
      return t("error.network");
    case 401:
      return t("error.session");
    case 403:
      return error.code === "csrf_failed" ? t("error.csrf") : `${t("error.forbidden")} ${error.message}`;
    case 404:
      return `${t("error.not_found")} (${error.message})`;
    case 409:
      return error.message;
    case 422: {
      const problems = Array.isArray(error.details)
        ? error.details.map((d) => (typeof d === "string" ? d : d.field ? `${d.field}: ${d.message}` : d.message))
        : [];
      return problems.length > 1 ? `${t("error.invalid")} ${problems.join("; ")}` : error.message;
    }
    case 429:
      return t("error.too_many", { minutes: retryMinutes(error) });
    default:
      if (error.status >= 500) return t("error.server", { id: error.requestId || "—" });
      return error.message || t("error.unknown", { status: error.status });
  }
}
