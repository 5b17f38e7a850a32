"""The media server: one aiortc peer connection per participant, tracks relayed between them, recording.

Ownership (who closes what):
- `VideoHub` owns the rooms; the app's shutdown closes the hub, which closes every room.
- `Room` owns its peers, its `SegmentRecorder` and its `TrackSubscriptions`.
- `Peer` owns its RTCPeerConnection; the tracks a participant publishes are `PublishedTrack`s owned by
  that peer. With forwarding (`ForwardingSubscriptions`, the default) the encoded frames are taken from
  the receiver before any decoding; with `RelaySubscriptions` each is drained by a blackhole, so an
  unread remote track never buffers without bound.
- A subscription's track is owned by the subscriber's peer and released when either side leaves.

The server always makes the offers (also on renegotiation), so the two sides never both offer at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InvalidStateError
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtptransceiver import RTCRtpTransceiver
from aiortc.sdp import candidate_from_sdp
from av import AudioFrame

from realtime.video.recording import ClosedSegment, SegmentRecorder
from realtime.video.subscriptions import ForwardingSubscriptions, RelaySubscriptions, TrackSubscriptions

log = logging.getLogger(__name__)

SOURCES = ("camera", "mic", "screen")
Emit = Callable[[str, Any], Awaitable[None]]  # sends one event to one participant's socket


def server_configuration() -> RTCConfiguration:
    """The server's own ICE configuration: no STUN/TURN at all (aiortc's default is a public STUN server)."""
    from aiortc.rtcconfiguration import RTCBundlePolicy

    return RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class PublishedTrack(MediaStreamTrack):
    """A track a participant publishes, as the server reads it: counts frames and applies the host's mute.

    A muted microphone yields silence of the same shape, so subscribers and the recording keep their timing.
    When frames are forwarded encoded, `recv` is never called: the forwarding source counts `frames`,
    notes `codec` and the last keyframe's `size`, and replaces a muted microphone's frames by Opus silence.
    """

    def __init__(self, remote: MediaStreamTrack, *, owner: int, source: str) -> None:
        super().__init__()
        self.kind = remote.kind
        self.remote = remote
        self.owner = owner
        self.source = source
        self.muted = False
        self.frames = 0
        self.codec: str | None = None
        self.size: tuple[int, int] | None = None

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.remote.recv()
        self.frames += 1
        if self.muted and isinstance(frame, AudioFrame):
            silent = AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=frame.samples)
            for plane in silent.planes:
                plane.update(bytes(plane.buffer_size))
            silent.sample_rate, silent.pts, silent.time_base = frame.sample_rate, frame.pts, frame.time_base
            return silent
        return frame


@dataclass
class Subscription:
    owner: int
    source: str
    track: MediaStreamTrack
    transceiver: RTCRtpTransceiver
    active: bool = True


@dataclass
class Peer:
    """One participant's connection to the media server."""

    user_id: int
    name: str
    court: str
    role: str
    publishes: bool
    emit: Emit
    pc: RTCPeerConnection = field(default_factory=lambda: RTCPeerConnection(server_configuration()))
    publish_mids: dict[str, str] = field(default_factory=dict)  # transceiver mid -> source
    publish_transceivers: dict[str, RTCRtpTransceiver] = field(default_factory=dict)  # source -> transceiver
    published: dict[str, PublishedTrack] = field(default_factory=dict)
    # A stopped screen share: still drained (its remote track lives on), subscribed again on the next share.
    idle: dict[str, PublishedTrack] = field(default_factory=dict)
    subscriptions: list[Subscription] = field(default_factory=list)
    negotiating: bool = False
    needs_offer: bool = False
    closed: bool = False
    connected_at: float = field(default_factory=time.monotonic)
    stats_mark: tuple[float, int, int] | None = (
        None  # (time, bytes received, camera frames) at the last sample
    )

    def media_map(self) -> dict[str, dict[str, Any]]:
        """What each m-line carries, for the browser: publish slots and the others' tracks."""
        result: dict[str, dict[str, Any]] = {}
        for source, transceiver in self.publish_transceivers.items():
            if transceiver.mid is not None:
                result[transceiver.mid] = {"direction": "publish", "source": source}
        for sub in self.subscriptions:
            if sub.transceiver.mid is not None:
                result[sub.transceiver.mid] = {
                    "direction": "subscribe",
                    "owner": sub.owner,
                    "source": sub.source,
                    "active": sub.active,
                }
        return result


