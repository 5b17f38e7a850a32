// The video room: joins through the API, signals over socket.io /video, one RTCPeerConnection to the
// media server. The server makes every offer; this page answers and trickles its ICE candidates.
// Strings come from the page's language (data-i18n, see /static/js/i18n.js).
/* global io */
import { t as tr } from "/static/js/i18n.js";

const root = document.getElementById("room");
const sessionId = Number(root.dataset.sessionId);
const myId = Number(root.dataset.userId);
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const $ = (id) => document.getElementById(id);

const state = {
  role: null,
  socket: null,
  pc: null,
  iceServers: [],
  local: null, // MediaStream from the camera and microphone
  screen: null, // MediaStream from getDisplayMedia
  media: {}, // mid -> what the server says the m-line carries
  tiles: new Map(), // owner user id -> tile elements
  names: new Map(),
  finished: null, // "ended" | "removed" | "left" once the page stops for good
  reconnecting: false,
  attempts: 0,
  joinedAt: null,
  mutedByHost: false,
};

function setStatus(key) {
  const el = $("status");
  el.dataset.state = key;
  el.textContent = tr(`room.${key}`);
  root.dataset.state = key;
  $("reconnecting").hidden = key !== "reconnecting";
  $("lobby-wait").hidden = key !== "waiting";
}

function showHostControls(isHost) {
  for (const el of document.querySelectorAll(".host-only")) el.hidden = !isHost;
}

// --- tiles -------------------------------------------------------------------------------------

function tile(owner) {
  let t = state.tiles.get(owner);
  if (t) return t;
  const el = document.createElement("figure");
  el.className = "tile";
  el.dataset.owner = String(owner);
  const camera = document.createElement("video");
  camera.autoplay = true;
  camera.playsInline = true;
  camera.className = "camera";
  if (owner === myId) camera.muted = true;
  const screen = document.createElement("video");
  screen.autoplay = true;
  screen.playsInline = true;
  screen.className = "screen";
  screen.hidden = true;
  const audio = document.createElement("audio");
  audio.autoplay = true;
  const caption = document.createElement("figcaption");
  caption.textContent = owner === myId ? tr("room.me") : state.names.get(owner) || `#${owner}`;
  el.append(camera, screen, audio, caption);
  if (owner === myId) el.classList.add("tile-me");
  $("grid").append(el);
  $("grid").dataset.count = String(state.tiles.size + 1);
  t = { el, camera, screen, audio, caption, tracks: {} };
  state.tiles.set(owner, t);
  return t;
}

function attach(owner, source, track) {
  const t = tile(owner);
  t.tracks[source] = track;
  const element = source === "mic" ? t.audio : source === "screen" ? t.screen : t.camera;
  element.srcObject = new MediaStream([track]);
  if (source === "screen") element.hidden = false;
  element.play().catch(() => {});
}

function detach(owner, source) {
  const t = state.tiles.get(owner);
  if (!t) return;
  delete t.tracks[source];
  const element = source === "mic" ? t.audio : source === "screen" ? t.screen : t.camera;
  element.srcObject = null;
  if (source === "screen") element.hidden = true;
  if (owner !== myId && Object.keys(t.tracks).length === 0) {
    t.el.remove();
    state.tiles.delete(owner);
    $("grid").dataset.count = String(state.tiles.size);
  }
}

// --- joining and reconnecting --------------------------------------------------------------------

async function start() {
  try {
    state.local = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: 640, height: 480 },
    });
    const me = tile(myId);
    me.camera.srcObject = state.local;
    me.camera.play().catch(() => {});
  } catch (err) {
    state.local = null; // no camera or refused: join without publishing
  }
  await join();
}

