// The video room: joins through the API, signals over socket.io /video, one RTCPeerConnection to the
// media server. The server makes every offer; this page answers and trickles its ICE candidates.
/* global io */

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
  const labels = {
    connecting: "连接中 · Connecting",
    waiting: "等候中 · Waiting",
    connected: "已连接 · Connected",
    reconnecting: "重新连接中 · Reconnecting",
    ended: "已结束 · Ended",
    removed: "已移出 · Removed",
    left: "已离开 · Left",
  };
  const el = $("status");
  el.dataset.state = key;
  el.textContent = labels[key] || key;
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
  caption.textContent = owner === myId ? "我 · Me" : state.names.get(owner) || `#${owner}`;
  el.append(camera, screen, audio, caption);
  $("grid").append(el);
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
  $("role").textContent = { host: "主持人 · Host", participant: "参与者 · Participant", observer: "观察员 · Observer" }[grant.role];
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
  $("toggle-mic").textContent = message.muted ? "主持人已静音 · Muted by host" : "静音 · Mute";
  $("toggle-mic").dataset.muted = String(message.muted);
}

$("toggle-mic").addEventListener("click", () => {
  const mic = localTrack("mic");
  if (!mic || state.mutedByHost) return;
  mic.enabled = !mic.enabled;
  $("toggle-mic").textContent = mic.enabled ? "静音 · Mute" : "取消静音 · Unmute";
});

$("toggle-camera").addEventListener("click", () => {
  const camera = localTrack("camera");
  if (!camera) return;
  camera.enabled = !camera.enabled;
  $("toggle-camera").textContent = camera.enabled ? "关闭摄像头 · Camera off" : "打开摄像头 · Camera on";
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
  $("toggle-screen").textContent = "停止共享 · Stop sharing";
});

async function stopScreen() {
  if (!state.screen) return;
  for (const track of state.screen.getTracks()) track.stop();
  state.screen = null;
  const mid = Object.keys(state.media).find((m) => state.media[m].direction === "publish" && state.media[m].source === "screen");
  const transceiver = mid && state.pc ? state.pc.getTransceivers().find((t) => t.mid === mid) : null;
  if (transceiver) await transceiver.sender.replaceTrack(null);
  if (state.socket) state.socket.emit("screen", { on: false });
  $("toggle-screen").textContent = "共享屏幕 · Share screen";
}

$("leave").addEventListener("click", () => finish("left"));
$("end").addEventListener("click", () => {
  if (state.socket && window.confirm("结束会商？End the session for everyone?")) state.socket.emit("end", {});
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
      window.alert((ack && ack.error) || "未能记录 · Could not record");
    }
  });
});

// --- rendering ------------------------------------------------------------------------------------

const STATE_LABELS = {
  invited: "已邀请 · Invited",
  waiting: "等候中 · Waiting",
  admitted: "在线 · In the room",
  removed: "已移出 · Removed",
  left: "已离开 · Left",
};

function renderParticipants(people) {
  const list = $("people-list");
  list.replaceChildren();
  for (const p of people) {
    state.names.set(p.user_id, p.display_name);
    const t = state.tiles.get(p.user_id);
    if (t && p.user_id !== myId) t.caption.textContent = p.display_name + (p.muted ? " 🔇" : "");
    const li = document.createElement("li");
    li.dataset.userId = String(p.user_id);
    li.dataset.state = p.state;
    li.dataset.media = String(p.media);
    li.dataset.muted = String(p.muted);
    let label = STATE_LABELS[p.state] || p.state;
    if (p.state === "admitted" && !p.media) label = "重新连接中 · Reconnecting";
    li.textContent = `${p.display_name} (${p.court_code}) — ${label}${p.muted ? " · 已静音 Muted" : ""}`;
    if (state.role === "host" && p.user_id !== myId && p.state === "admitted") {
      const mute = document.createElement("button");
      mute.type = "button";
      mute.dataset.action = p.muted ? "unmute" : "mute";
      mute.textContent = p.muted ? "取消静音 · Unmute" : "静音 · Mute";
      mute.addEventListener("click", () => state.socket.emit("mute", { user_id: p.user_id, muted: !p.muted }));
      const remove = document.createElement("button");
      remove.type = "button";
      remove.dataset.action = "remove";
      remove.textContent = "移出 · Remove";
      remove.addEventListener("click", () => state.socket.emit("remove", { user_id: p.user_id }));
      li.append(" ", mute, " ", remove);
    }
    list.append(li);
  }
}

function renderLobby(waiting) {
  const list = $("lobby-list");
  list.replaceChildren();
  for (const w of waiting) {
    const li = document.createElement("li");
    li.dataset.userId = String(w.user_id);
    li.textContent = `${w.name} · ${w.court_code} · ${w.role} `;
    const admit = document.createElement("button");
    admit.type = "button";
    admit.dataset.action = "admit";
    admit.textContent = "允许进入 · Admit";
    admit.addEventListener("click", () => state.socket.emit("lobby:admit", { user_id: w.user_id }));
    li.append(admit);
    list.append(li);
  }
}

function renderQuality(rows) {
  const body = $("quality-rows");
  body.replaceChildren();
  for (const q of rows) {
    const tr = document.createElement("tr");
    tr.dataset.userId = String(q.user_id);
    for (const value of [state.names.get(q.user_id) || q.user_id, q.bitrate_kbps, q.loss_percent, q.rtt_ms ?? "—", q.frames_per_second]) {
      const td = document.createElement("td");
      td.textContent = String(value);
      tr.append(td);
    }
    body.append(tr);
  }
}

function showChat(message) {
  const li = document.createElement("li");
  li.textContent = `${message.name}: ${message.text}`;
  $("chat-log").append(li);
}

function showDirective(d) {
  const li = document.createElement("li");
  li.dataset.directiveId = String(d.id);
  li.textContent = `${d.text} — 期限 due ${d.due_on} — ${d.assignee_court}`;
  $("directive-list").append(li);
}

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
