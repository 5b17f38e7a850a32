// Video consultations: the sessions the user hosts, is invited to or supervises, and (for command
// staff) a form that opens a new one and goes straight to its room.
import { api, describeError, fieldErrors } from "./api.js";
import { t } from "./i18n.js";
import { formatDateTime } from "./format.js";
import { el, markFieldErrors, showNotice, whileBusy } from "./ui.js";

async function loadSessions() {
  const page = await api.get("/api/v1/video-sessions", { query: { page_size: 50 } });
  const tbody = document.querySelector("#sessions-table tbody");
  tbody.replaceChildren(
    ...(page.items.length
      ? page.items.map((s) => el("tr", { dataset: { id: s.id } },
          el("td", {}, el("a", { href: `/video/${s.id}` }, s.topic)),
          el("td", {}, t(`video.state.${s.state}`)),
          el("td", {}, s.host_court),
          el("td", {}, formatDateTime(s.created_at))))
      : [el("tr", {}, el("td", { colspan: 4 }, t("common.empty")))]),
  );
}

function setUpForm() {
  const form = document.getElementById("session-form");
  if (!form) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const topic = form.topic.value.trim();
    const requestId = form.request_id.value.trim();
    const invalid = markFieldErrors(form, topic ? {} : { topic: t("video.required") });
    if (invalid) {
      invalid.focus();
      return;
    }
    const body = { topic };
    if (requestId) body.request_id = Number(requestId);
    await whileBusy(form.querySelector("button"), null, async () => {
      try {
        const session = await api.post("/api/v1/video-sessions", body);
        window.location.assign(`/video/${session.id}`);
      } catch (err) {
        markFieldErrors(form, fieldErrors(err))?.focus();
        showNotice(document.getElementById("session-notice"), describeError(err), "error");
      }
    });
  });
}

setUpForm();
loadSessions().catch((err) => {
  const tbody = document.querySelector("#sessions-table tbody");
  tbody.replaceChildren(el("tr", {}, el("td", { colspan: 4 }, describeError(err))));
});