async function join() {
  setStatus(state.reconnecting ? "reconnecting" : "connecting");
  let response;
  try {
    response = await fetch(`/api/v1/video-sessions/${sessionId}/join`, {
      method: "POST",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/json" },
      credentials: "same-origin",
    });
  } catch (err) {
    scheduleReconnect();
    return;
  }
  if (response.status === 409) return finish("ended");
  if (response.status === 403) return finish("removed");
  if (!response.ok) return scheduleReconnect();
  const grant = await response.json();
  state.role = grant.role;
  state.iceServers = grant.ice_servers.map((s) => ({ urls: s.urls, username: s.username || undefined, credential: s.credential || undefined }));
  for (const p of grant.session.participants) state.names.set(p.user_id, p.display_name);
  $("role").textContent = tr(`room.role.${grant.role}`);
  showHostControls(grant.role === "host");
  connectSocket(grant.join_token);
}

function connectSocket(joinToken) {
  const socket = io("/video", { auth: { join_token: joinToken }, transports: ["websocket"], reconnection: false, forceNew: true });
  state.socket = socket;
  socket.on("connect", () => {
    socket.emit("hello", {}, (ack) => {
      if (!ack || !ack.ok) return;
      for (const message of ack.chat || []) showChat(message);
      if (!ack.admitted) setStatus("waiting");
    });
  });
  socket.on("connect_error", () => scheduleReconnect());
  socket.on("disconnect", () => {
    if (state.socket === socket && !state.finished) scheduleReconnect();
  });
  socket.on("lobby:waiting", () => setStatus("waiting"));
  socket.on("admitted", () => setStatus("connecting"));
  socket.on("offer", (message) => onOffer(message).catch((err) => console.error("offer failed", err)));
  socket.on("participants", (message) => renderParticipants(message.participants));
  socket.on("lobby", (message) => renderLobby(message.waiting));
  socket.on("muted", (message) => onMuted(message));
  socket.on("removed", () => finish("removed"));
  socket.on("ended", () => finish("ended"));
  socket.on("chat", (message) => showChat(message));
  socket.on("directive", (directive) => showDirective(directive));
  socket.on("stats", (message) => renderQuality(message.participants));
}

function newPeerConnection() {
  const pc = new RTCPeerConnection({ iceServers: state.iceServers });
  pc.onicecandidate = (event) => {
    if (state.pc !== pc || !state.socket) return;
    state.socket.emit("candidate", event.candidate ? event.candidate.toJSON() : null);
  };
  pc.onconnectionstatechange = () => {
    if (state.pc !== pc) return;
    if (pc.connectionState === "connected") {
      state.reconnecting = false;
      state.attempts = 0;
      setStatus("connected");
    } else if (pc.connectionState === "failed") {
      scheduleReconnect();
    }
  };
  return pc;
}

function teardown() {
  const socket = state.socket;
  state.socket = null;
  if (socket) socket.disconnect();
  if (state.pc) state.pc.close();
  state.pc = null;
  state.media = {};
  for (const owner of [...state.tiles.keys()]) {
    if (owner !== myId) {
      state.tiles.get(owner).el.remove();
      state.tiles.delete(owner);
    }
  }
  $("grid").dataset.count = String(state.tiles.size);
}

function scheduleReconnect() {
  if (state.finished || state.reconnecting) return;
  state.reconnecting = true;
  setStatus("reconnecting");
  teardown();
  const delay = Math.min(500 * 2 ** state.attempts, 5000);
  state.attempts += 1;
  setTimeout(() => {
    state.reconnecting = true;
    join().finally(() => {
      state.reconnecting = false;
      if ($("status").dataset.state === "connected") state.attempts = 0;
    });
  }, delay);
}

function finish(how) {
  if (state.finished) return;
  state.finished = how;
  teardown();
  if (state.local) for (const track of state.local.getTracks()) track.stop();
  if (state.screen) for (const track of state.screen.getTracks()) track.stop();
  setStatus(how);
  $("ended").hidden = how !== "ended";
  $("removed").hidden = how !== "removed";
}

// --- negotiation ----------------------------------------------------------------------------------

