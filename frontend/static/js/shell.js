// Behaviour of the layout every page shares (base.html): sign-out and the notification tray.
import { api, describeError } from "./api.js";
import { initTray } from "./tray.js";
import { flash } from "./ui.js";

function initSignOut() {
  const button = document.getElementById("sign-out");
  if (!button) return;
  button.addEventListener("click", async () => {
    button.disabled = true;
    // Signing out: calls the page still has in flight (the tray, the live client) will be refused
    // from now on, which must not read as an expired session.
    document.body.dataset.signedIn = "false";
    try {
      await api.del("/api/v1/session", { stayOnSessionEnd: true });
    } catch (error) {
      if (error.status !== 401) {
        flash(describeError(error), "error");
        document.body.dataset.signedIn = "true";
        button.disabled = false;
        return;
      }
    }
    window.location.assign("/sign-in");
  });
}

initTray();
initSignOut();
