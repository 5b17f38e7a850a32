"""The forwarding fan-out: one publisher's encoded frames to its subscriptions, on the event loop.

A `ForwardedSource` per published track receives complete encoded frames (from the receiver tap in
`realtime.video.forwarding`) and hands them to its `ForwardedTrack`s: encoded where the subscriber's
sender negotiated the same codec, decoded (one decoder per source, created only then) where not. Video
starts at a keyframe: the frames since the last one are kept and replayed to a subscriber that starts,
otherwise a keyframe is asked of the publisher (at most one on its way, rate-limited). A subscriber whose
link loses heavily is stepped down by a `LossPolicy` to keyframes only or paused video; its audio goes on.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import av
from aiortc.codecs import get_decoder
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

if TYPE_CHECKING:
    from aiortc.rtcrtpparameters import RTCRtpCodecParameters

    from realtime.video.forwarding import PassthroughPacker
    from realtime.video.media import PublishedTrack

log = logging.getLogger(__name__)

RECORDABLE_CODECS = frozenset({"vp8", "opus"})  # what the recorder muxes into Matroska without decoding
OPUS_SILENCE = b"\xf8\xff\xfe"  # one 20 ms Opus frame that decodes to digital silence
# Keyframe requests to one publisher, however many subscribers ask: none while a requested keyframe is on
# its way (up to KEYFRAME_WAIT), and never two within KEYFRAME_REQUEST_INTERVAL.
KEYFRAME_REQUEST_INTERVAL = 0.1
KEYFRAME_WAIT = 1.0
KEYFRAMES_ONLY_INTERVAL = 2.0  # how often a keyframe is asked for while a subscriber gets keyframes only
QUEUE_FRAMES = {"video": 30, "audio": 50}  # a subscriber this far behind is reset to the next keyframe
MAX_PENDING_DECODES = 30
# The frames since the last keyframe, replayed to a subscriber that starts, so it decodes at once instead
# of waiting for a keyframe requested from the publisher; past these bounds a keyframe is requested.
GOP_CACHE_FRAMES = 45
GOP_CACHE_BYTES = 512 * 1024


@dataclass(slots=True)
class EncodedFrame:
    """One complete encoded frame as the publisher sent it; `timestamp` counts `clock_rate` ticks."""

    codec: str
    data: bytes
    timestamp: int
    clock_rate: int
    keyframe: bool
    size: tuple[int, int] | None = None


def describe_frame(codec: str, data: bytes) -> tuple[bool, tuple[int, int] | None]:
    """Whether a depayloaded frame is a keyframe, and its picture size when the header says."""
    if codec == "vp8":
        # RFC 6386 §9.1: bit 0 of the first byte is 0 on a key frame, whose header carries the size.
        if len(data) >= 10 and not data[0] & 0x01 and data[3:6] == b"\x9d\x01\x2a":
            width = int.from_bytes(data[6:8], "little") & 0x3FFF
            height = int.from_bytes(data[8:10], "little") & 0x3FFF
            return True, (width, height)
        return False, None
    if codec == "h264":
        # aiortc's depayloader yields Annex B: an IDR slice (NAL type 5) starts a decodable picture.
        for chunk in data.split(b"\x00\x00\x01")[1:]:
            if chunk and chunk[0] & 0x1F == 5:
                return True, None
        return False, None
    return True, None


class VideoQuality(StrEnum):
    full = "full"
    keyframes = "keyframes"  # every keyframe, nothing in between
    paused = "paused"  # no video at all; audio goes on


@dataclass
class LossPolicy:
    """Steps a subscriber's video down on heavy loss and back up once it has been clean for a while.

    Fed the fraction of packets lost that the subscriber's receiver reports (RTCP RR), per report.
    """

    degrade_at: float = 0.10
    pause_at: float = 0.30
    recover_below: float = 0.02
    recover_after: int = 3  # clean reports in a row before one step up
    quality: VideoQuality = VideoQuality.full
    clean: int = 0

    def update(self, fraction_lost: float) -> VideoQuality:
        if fraction_lost >= self.pause_at:
            self.quality, self.clean = VideoQuality.paused, 0
        elif fraction_lost >= self.degrade_at:
            if self.quality is VideoQuality.full:
                self.quality = VideoQuality.keyframes
            self.clean = 0
        elif fraction_lost < self.recover_below and self.quality is not VideoQuality.full:
            self.clean += 1
            if self.clean >= self.recover_after:
                self.clean = 0
                self.quality = (
                    VideoQuality.keyframes if self.quality is VideoQuality.paused else VideoQuality.full
                )
        else:
            self.clean = 0
        return self.quality


class ForwardedTrack(MediaStreamTrack):
    """One subscription to a `ForwardedSource`: yields `EncodedFrame`s in `accepts`, decoded frames otherwise.

    `accepts` is empty until the subscriber's sender has negotiated its codec; nothing is queued before.
    """

    def __init__(self, source: ForwardedSource, *, accepts: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.kind = source.kind
        self.source = source
        self.accepts = accepts
        self.ready = bool(accepts)
        self.quality = VideoQuality.full
        self.waiting_for_keyframe = self.kind == "video"
        self.forwarded = 0  # encoded frames handed over
        self.decoded = 0  # decoded frames handed over (the fallback path)
        self.packer: PassthroughPacker | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    async def recv(self) -> Any:
        if self.readyState != "live":
            raise MediaStreamError
        item = await self._queue.get()
        if item is None:
            raise MediaStreamError
        return item

    def set_quality(self, quality: VideoQuality) -> None:
        if quality is not self.quality:
            log.info("subscriber video of %s: %s -> %s", self.source.label, self.quality, quality)
            if self.quality is VideoQuality.paused:
                self.waiting_for_keyframe = True
                self.source.request_keyframe()
            self.quality = quality

    def push_encoded(self, frame: EncodedFrame) -> None:
        if self.kind == "video":
            if self.quality is VideoQuality.paused:
                return
            if self.waiting_for_keyframe and not frame.keyframe:
                self.source.request_keyframe()
                return
            if self.quality is VideoQuality.keyframes and not frame.keyframe:
                return
            self.waiting_for_keyframe = False
        if self._overflowing():
            return
        self.forwarded += 1
        self._queue.put_nowait(frame)

    def push_decoded(self, frame: Any) -> None:
        if self.kind == "video" and self.quality is VideoQuality.paused:
            return
        if not self._overflowing():
            self.decoded += 1
            self._queue.put_nowait(frame)

    def _overflowing(self) -> bool:
        # A reader this far behind (a stalled connection) starts again from a fresh keyframe; the others
        # never wait for it.
        if self._queue.qsize() < QUEUE_FRAMES[self.kind]:
            return False
        while not self._queue.empty():
            self._queue.get_nowait()
        if self.kind == "video":
            self.waiting_for_keyframe = True
            self.source.request_keyframe()
        return True

    def stop(self) -> None:
        if self.readyState == "live":
            self.source.tracks.discard(self)
            self._queue.put_nowait(None)
        super().stop()


class ForwardedSource:
    """One published track's encoded frames, fanned out to its `ForwardedTrack`s on the event loop."""

    def __init__(self, kind: str, *, receiver: Any, send_pli: Callable[[], bool]) -> None:
        self.receiver = receiver  # the publisher's RTCRtpReceiver, to find the source of a published track
        self.send_pli = send_pli  # asks the publisher for a keyframe; False if it has sent nothing yet
        self.kind = kind
        self.published: PublishedTrack | None = None
        self.tracks: set[ForwardedTrack] = set()
        self.codec: str | None = None
        self.frames = 0
        self.keyframes = 0
        self.keyframe_requests = 0  # PLIs actually sent to the publisher
        self.decoder: Any = None  # created only when a subscriber needs decoded frames
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._pending_decodes = 0
        self._gop: list[EncodedFrame] = []
        self._gop_bytes = 0
        self._last_request = -KEYFRAME_WAIT
        self._awaiting_keyframe = False
        self._request_scheduled: asyncio.TimerHandle | None = None
        self.ended = False

    @property
    def label(self) -> str:
        p = self.published
        return f"user {p.owner} {p.source}" if p is not None else f"unbound {self.kind}"

    def deliver(self, codec: RTCRtpCodecParameters, jitter_frame: JitterFrame) -> None:
        """A complete frame from the publisher's jitter buffer (called on the event loop)."""
        published = self.published
        if published is None or self.ended:
            return  # not yet announced to the room: nobody could be subscribed
        name = codec.mimeType.split("/")[1].lower()
        data = jitter_frame.data
        if self.kind == "audio" and published.muted and name == "opus":
            data = OPUS_SILENCE
        keyframe, size = describe_frame(name, data)
        self.codec = published.codec = name
        self.frames += 1
        published.frames += 1
        if self.kind == "video" and keyframe:
            self.keyframes += 1
            self._awaiting_keyframe = False
            if size is not None:
                published.size = size
        frame = EncodedFrame(name, data, jitter_frame.timestamp, codec.clockRate, keyframe, size)
        if self.kind == "video":
            self._keep(frame)
        needs_decoding = False
        for track in list(self.tracks):
            if not track.ready:
                continue
            if name in track.accepts:
                track.push_encoded(frame)
            else:
                needs_decoding = True
        if needs_decoding:
            self._decode(
                codec, jitter_frame if data is jitter_frame.data else JitterFrame(data, frame.timestamp)
            )

    def _keep(self, frame: EncodedFrame) -> None:
        if frame.keyframe:
            self._gop, self._gop_bytes = [], 0
        elif not self._gop:
            return
        if len(self._gop) >= GOP_CACHE_FRAMES or self._gop_bytes + len(frame.data) > GOP_CACHE_BYTES:
            self._gop, self._gop_bytes = [], 0
            return
        self._gop.append(frame)
        self._gop_bytes += len(frame.data)

    def start(self, track: ForwardedTrack) -> None:
        """A subscription can take frames now: replays the frames since the last keyframe, or asks for one."""
        if self._gop and self._gop[0].codec in track.accepts and track.waiting_for_keyframe:
            for frame in self._gop:
                track.push_encoded(frame)
        elif track.kind == "video":
            self.request_keyframe()

    def _decode(self, codec: RTCRtpCodecParameters, jitter_frame: JitterFrame) -> None:
        if self._pending_decodes >= MAX_PENDING_DECODES:
            self.request_keyframe()
            return
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="forward-decoder")
        self._pending_decodes += 1
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, self._decode_on_thread, codec, jitter_frame)
        future.add_done_callback(self._decoded)

    def _decode_on_thread(self, codec: RTCRtpCodecParameters, jitter_frame: JitterFrame) -> list[Any]:
        if self.decoder is None or self.decoder[0] != codec.name:
            self.decoder = (codec.name, get_decoder(codec))
        try:
            return self.decoder[1].decode(jitter_frame)
        except av.FFmpegError as exc:
            log.debug("fallback decode of %s failed: %s", self.label, exc)
            return []

    def _decoded(self, future: asyncio.Future[list[Any]]) -> None:
        self._pending_decodes -= 1
        if future.cancelled() or future.exception() is not None:
            return
        for frame in future.result():
            for track in list(self.tracks):
                if track.ready and self.codec not in track.accepts:
                    track.push_decoded(frame)

    def request_keyframe(self) -> None:
        """Asks the publisher for a keyframe, unless one is already on its way; rate-limited."""
        if self.kind != "video" or self.ended or self._request_scheduled is not None:
            return
        since = time.monotonic() - self._last_request
        if self._awaiting_keyframe and since < KEYFRAME_WAIT:
            return  # the keyframe asked for serves every subscriber ready by then
        if since >= KEYFRAME_REQUEST_INTERVAL:
            self._send_pli()
        else:
            loop = asyncio.get_running_loop()
            self._request_scheduled = loop.call_later(KEYFRAME_REQUEST_INTERVAL - since, self._send_pli)

    def _send_pli(self) -> None:
        self._request_scheduled = None
        if self.ended or not self.send_pli():
            return
        self._last_request = time.monotonic()
        self._awaiting_keyframe = True
        self.keyframe_requests += 1

    def end(self) -> None:
        """The publisher's stream ended: every subscription ends too."""
        self.ended = True
        self._gop = []
        if self._request_scheduled is not None:
            self._request_scheduled.cancel()
        for track in list(self.tracks):
            track.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
