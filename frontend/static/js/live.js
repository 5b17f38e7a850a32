// The browser side of the `/live` replay protocol (see realtime/live.py): connect with the session
// cookie, follow rooms with the last applied seq per room kept in sessionStorage, apply each durable
// event once and in order, ask for a replay on a gap, and call back for a reload on `resync`.
// Needs the vendored socket.io client (a classic script defining `io`) loaded before this module.
import { has, t } from "./i18n.js";
import { addNotification } from "./tray.js";

const STORE_KEY = "cc-live-seq";
const SEEN_LIMIT = 500;

function loadSeqs() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

/**
 * live = connectLive({onEvent(name, data, envelope), onResync(room), onStatus(connected)})
 * live.follow(room) — join one more room (replays after its stored seq); live.emit(event, body).
 */
export function connectLive({ rooms = [], onEvent = () => {}, onResync = () => {}, onStatus = () => {},
  onEphemeral = () => {} } = {}) {
  const seqs = loadSeqs(); // room -> last applied seq
  const followed = new Set(rooms);
  const held = new Map(); // room -> Map(seq -> [name, envelope])
  const resuming = new Set(); // rooms with a gap replay in flight
  const seen = []; // event ids applied (an event reaches command staff once per room)
  const seenSet = new Set();
  const indicator = reconnectIndicator();

  const socket = window.io("/live", { transports: ["websocket"], withCredentials: true, reconnectionDelayMax: 5000 });

  function save() {
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify(seqs));
    } catch {
      /* storage full or disabled: replay starts from the server's head next time */
    }
  }

  function markSeen(id) {
    if (!id) return true;
    if (seenSet.has(id)) return false;
    seenSet.add(id);
    seen.push(id);
    if (seen.length > SEEN_LIMIT) seenSet.delete(seen.shift());
    return true;
  }

  function apply(name, envelope) {
    seqs[envelope.room] = envelope.seq;
    save();
    if (!markSeen(envelope.event_id)) return;
    notify(name, envelope);
    onEvent(name, envelope.data, envelope);
  }

  function drainHeld(room) {
    const queue = held.get(room);
    while (queue && queue.has((seqs[room] ?? 0) + 1)) {
      const next = (seqs[room] ?? 0) + 1;
      const [name, envelope] = queue.get(next);
      queue.delete(next);
      apply(name, envelope);
    }
    if (queue) for (const seq of queue.keys()) if (seq <= (seqs[room] ?? 0)) queue.delete(seq);
  }

  function ackRooms(ack) {
    for (const [room, info] of Object.entries(ack?.rooms || {})) {
      followed.add(room);
      if (info.resync) {
        seqs[room] = info.seq;
        held.delete(room);
        onResync(room);
      } else if (seqs[room] === undefined || seqs[room] === null) {
        seqs[room] = info.seq; // first time here: the page loads this view over HTTP
      }
      resuming.delete(room);
      drainHeld(room);
    }
    save();
  }

  function resume(only) {
    const wanted = {};
    for (const room of only || followed) wanted[room] = seqs[room] ?? null;
    for (const room of Object.keys(wanted)) resuming.add(room);
    socket.emit("resume", { rooms: wanted }, (ack) => {
      for (const room of Object.keys(wanted)) resuming.delete(room);
      if (ack && ack.ok) ackRooms(ack);
      document.documentElement.dataset.live = "ready"; // followed rooms joined: live from here on
    });
  }

  function onDurable(name, envelope) {
    if (!envelope || typeof envelope.seq !== "number" || !envelope.room) {
      onEphemeral(name, envelope);
      return;
    }
    const { room, seq } = envelope;
    const last = seqs[room];
    if (last === undefined || last === null) {
      apply(name, envelope); // an event from a room we were put in on connect
      return;
    }
    if (seq <= last) return; // duplicate
    if (seq === last + 1) {
      apply(name, envelope);
      drainHeld(room);
      return;
    }
    if (!held.has(room)) held.set(room, new Map());
    held.get(room).set(seq, [name, envelope]);
    if (!resuming.has(room)) resume([room]);
  }

  socket.on("connect", () => {
    indicator.hidden = true;
    onStatus(true);
    resume();
  });
  socket.on("disconnect", (reason) => {
    indicator.hidden = false;
    document.documentElement.dataset.live = "offline";
    onStatus(false);
    // A server-side disconnect (or a drop as a slow consumer) is not retried by socket.io itself.
    if (reason === "io server disconnect") setTimeout(() => socket.connect(), 1000);
  });
  socket.on("connect_error", () => {
    indicator.hidden = false;
    onStatus(false);
  });
  socket.on("realtime:dropped", () => socket.disconnect().connect());
  socket.on("resync", (body) => {
    if (!body?.room) return;
    seqs[body.room] = body.head;
    held.delete(body.room);
    save();
    onResync(body.room);
  });
  socket.onAny((name, body) => {
    if (name === "resync" || name === "realtime:dropped") return;
    if (name.startsWith("thread:") || name.startsWith("presence:")) {
      onEphemeral(name, body);
      return;
    }
    onDurable(name, body);
  });

  return {
    socket,
    follow(room) {
      if (followed.has(room)) return;
      followed.add(room);
      if (socket.connected) resume([room]);
    },
    emit(event, body, ack) {
      if (socket.connected) socket.emit(event, body, ack || (() => {}));
    },
    get connected() {
      return socket.connected;
    },
  };
}

/** The user's reminders, escalations, supervision orders and invitations go to the header's tray. */
function notify(name, envelope) {
  const data = envelope.data || {};
  const request = data.request_id ?? (data.subject_type === "request" ? data.subject_id : null);
  const href = name === "video:invited" ? data.url : request ? `/requests/${request}` : null;
  const item = {
    "deadline:reminder": () => ({
      title: t("tray.reminder", { clock: has(`deadline.${data.kind}`) ? t(`deadline.${data.kind}`) : data.kind }),
      body: t("tray.due", { date: data.due_on, id: request ?? data.case_id ?? "" }),
    }),
    "escalation:opened": () => ({ title: t("tray.escalation", { id: request ?? data.case_id ?? "" }) }),
    "supervision:ordered": () => ({
      title: t("tray.supervision", { id: request ?? "" }), body: t("tray.due", { date: data.due_on, id: request ?? "" }),
    }),
    "video:invited": () => ({ title: t("tray.invited", { topic: data.topic }), body: data.host || "" }),
  }[name];
  if (item) addNotification({ id: envelope.event_id, href, at: new Date(), ...item() });
}

/** The "reconnecting…" badge shown while the live connection is down (one per page). */
function reconnectIndicator() {
  let badge = document.getElementById("live-status");
  if (!badge) {
    badge = document.createElement("div");
    badge.id = "live-status";
    badge.className = "live-status";
    badge.setAttribute("role", "status");
    badge.textContent = t("live.reconnecting");
    document.body.append(badge);
  }
  badge.hidden = true;
  return badge;
}