class Room:
    """The media of one live session."""

    def __init__(
        self,
        session_id: int,
        *,
        subscriptions: TrackSubscriptions,
        recording_dir: Path | None,
        segment_seconds: float,
        on_segment: Callable[[ClosedSegment], Awaitable[None]] | None,
        on_peer_lost: Callable[[int, int], Awaitable[None]] | None = None,
    ) -> None:
        self.session_id = session_id
        self.subscriptions = subscriptions
        self.peers: dict[int, Peer] = {}
        self.on_peer_lost = on_peer_lost
        self.lock = asyncio.Lock()  # membership and negotiation changes happen one at a time
        self.recorder: SegmentRecorder | None = None
        if recording_dir is not None and on_segment is not None:
            self.recorder = SegmentRecorder(
                session_id=session_id,
                directory=recording_dir / f"session-{session_id}",
                segment_seconds=segment_seconds,
                subscribe=subscriptions.record,
                passthrough=subscriptions.encoded,
                release=subscriptions.release,
                on_closed=on_segment,
            )
            self.recorder.start()

    # --- membership -----------------------------------------------------------------------------

    async def connect(self, peer: Peer) -> None:
        """Adds a participant with a new peer connection (closing any older one of theirs) and offers."""
        async with self.lock:
            old = self.peers.pop(peer.user_id, None)
            if old is not None:
                await self._close_peer(old)
            self.peers[peer.user_id] = peer
            self._watch(peer)
            if peer.publishes:
                for source, kind in (("mic", "audio"), ("camera", "video")):
                    transceiver = peer.pc.addTransceiver(kind, direction="recvonly")
                    self.subscriptions.attach_receiver(transceiver)
                    peer.publish_transceivers[source] = transceiver
            for other in self.peers.values():
                if other is not peer:
                    for published in other.published.values():
                        self._subscribe(peer, published)
            await self._offer(peer)

    async def disconnect(self, user_id: int, *, peer: Peer | None = None) -> bool:
        """Closes a participant's connection; with `peer`, only if it is still the current one."""
        async with self.lock:
            current = self.peers.get(user_id)
            if current is None or (peer is not None and current is not peer):
                return False
            del self.peers[user_id]
            await self._close_peer(current)
            self._update_recording()
            return True

    def _watch(self, peer: Peer) -> None:
        @peer.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            asyncio.ensure_future(self._on_remote_track(peer, track))

        @peer.pc.on("connectionstatechange")
        async def on_state() -> None:
            if peer.pc.connectionState in ("failed", "closed") and not peer.closed:
                log.info(
                    "peer of user %s in session %s: %s",
                    peer.user_id,
                    self.session_id,
                    peer.pc.connectionState,
                )
                if await self.disconnect(peer.user_id, peer=peer) and self.on_peer_lost is not None:
                    await self.on_peer_lost(self.session_id, peer.user_id)

    async def _on_remote_track(self, peer: Peer, track: MediaStreamTrack) -> None:
        async with self.lock:
            if peer.closed:
                return
            source = next(
                (s for s, t in peer.publish_transceivers.items() if t.receiver.track is track),
                "mic" if track.kind == "audio" else "camera",
            )
            published = PublishedTrack(track, owner=peer.user_id, source=source)
            self.subscriptions.drain(published)
            self._publish(peer, published)

    def _publish(self, peer: Peer, published: PublishedTrack) -> None:
        if published.source in peer.published:
            self._unpublish(peer, published.source)
        peer.published[published.source] = published
        for other in self.peers.values():
            if other is not peer:
                self._subscribe(other, published)
                self._renegotiate(other)
        self._update_recording()

    def _unpublish(self, peer: Peer, source: str, *, keep_draining: bool = False) -> None:
        published = peer.published.pop(source, None)
        if published is None:
            return
        if keep_draining:
            peer.idle[source] = published
        else:
            published.stop()
        for other in self.peers.values():
            for sub in other.subscriptions:
                if sub.active and sub.owner == peer.user_id and sub.source == source:
                    self._end_subscription(sub)
                    self._renegotiate(other)
        self._update_recording()

    def _subscribe(self, subscriber: Peer, published: PublishedTrack) -> None:
        track = self.subscriptions.subscribe(published)
        transceiver = subscriber.pc.addTransceiver(track, direction="sendonly")
        self.subscriptions.attach_sender(track, transceiver)
        subscriber.subscriptions.append(Subscription(published.owner, published.source, track, transceiver))

    def _end_subscription(self, sub: Subscription) -> None:
        sub.active = False
        sub.transceiver.direction = "inactive"
        self.subscriptions.release(sub.track)

    def _update_recording(self) -> None:
        if self.recorder is not None:
            tracks = [
                t for p in self.peers.values() for s in SOURCES if (t := p.published.get(s)) is not None
            ]
            self.recorder.set_tracks(tracks)

    async def _close_peer(self, peer: Peer) -> None:
        peer.closed = True
        for source in list(peer.published):
            self._unpublish(peer, source)
        for published in peer.idle.values():
            published.stop()
        for sub in peer.subscriptions:
            if sub.active:
                sub.active = False
                self.subscriptions.release(sub.track)
        await peer.pc.close()

    # --- negotiation ----------------------------------------------------------------------------

    def _renegotiate(self, peer: Peer) -> None:
        peer.needs_offer = True
        if not peer.negotiating and not peer.closed:
            asyncio.ensure_future(self._offer_locked(peer))

    async def _offer_locked(self, peer: Peer) -> None:
        async with self.lock:
            if peer.needs_offer and not peer.negotiating and not peer.closed:
                try:
                    await self._offer(peer)
                except InvalidStateError:
                    # The connection closed itself meanwhile; its state-change handler cleans up.
                    log.debug("no renegotiation for user %s: connection closed", peer.user_id)

    async def _offer(self, peer: Peer) -> None:
        peer.needs_offer = False
        peer.negotiating = True
        offer = await peer.pc.createOffer()
        await peer.pc.setLocalDescription(offer)
        for source, transceiver in peer.publish_transceivers.items():
            if transceiver.mid is not None:
                peer.publish_mids[transceiver.mid] = source
        description = peer.pc.localDescription
        await peer.emit(
            "offer", {"type": description.type, "sdp": description.sdp, "media": peer.media_map()}
        )

    async def answer(self, user_id: int, sdp: str) -> None:
        """Applies a participant's answer; sends the next offer if the track set changed meanwhile."""
        async with self.lock:
            peer = self.peers.get(user_id)
            if peer is None or not peer.negotiating or peer.closed:
                return
            await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            peer.negotiating = False
            if peer.needs_offer:
                await self._offer(peer)

    async def add_candidate(self, user_id: int, candidate: dict[str, Any] | None) -> None:
        """A trickled ICE candidate from the browser (None or an empty one: end of candidates)."""
        # Under the room's lock: a candidate sent right after an answer waits until the answer is applied.
        async with self.lock:
            peer = self.peers.get(user_id)
            if peer is None or peer.closed or peer.pc.remoteDescription is None:
                return
            if not candidate or not candidate.get("candidate"):
                await peer.pc.addIceCandidate(None)
                return
            text = candidate["candidate"]
            parsed = candidate_from_sdp(text.split(":", 1)[1] if text.startswith("candidate:") else text)
            parsed.sdpMid = candidate.get("sdpMid")
            parsed.sdpMLineIndex = candidate.get("sdpMLineIndex")
            await peer.pc.addIceCandidate(parsed)

    async def share_screen(self, user_id: int, on: bool) -> None:
        """Starts or stops a participant's screen share; the others get (or lose) the screen track."""
        async with self.lock:
            peer = self.peers.get(user_id)
            if peer is None or not peer.publishes:
                return
            transceiver = peer.publish_transceivers.get("screen")
            if on:
                if transceiver is None:
                    transceiver = peer.pc.addTransceiver("video", direction="recvonly")
                    self.subscriptions.attach_receiver(transceiver)
                    peer.publish_transceivers["screen"] = transceiver
                    self._renegotiate(peer)
                elif "screen" in peer.idle:
                    self._publish(peer, peer.idle.pop("screen"))
            else:
                self._unpublish(peer, "screen", keep_draining=True)

    # --- moderation and quality -----------------------------------------------------------------

    def set_muted(self, user_id: int, muted: bool) -> bool:
        """Stops (or resumes) forwarding a participant's microphone to everyone and to the recording."""
        peer = self.peers.get(user_id)
        mic = peer.published.get("mic") if peer else None
        if mic is None:
            return False
        mic.muted = muted
        return True

    def is_muted(self, user_id: int) -> bool:
        peer = self.peers.get(user_id)
        mic = peer.published.get("mic") if peer else None
        return bool(mic and mic.muted)

    async def quality(self) -> list[dict[str, Any]]:
        """Per participant: bitrate the server receives, packet loss, round-trip time, frame rate."""
        result = []
        now = time.monotonic()
        for peer in list(self.peers.values()):
            if peer.closed:
                continue
            try:
                report = await peer.pc.getStats()
            except Exception as exc:  # noqa: BLE001 - a connection closing under our feet
                log.debug("no stats for user %s: %s", peer.user_id, exc)
                continue
            received = lost = packets = 0
            rtts = []
            for stats in report.values():
                if stats.type == "transport":
                    received += stats.bytesReceived
                elif stats.type == "inbound-rtp":
                    lost += max(stats.packetsLost, 0)
                    packets += stats.packetsReceived
                elif stats.type == "remote-inbound-rtp" and stats.roundTripTime is not None:
                    rtts.append(stats.roundTripTime)
            camera = peer.published.get("camera")
            frames = camera.frames if camera else 0
            mark = peer.stats_mark or (peer.connected_at, 0, 0)
            peer.stats_mark = (now, received, frames)
            elapsed = now - mark[0]
            bitrate = (received - mark[1]) * 8 / 1000 / elapsed if elapsed > 0 else 0.0
            fps = (frames - mark[2]) / elapsed if elapsed > 0 else 0.0
            result.append(
                {
                    "user_id": peer.user_id,
                    "bitrate_kbps": round(bitrate, 1),
                    "packets_lost": lost,
                    "loss_percent": round(100 * lost / (lost + packets), 2) if lost + packets else 0.0,
                    "rtt_ms": round(1000 * sum(rtts) / len(rtts), 1) if rtts else None,
                    "frames_per_second": round(fps, 1),
                }
            )
        return result

    async def close(self) -> None:
        """Closes every peer connection, then the recording (its last segment is recorded)."""
        async with self.lock:
            peers, self.peers = list(self.peers.values()), {}
            for peer in peers:
                peer.closed = True
                for source in list(peer.published):
                    self._unpublish(peer, source)
            await asyncio.gather(*(peer.pc.close() for peer in peers), return_exceptions=True)
        if self.recorder is not None:
            await self.recorder.close()
        await self.subscriptions.close()


