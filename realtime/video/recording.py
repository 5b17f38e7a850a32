"""Server-side recording in Matroska segments (VP8 + Opus) that stay playable if the process dies.

With forwarding, VP8 video and Opus audio arrive encoded (`fanout.EncodedFrame`) and are muxed as
they are: no decoding, no encoding. A track in another codec (H.264) arrives decoded and is encoded to
VP8 as on the MediaRelay path. A forwarded video stream starts at a keyframe: the segment gets the
frames since the publisher's last keyframe, or a keyframe is asked for.

A segment is one file holding every track published while it was open. The recorder rotates to a new
segment every `segment_seconds` and whenever the set of published tracks changes (a Matroska header
names its streams up front). The muxer flushes each packet and closes a cluster at least every second
(`flush_packets`, `cluster_time_limit`), so a killed process leaves a file that plays up to its last
second; a segment closed normally also gets its duration and cues. Encoding and muxing run on one
worker thread per session, so the event loop never waits for libvpx.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from realtime.video.fanout import EncodedFrame

if TYPE_CHECKING:
    from realtime.video.media import PublishedTrack

log = logging.getLogger(__name__)

CONTAINER_OPTIONS = {"flush_packets": "1", "cluster_time_limit": "1000"}
VP8_OPTIONS = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0", "error-resilient": "1"}
VIDEO_FPS = 15  # recorded frame rate: enough for evidence, half the encoding work of 30 fps
SIZES = {"camera": (640, 480), "screen": (1280, 720)}
MAX_PENDING_VIDEO = 8  # frames queued for the encoder before new video frames are dropped
MS = Fraction(1, 1000)
SIZE_WAIT_SECONDS = 3.0  # how long a new segment waits to learn a forwarded video stream's picture size
OPUS_HEAD = (
    b"OpusHead" + bytes([1, 2]) + (312).to_bytes(2, "little") + (48000).to_bytes(4, "little") + bytes(3)
)

SegmentClosed = Callable[["ClosedSegment"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ClosedSegment:
    session_id: int
    seq: int
    path: Path
    relative_path: str
    size: int
    sha256: str
    started_at: datetime
    ended_at: datetime


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _own_video_frame(frame: Any, width: int, height: int) -> Any:
    """A yuv420p frame of the recorded size that this recorder alone owns.

    The relay hands the same frame object to every subscriber, and the senders encode it on other
    threads: stamping our own pts on it would corrupt their timestamps. `reformat` returns the frame
    itself when nothing changes, so that case is copied plane by plane.
    """
    if (frame.width, frame.height, frame.format.name) != (width, height, "yuv420p"):
        return frame.reformat(width=width, height=height, format="yuv420p")
    copy = av.VideoFrame(width, height, "yuv420p")
    for index, (source, target) in enumerate(zip(frame.planes, copy.planes, strict=True)):
        rows, row_bytes = (height, width) if index == 0 else ((height + 1) // 2, (width + 1) // 2)
        src, dst = memoryview(source), memoryview(target)
        if source.line_size == target.line_size:
            dst[: target.line_size * rows] = src[: source.line_size * rows]
        else:
            for y in range(rows):
                dst[y * target.line_size : y * target.line_size + row_bytes] = src[
                    y * source.line_size : y * source.line_size + row_bytes
                ]
    return copy


def _own_audio_frame(frame: Any) -> Any:
    """A copy of a shared audio frame (see `_own_video_frame`)."""
    copy = av.AudioFrame(format=frame.format.name, layout=frame.layout.name, samples=frame.samples)
    for source, target in zip(frame.planes, copy.planes, strict=True):
        size = min(source.buffer_size, target.buffer_size)
        memoryview(target)[:size] = memoryview(source)[:size]
    copy.sample_rate = frame.sample_rate
    return copy


@dataclass
class _StreamState:
    stream: Any
    kind: str
    size: tuple[int, int] | None
    copy: str | None = None  # the codec of a stream muxed from encoded frames as they are
    last_pts: int = -1
    samples: int = 0
    first: tuple[int, int] | None = None  # (RTP timestamp, pts) of the first copied frame


class SegmentFile:
    """One open Matroska file; every method runs on the session's recorder thread.

    With `passthrough`, a track whose codec is VP8/Opus (or not yet known) gets a stream that is muxed from
    encoded frames; `write` returns False for a frame that does not fit its stream (the codec changed).
    """

    def __init__(self, path: Path, tracks: list[PublishedTrack], *, passthrough: bool = False) -> None:
        self.path = path
        self.container = av.open(str(path), mode="w", format="matroska", options=CONTAINER_OPTIONS)
        self.streams: dict[int, _StreamState] = {}
        self.t0 = time.monotonic()
        for published in tracks:
            codec = getattr(published, "codec", None)
            if published.kind == "video":
                width, height = SIZES.get(published.source, SIZES["camera"])
                if passthrough and codec in (None, "vp8"):
                    width, height = getattr(published, "size", None) or (width, height)
                    stream = self.container.add_stream("vp8")
                    stream.width, stream.height, stream.time_base = width, height, MS
                    self.streams[id(published)] = _StreamState(stream, "video", (width, height), "vp8")
                else:
                    stream = self.container.add_stream("libvpx", rate=VIDEO_FPS, options=VP8_OPTIONS)
                    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                    stream.codec_context.time_base = MS
                    self.streams[id(published)] = _StreamState(stream, "video", (width, height))
            elif passthrough and codec in (None, "opus"):
                stream = self.container.add_stream("opus", rate=48000)
                stream.layout = "stereo"
                stream.codec_context.extradata = OPUS_HEAD  # RFC 7845 §5.1, as browsers send: stereo, 48 kHz
                stream.time_base = Fraction(1, 48000)
                self.streams[id(published)] = _StreamState(stream, "audio", None, "opus")
            else:
                stream = self.container.add_stream("libopus", rate=48000)
                stream.layout = "stereo"
                self.streams[id(published)] = _StreamState(stream, "audio", None)
            stream.metadata["title"] = f"user {published.owner} {published.source}"

    def write(self, key: int, frame: Any, at: float) -> bool:
        state = self.streams[key]
        if isinstance(frame, EncodedFrame) or state.copy is not None:
            if not isinstance(frame, EncodedFrame) or frame.codec != state.copy:
                return False
            self._mux_encoded(state, frame, at)
            return True
        if state.kind == "video":
            assert state.size is not None
            pts = int((at - self.t0) * 1000)
            if pts <= state.last_pts:
                return
            state.last_pts = pts
            frame = _own_video_frame(frame, *state.size)
            frame.pts, frame.time_base = pts, MS
        else:
            # Audio is stamped by its sample count from the segment's start, so the encoder sees no gaps.
            if state.samples == 0:
                state.samples = int((at - self.t0) * frame.sample_rate)
            frame = _own_audio_frame(frame)
            frame.pts, frame.time_base = state.samples, Fraction(1, frame.sample_rate)
            state.samples += frame.samples
        for packet in state.stream.encode(frame):
            self.container.mux(packet)
        return True

    def _mux_encoded(self, state: _StreamState, frame: EncodedFrame, at: float) -> None:
        if state.first is None:
            if state.kind == "video" and not frame.keyframe:
                return  # a stream is decodable from its first keyframe on
            state.first = (frame.timestamp, int((at - self.t0) * 1000))
        # Timed by the publisher's RTP clock from the first frame on: no arrival jitter in the file.
        ms = state.first[1] + (frame.timestamp - state.first[0]) * 1000 // frame.clock_rate
        if ms <= state.last_pts:
            ms = state.last_pts + 1
        state.last_pts = ms
        packet = av.Packet(frame.data)
        if state.kind == "audio":
            packet.pts = packet.dts = ms * 48
            packet.time_base = Fraction(1, 48000)
        else:
            packet.pts = packet.dts = ms
            packet.time_base = MS
            packet.is_keyframe = frame.keyframe
        packet.stream = state.stream
        self.container.mux(packet)

    def close(self) -> None:
        for state in self.streams.values():
            if state.copy is not None:
                continue  # nothing buffered in an encoder
            try:
                for packet in state.stream.encode(None):
                    self.container.mux(packet)
            except (av.error.FFmpegError, ValueError):  # a stream that never received a frame
                log.debug("nothing to flush on %s", state.stream)
        self.container.close()


@dataclass
class SegmentRecorder:
    """Records one session: owns its segment files, their reader tasks and the encoder thread."""

    session_id: int
    directory: Path
    segment_seconds: float
    subscribe: Callable[[PublishedTrack], MediaStreamTrack]
    release: Callable[[MediaStreamTrack], None]
    on_closed: SegmentClosed
    passthrough: bool = False  # `subscribe` yields encoded frames (forwarding): mux them as they are
    _tracks: list[PublishedTrack] = field(default_factory=list)
    _current: SegmentFile | None = None
    _readers: list[tuple[asyncio.Task[None], MediaStreamTrack]] = field(default_factory=list)
    _seq: int = 0
    _started_at: datetime | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None
    _stopping: bool = False
    _pending_video: int = 0
    _executor: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="video-recorder")
    )

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._task = asyncio.create_task(self._run(), name=f"video-recorder-{self.session_id}")

    def set_tracks(self, tracks: list[PublishedTrack]) -> None:
        """The tracks to record from now on; a change starts a new segment."""
        if [id(t) for t in tracks] != [id(t) for t in self._tracks]:
            self._tracks = list(tracks)
            self._changed.set()

    async def _run(self) -> None:
        # Never cancelled mid-rotation (close() sets _stopping and waits), so no segment is left half-closed.
        loop = asyncio.get_running_loop()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=self.segment_seconds)
            self._changed.clear()
            if self._stopping:
                break
            try:
                await self._rotate(loop)
            except Exception:
                log.exception("recording rotation failed in session %s", self.session_id)

    async def _rotate(self, loop: asyncio.AbstractEventLoop) -> None:
        await self._close_current(loop)
        if not self._tracks:
            return
        self._seq += 1
        # The name carries the start time: a session resumed after a restart never reuses a file name.
        name = f"session-{self.session_id}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{self._seq:05d}.mkv"
        path = self.directory / name
        tracks = list(self._tracks)
        if self.passthrough:
            await self._await_picture_sizes(tracks)
        self._current = await loop.run_in_executor(
            self._executor, functools.partial(SegmentFile, path, tracks, passthrough=self.passthrough)
        )
        self._started_at = datetime.now(UTC)
        for published in tracks:
            proxy = self.subscribe(published)
            task = asyncio.create_task(self._read(loop, self._current, published, proxy))
            self._readers.append((task, proxy))

    async def _await_picture_sizes(self, tracks: list[PublishedTrack]) -> None:
        # A Matroska header names each video stream's size; a forwarded stream's size is known from its
        # first keyframe (asked for when the track was published). Wait a little for it, then go on with
        # the nominal size rather than lose the start of the recording.
        deadline = time.monotonic() + SIZE_WAIT_SECONDS
        while not self._stopping and time.monotonic() < deadline:
            if all(t.kind != "video" or t.codec not in (None, "vp8") or t.size for t in tracks):
                return
            await asyncio.sleep(0.05)

    async def _read(
        self,
        loop: asyncio.AbstractEventLoop,
        segment: SegmentFile,
        published: PublishedTrack,
        proxy: MediaStreamTrack,
    ) -> None:
        key, min_gap, last = id(published), 1.0 / VIDEO_FPS, 0.0
        while True:
            try:
                frame = await proxy.recv()
            except MediaStreamError:
                return
            now = time.monotonic()
            if isinstance(frame, EncodedFrame):
                # Cheap to mux, and a dropped frame would break the picture until the next keyframe: wait
                # for each write; a recorder that falls behind is reset to a keyframe by its track's queue.
                try:
                    written = await loop.run_in_executor(self._executor, segment.write, key, frame, now)
                except (av.error.FFmpegError, ValueError) as exc:
                    log.warning("recording a forwarded frame failed: %s", exc)
                    continue
                if not written:
                    self._codec_changed()
                    return
                continue
            if published.kind == "video":
                if now - last < min_gap * 0.9 or self._pending_video >= MAX_PENDING_VIDEO:
                    continue  # keep the recorded rate, and never let the encoder fall behind without bound
                last = now
                self._pending_video += 1
                future = loop.run_in_executor(self._executor, segment.write, key, frame, now)
                future.add_done_callback(self._video_done)
            else:
                future = loop.run_in_executor(self._executor, segment.write, key, frame, now)
                future.add_done_callback(self._audio_done)

    def _video_done(self, future: asyncio.Future[bool]) -> None:
        self._pending_video -= 1
        if future.cancelled():
            return
        if future.exception() is not None:
            log.warning("recording a video frame failed: %s", future.exception())
        elif future.result() is False:
            self._codec_changed()

    def _audio_done(self, future: asyncio.Future[bool]) -> None:
        if not future.cancelled() and future.exception() is None and future.result() is False:
            self._codec_changed()

    def _codec_changed(self) -> None:
        # A track now arrives in another form than its stream was made for: the next segment fits it.
        log.info("a recorded track changed codec in session %s: new segment", self.session_id)
        self._changed.set()

    async def _close_current(self, loop: asyncio.AbstractEventLoop) -> None:
        segment, started = self._current, self._started_at
        if segment is None or started is None:
            return
        self._current = None
        for task, proxy in self._readers:
            task.cancel()
            self.release(proxy)
        await asyncio.gather(*(task for task, _ in self._readers), return_exceptions=True)
        self._readers = []
        # Queued writes run first: the executor is one thread, in submission order.
        await loop.run_in_executor(self._executor, segment.close)
        if not segment.path.exists():
            # The muxer opens the file with its first packet: a segment that got none was never written.
            self._seq -= 1
            return
        size = segment.path.stat().st_size
        digest = await loop.run_in_executor(self._executor, sha256_of, segment.path)
        closed = ClosedSegment(
            session_id=self.session_id,
            seq=self._seq,
            path=segment.path,
            relative_path=segment.path.relative_to(self.directory.parent).as_posix(),
            size=size,
            sha256=digest,
            started_at=started,
            ended_at=datetime.now(UTC),
        )
        try:
            await self.on_closed(closed)
        except Exception:
            log.exception("could not record segment %s of session %s", closed.seq, self.session_id)

    async def close(self) -> None:
        """Closes the open segment (recording it) and stops the encoder thread."""
        self._stopping = True
        self._changed.set()
        if self._task is not None:
            await self._task
            self._task = None
        try:
            await self._close_current(asyncio.get_running_loop())
        except Exception:
            log.exception("closing the last recording segment of session %s failed", self.session_id)
        self._executor.shutdown(wait=True)


# --- verification --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentCheck:
    seq: int
    path: str
    ok: bool
    problem: str | None = None


async def verify_session_recordings(db: Any, *, session_id: int, root: Path) -> list[SegmentCheck]:
    """Re-hashes each segment file of a session and compares it with the database and the audit chain."""
    from sqlalchemy import select

    from command_center.audit.models import AuditEntry
    from realtime.video.service import list_segments

    async with db.unit_of_work(read_only=True) as session:
        segments = await list_segments(session, session_id=session_id)
        entries = (
            (
                await session.execute(
                    select(AuditEntry).where(
                        AuditEntry.action == "video.recording_segment",
                        AuditEntry.subject_type == "video_session",
                        AuditEntry.subject_id == str(session_id),
                    )
                )
            )
            .scalars()
            .all()
        )
    audited = {int(e.details.get("seq", -1)): e.details.get("sha256") for e in entries}
    checks = []
    for segment in segments:
        path = root / segment.path
        if not path.is_file():
            checks.append(SegmentCheck(segment.seq, segment.path, False, "the file is missing"))
            continue
        digest = await asyncio.to_thread(sha256_of, path)
        if digest != segment.sha256:
            problem = "the file's SHA-256 differs from the database: the file was changed"
        elif audited.get(segment.seq) != segment.sha256:
            problem = "the audit chain does not hold this segment's SHA-256"
        else:
            problem = None
        checks.append(SegmentCheck(segment.seq, segment.path, problem is None, problem))
    return checks