function localTrack(source) {
  if (source === "mic") return state.local ? state.local.getAudioTracks()[0] || null : null;
  if (source === "camera") return state.local ? state.local.getVideoTracks()[0] || null : null;
  if (source === "screen") return state.screen ? state.screen.getVideoTracks()[0] || null : null;
  return null;
}

async function onOffer(message) {
  if (!state.pc) state.pc = newPeerConnection();
  const pc = state.pc;
  await pc.setRemoteDescription({ type: "offer", sdp: message.sdp });
  const previous = state.media;
  state.media = message.media;
  for (const transceiver of pc.getTransceivers()) {
    const info = message.media[transceiver.mid];
    if (!info) continue;
    if (info.direction === "publish") {
      const track = localTrack(info.source);
      transceiver.direction = "sendonly";
      await transceiver.sender.replaceTrack(track);
    } else if (info.active) {
      transceiver.direction = "recvonly";
      attach(info.owner, info.source, transceiver.receiver.track);
    } else {
      transceiver.direction = "inactive";
      const before = previous[transceiver.mid];
      if (before && before.active) detach(info.owner, info.source);
    }
  }
  const answer = await pc.createAnswer();
  await pc.setLocalDescription(answer);
  state.socket.emit("answer", { type: "answer", sdp: pc.localDescription.sdp });
}

// --- controls -------------------------------------------------------------------------------------

function onMuted(message) {
  state.mutedByHost = message.muted;
  const mic = localTrack("mic");
  if (mic) mic.enabled = !message.muted;
  $("toggle-mic").textContent = message.muted ? tr("room.muted_by_host") : tr("room.mute");
  $("toggle-mic").dataset.muted = String(message.muted);
}

$("toggle-mic").addEventListener("click", () => {
  const mic = localTrack("mic");
  if (!mic || state.mutedByHost) return;
  mic.enabled = !mic.enabled;
  $("toggle-mic").textContent = mic.enabled ? tr("room.mute") : tr("room.unmute");
  $("toggle-mic").setAttribute("aria-pressed", String(!mic.enabled));
});

$("toggle-camera").addEventListener("click", () => {
  const camera = localTrack("camera");
  if (!camera) return;
  camera.enabled = !camera.enabled;
  $("toggle-camera").textContent = camera.enabled ? tr("room.camera_off") : tr("room.camera_on");
  $("toggle-camera").setAttribute("aria-pressed", String(!camera.enabled));
});

$("toggle-screen").addEventListener("click", async () => {
  if (state.screen) return stopScreen();
  try {
    state.screen = await navigator.mediaDevices.getDisplayMedia({ video: true });
  } catch (err) {
    return;
  }
  const track = state.screen.getVideoTracks()[0];
  track.addEventListener("ended", () => stopScreen());
  const mid = Object.keys(state.media).find((m) => state.media[m].direction === "publish" && state.media[m].source === "screen");
  const transceiver = mid && state.pc ? state.pc.getTransceivers().find((t) => t.mid === mid) : null;
  if (transceiver) await transceiver.sender.replaceTrack(track);
  state.socket.emit("screen", { on: true });
  $("toggle-screen").textContent = tr("room.stop_share");
});

async function stopScreen() {
  if (!state.screen) return;
  for (const track of state.screen.getTracks()) track.stop();
  state.screen = null;
  const mid = Object.keys(state.media).find((m) => state.media[m].direction === "publish" && state.media[m].source === "screen");
  const transceiver = mid && state.pc ? state.pc.getTransceivers().find((t) => t.mid === mid) : null;
  if (transceiver) await transceiver.sender.replaceTrack(null);
  if (state.socket) state.socket.emit("screen", { on: false });
  $("toggle-screen").textContent = tr("room.share");
}

$("leave").addEventListener("click", () => finish("left"));
$("end").addEventListener("click", () => {
  if (state.socket && window.confirm(tr("room.confirm_end"))) state.socket.emit("end", {});
});

