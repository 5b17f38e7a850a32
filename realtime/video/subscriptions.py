"""How subscribers (and the recorder) get a publisher's media: forwarded encoded frames, or MediaRelay.

`ForwardingSubscriptions` (the default, `video_forwarding` setting) hands each subscriber the publisher's
encoded frames (`realtime.video.forwarding`); `RelaySubscriptions` decodes once and encodes per subscriber.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from aiortc.contrib.media import MediaBlackhole, MediaRelay
from aiortc.mediastreams import MediaStreamTrack

from realtime.video.fanout import (
    KEYFRAMES_ONLY_INTERVAL,
    RECORDABLE_CODECS,
    ForwardedSource,
    ForwardedTrack,
    LossPolicy,
    VideoQuality,
)
from realtime.video.forwarding import bind_sender, check_aiortc, last_loss_report, tap_receiver

if TYPE_CHECKING:
    from aiortc.rtcrtpsender import RTCRtpSender
    from aiortc.rtcrtptransceiver import RTCRtpTransceiver

    from realtime.video.media import PublishedTrack

log = logging.getLogger(__name__)

LOSS_CHECK_SECONDS = 2.0


class TrackSubscriptions(Protocol):
    """The step between a published track and its subscribers' senders and the recorder.

    `attach_receiver` sees a publishing transceiver before it is negotiated; `drain` makes sure a published
    track is always read; `subscribe` returns the track to put on a subscriber's sender, `attach_sender`
    sees that sender; `record` returns the recorder's track (encoded frames where `encoded`); `release`
    ends one subscription; `close` ends them all.
    """

    encoded: bool

    def attach_receiver(self, transceiver: RTCRtpTransceiver) -> None: ...

    def drain(self, published: PublishedTrack) -> None: ...

    def subscribe(self, published: PublishedTrack) -> MediaStreamTrack: ...

    def attach_sender(self, track: MediaStreamTrack, transceiver: RTCRtpTransceiver) -> None: ...

    def record(self, published: PublishedTrack) -> MediaStreamTrack: ...

    def release(self, track: MediaStreamTrack) -> None: ...

    async def close(self) -> None: ...


class RelaySubscriptions:
    """Decode once, re-encode per subscriber: MediaRelay, unbuffered (a slow reader drops frames)."""

    encoded = False

    def __init__(self) -> None:
        self.relay = MediaRelay()
        self.blackhole = MediaBlackhole()

    def attach_receiver(self, transceiver: RTCRtpTransceiver) -> None:
        return None

    def drain(self, published: PublishedTrack) -> None:
        self.blackhole.addTrack(self.relay.subscribe(published, buffered=False))
        asyncio.ensure_future(self.blackhole.start())

    def subscribe(self, published: PublishedTrack) -> MediaStreamTrack:
        return self.relay.subscribe(published, buffered=False)

    def attach_sender(self, track: MediaStreamTrack, transceiver: RTCRtpTransceiver) -> None:
        return None

    def record(self, published: PublishedTrack) -> MediaStreamTrack:
        return self.subscribe(published)

    def release(self, track: MediaStreamTrack) -> None:
        track.stop()

    async def close(self) -> None:
        await self.blackhole.stop()


class ForwardingSubscriptions:
    """Encoded frames from each publisher to each subscriber; per-subscriber fallback to decode/encode.

    Also watches each video subscriber's reported loss (`LossPolicy`) and steps its video down to
    keyframes only or a pause, so one bad link never holds the others back.
    """

    encoded = True

    def __init__(self, *, loss_check_seconds: float = LOSS_CHECK_SECONDS) -> None:
        check_aiortc()
        self.sources: list[ForwardedSource] = []
        self.relay = RelaySubscriptions()  # only for a track whose receiver was not tapped
        self.watched: dict[ForwardedTrack, tuple[RTCRtpSender, LossPolicy]] = {}
        self.loss_check_seconds = loss_check_seconds
        self._last_reports: dict[ForwardedTrack, Any] = {}
        self._keyframes_asked: dict[ForwardedSource, float] = {}
        self._watcher: asyncio.Task[None] | None = None

    def attach_receiver(self, transceiver: RTCRtpTransceiver) -> None:
        self.sources = [s for s in self.sources if not s.ended]
        self.sources.append(tap_receiver(transceiver))

    def source_of(self, published: PublishedTrack) -> ForwardedSource | None:
        return next((s for s in self.sources if s.receiver.track is published.remote), None)

    def drain(self, published: PublishedTrack) -> None:
        source = self.source_of(published)
        if source is None:
            log.warning(
                "no forwarding for %s of user %s: decoding instead", published.source, published.owner
            )
            self.relay.drain(published)
        else:
            source.published = published  # a tapped receiver is never read: nothing to drain
            source.request_keyframe()  # its picture size, for the recording, and a clean start

    def _track(self, published: PublishedTrack, accepts: frozenset[str]) -> MediaStreamTrack:
        source = self.source_of(published)
        if source is None or source.published is not published:
            return self.relay.subscribe(published)
        track = ForwardedTrack(source, accepts=accepts)
        source.tracks.add(track)
        if accepts:
            source.start(track)
        return track

    def subscribe(self, published: PublishedTrack) -> MediaStreamTrack:
        return self._track(published, frozenset())  # its sender says what it takes once negotiated

    def record(self, published: PublishedTrack) -> MediaStreamTrack:
        return self._track(published, RECORDABLE_CODECS)

    def attach_sender(self, track: MediaStreamTrack, transceiver: RTCRtpTransceiver) -> None:
        if not isinstance(track, ForwardedTrack):
            return
        bind_sender(track, transceiver.sender)
        if track.kind == "video":
            # A fresh keyframe by the time the connection is up, so the frames replayed to it are few.
            track.source.request_keyframe()
            self.watched[track] = (transceiver.sender, LossPolicy())
            if self._watcher is None:
                self._watcher = asyncio.create_task(self._watch_loss(), name="video-loss-watch")

    def release(self, track: MediaStreamTrack) -> None:
        track.stop()
        if isinstance(track, ForwardedTrack):
            self.watched.pop(track, None)
            self._last_reports.pop(track, None)

    async def _watch_loss(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.loss_check_seconds)
            try:
                await self.check_loss(loop.time())
            except Exception:
                log.exception("checking subscribers' loss failed")

    async def check_loss(self, now: float) -> None:
        """Applies each video subscriber's latest loss report; asks for keyframes for keyframes-only ones."""
        wanting: set[ForwardedSource] = set()
        for track, (sender, policy) in list(self.watched.items()):
            if track.readyState != "live":
                self.watched.pop(track, None)
                continue
            report = await last_loss_report(sender)
            if report is not None and report[0] != self._last_reports.get(track):
                self._last_reports[track] = report[0]
                track.set_quality(policy.update(report[1]))
            if track.quality is VideoQuality.keyframes:
                wanting.add(track.source)
        self._keyframes_asked = {s: t for s, t in self._keyframes_asked.items() if not s.ended}
        for source in wanting:
            if now - self._keyframes_asked.get(source, -KEYFRAMES_ONLY_INTERVAL) >= KEYFRAMES_ONLY_INTERVAL:
                self._keyframes_asked[source] = now
                source.request_keyframe()

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        for source in self.sources:
            source.end()
        await self.relay.close()


def subscriptions_factory(*, forwarding: bool) -> type[ForwardingSubscriptions | RelaySubscriptions]:
    """The node's subscription strategy; with forwarding, first checks the aiortc internals it needs."""
    if forwarding:
        check_aiortc()
        return ForwardingSubscriptions
    return RelaySubscriptions