class VideoHub:
    """The rooms of this media node; closed in the app's shutdown."""

    def __init__(
        self,
        *,
        recording_dir: Path | None,
        segment_seconds: float,
        on_segment: Callable[[ClosedSegment], Awaitable[None]] | None = None,
        on_peer_lost: Callable[[int, int], Awaitable[None]] | None = None,
        subscriptions_factory: Callable[[], TrackSubscriptions] = ForwardingSubscriptions,
    ) -> None:
        self.recording_dir = recording_dir
        self.segment_seconds = segment_seconds
        self.on_segment = on_segment
        self.on_peer_lost = on_peer_lost
        self.subscriptions_factory = subscriptions_factory
        self.rooms: dict[int, Room] = {}
        self.quality: dict[int, list[dict[str, Any]]] = {}

    def room(self, session_id: int) -> Room:
        """The session's room, created on first use."""
        room = self.rooms.get(session_id)
        if room is None:
            room = Room(
                session_id,
                subscriptions=self.subscriptions_factory(),
                recording_dir=self.recording_dir,
                segment_seconds=self.segment_seconds,
                on_segment=self.on_segment,
                on_peer_lost=self.on_peer_lost,
            )
            self.rooms[session_id] = room
        return room

    async def close_room(self, session_id: int) -> None:
        room = self.rooms.pop(session_id, None)
        self.quality.pop(session_id, None)
        if room is not None:
            await room.close()

    async def close(self) -> None:
        """Closes every room (and so every peer connection and recorder)."""
        for session_id in list(self.rooms):
            with contextlib.suppress(Exception):
                await self.close_room(session_id)


__all__ = [
    "ForwardingSubscriptions",
    "MediaStreamError",
    "Peer",
    "PublishedTrack",
    "RelaySubscriptions",
    "Room",
    "TrackSubscriptions",
    "VideoHub",
    "server_configuration",
]