$("chat-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("chat-text");
  if (input.value.trim() && state.socket) state.socket.emit("chat", { text: input.value });
  input.value = "";
});

$("directive-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const text = $("directive-text").value.trim();
  const due = $("directive-due").value;
  if (!text || !due || !state.socket) return;
  state.socket.emit("directive", { text, due_on: due }, (ack) => {
    if (ack && ack.ok) {
      $("directive-text").value = "";
    } else {
      window.alert((ack && ack.error) || tr("room.not_recorded"));
    }
  });
});

// --- rendering ------------------------------------------------------------------------------------

function button(label, action, onClick, extra = "") {
  const b = document.createElement("button");
  b.type = "button";
  b.className = `button button-small ${extra}`.trim();
  b.dataset.action = action;
  b.textContent = label;
  b.addEventListener("click", onClick);
  return b;
}

function renderParticipants(people) {
  const list = $("people-list");
  list.replaceChildren();
  for (const p of people) {
    state.names.set(p.user_id, p.display_name);
    const t = state.tiles.get(p.user_id);
    if (t && p.user_id !== myId) {
      t.caption.textContent = p.display_name;
      t.el.dataset.muted = String(Boolean(p.muted));
    }
    const li = document.createElement("li");
    li.className = "room-person";
    li.dataset.userId = String(p.user_id);
    li.dataset.state = p.state;
    li.dataset.media = String(p.media);
    li.dataset.muted = String(p.muted);
    const who = document.createElement("div");
    who.className = "room-person-who";
    const name = document.createElement("strong");
    name.textContent = p.user_id === myId ? `${p.display_name} (${tr("room.me")})` : p.display_name;
    const meta = document.createElement("span");
    meta.className = "muted";
    const notes = [p.court_code, tr(`room.state.${p.state}`)];
    if (p.state === "admitted" && !p.media) notes.push(tr("room.no_media"));
    if (p.muted) notes.push(tr("room.muted"));
    meta.textContent = notes.join(" · ");
    who.append(name, meta);
    li.append(who);
    if (state.role === "host" && p.user_id !== myId && p.state === "admitted") {
      const actions = document.createElement("div");
      actions.className = "room-person-actions";
      actions.append(
        button(p.muted ? tr("room.unmute") : tr("room.mute"), p.muted ? "unmute" : "mute",
          () => state.socket.emit("mute", { user_id: p.user_id, muted: !p.muted })),
        button(tr("room.remove"), "remove", () => state.socket.emit("remove", { user_id: p.user_id }), "button-danger"),
      );
      li.append(actions);
    }
    list.append(li);
  }
}

function renderLobby(waiting) {
  const list = $("lobby-list");
  list.replaceChildren();
  for (const w of waiting) {
    const li = document.createElement("li");
    li.className = "room-person";
    li.dataset.userId = String(w.user_id);
    const who = document.createElement("div");
    who.className = "room-person-who";
    const name = document.createElement("strong");
    name.textContent = w.name;
    const meta = document.createElement("span");
    meta.className = "muted";
    meta.textContent = `${w.court_code} · ${tr(`room.role.${w.role}`)}`;
    who.append(name, meta);
    li.append(who, button(tr("room.admit"), "admit", () => state.socket.emit("lobby:admit", { user_id: w.user_id }), "button-primary"));
    list.append(li);
  }
  $("lobby-empty").hidden = waiting.length > 0;
  $("lobby-count").hidden = waiting.length === 0;
  $("lobby-count").textContent = String(waiting.length);
}

/** Good, fair or poor from loss and round-trip time (the thresholds of common VoIP guidance). */
function qualityLevel(q) {
  if (q.loss_percent >= 5 || (q.rtt_ms ?? 0) >= 400) return "poor";
  if (q.loss_percent >= 1 || (q.rtt_ms ?? 0) >= 150) return "fair";
  return "good";
}

function renderQuality(rows) {
  const body = $("quality-rows");
  body.replaceChildren();
  for (const q of rows) {
    const tr_ = document.createElement("tr");
    tr_.dataset.userId = String(q.user_id);
    const level = qualityLevel(q);
    tr_.dataset.quality = level;
    const who = document.createElement("td");
    const dot = document.createElement("span");
    dot.className = `quality-dot quality-${level}`;
    dot.title = tr(`room.quality.${level}`);
    who.append(dot, ` ${state.names.get(q.user_id) || q.user_id}`);
    tr_.append(who);
    for (const value of [q.bitrate_kbps, q.loss_percent, q.rtt_ms ?? "—", q.frames_per_second]) {
      const td = document.createElement("td");
      td.textContent = String(value);
      tr_.append(td);
    }
    body.append(tr_);
    const t = state.tiles.get(q.user_id);
    if (t) t.el.dataset.quality = level;
  }
}

function showChat(message) {
  const li = document.createElement("li");
  const name = document.createElement("strong");
  name.textContent = message.name;
  const text = document.createElement("span");
  text.textContent = message.text;
  li.append(name, " ", text);
  $("chat-log").append(li);
  $("chat-log").scrollTop = $("chat-log").scrollHeight;
}

function showDirective(d) {
  const li = document.createElement("li");
  li.dataset.directiveId = String(d.id);
  const text = document.createElement("div");
  text.textContent = d.text;
  const meta = document.createElement("div");
  meta.className = "muted";
  meta.textContent = `${tr("room.due", { date: d.due_on })} · ${d.assignee_court}`;
  li.append(text, meta);
  $("directive-list").append(li);
  $("directives-empty").hidden = true;
}

/** This page's own connection quality from the browser's statistics, shown next to the status. */
async function measureOwnQuality() {
  const badge = $("my-quality");
  if (!state.pc || $("status").dataset.state !== "connected") {
    badge.hidden = true;
    return;
  }
  const report = await state.pc.getStats();
  let rtt = null;
  let lost = 0;
  let received = 0;
  report.forEach((s) => {
    if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) rtt = s.currentRoundTripTime * 1000;
    if (s.type === "inbound-rtp") {
      lost += Math.max(0, s.packetsLost || 0);
      received += s.packetsReceived || 0;
    }
  });
  const loss = received + lost ? (100 * lost) / (received + lost) : 0;
  const level = qualityLevel({ loss_percent: loss, rtt_ms: rtt });
  badge.hidden = false;
  badge.dataset.quality = level;
  badge.className = `badge room-quality-badge ${level === "good" ? "badge-success" : level === "fair" ? "badge-info" : "badge-danger"}`;
  badge.textContent = tr("room.my_quality", { level: tr(`room.quality.${level}`) });
  badge.title = tr("room.my_quality_detail", { rtt: rtt === null ? "—" : Math.round(rtt), loss: `${loss.toFixed(1)} %` });
}

setInterval(() => measureOwnQuality().catch(() => {}), 3000);

// --- what the browser tests read ------------------------------------------------------------------

window.ccVideo = {
  state,
  // Per remote owner and source: frames decoded, frame size, audio samples received (from getStats).
  async inbound() {
    if (!state.pc) return [];
    const report = await state.pc.getStats();
    const result = [];
    report.forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      const info = state.media[s.mid];
      if (!info || info.direction !== "subscribe" || !info.active) return;
      result.push({
        owner: info.owner,
        source: info.source,
        kind: s.kind,
        framesDecoded: s.framesDecoded || 0,
        frameWidth: s.frameWidth || 0,
        packetsReceived: s.packetsReceived || 0,
        totalSamplesReceived: s.totalSamplesReceived || 0,
      });
    });
    return result;
  },
  videoWidths() {
    const widths = {};
    for (const [owner, t] of state.tiles) if (owner !== myId) widths[owner] = t.camera.videoWidth;
    return widths;
  },
};

start();
