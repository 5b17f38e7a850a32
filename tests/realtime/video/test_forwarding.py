"""Forwarding encoded frames: no decoder or encoder on the server, per-subscriber fallback, keyframes, loss."""

from __future__ import annotations

import asyncio
import re
import tomllib
from pathlib import Path

import pytest

from realtime.video import fanout, forwarding
from realtime.video.ice import use_host_addresses
from realtime.video.media import Room
from realtime.video.subscriptions import ForwardingSubscriptions
from tests.realtime.video.media_harness import HEIGHT, WIDTH, Participant, wait_until, without_codec

PROJECT = Path(__file__).resolve().parents[3]


@pytest.fixture
def loopback():
    use_host_addresses(["127.0.0.1"])
    yield
    use_host_addresses([])


@pytest.fixture
async def room(loopback):
    room = Room(
        1, subscriptions=ForwardingSubscriptions(), recording_dir=None, segment_seconds=60, on_segment=None
    )
    yield room
    await room.close()


async def start(room, *subscribers):
    people = [Participant(room, 1, publish=True), *subscribers]
    for person in people:
        await person.join()
    return people


def server_senders(room, user):
    return [(sub, sub.transceiver.sender) for sub in room.peers[user].subscriptions]


async def test_forwarded_tracks_run_no_decoder_and_no_encoder_on_the_server(room):
    people = await start(room, Participant(room, 2, publish=False), Participant(room, 3, publish=False))
    try:
        await wait_until(lambda: all(p.frames["video"] >= 15 and p.frames["audio"] >= 15 for p in people[1:]))
        sources = room.subscriptions.sources
        assert {s.kind for s in sources if s.published} == {"audio", "video"}
        for source in sources:
            assert source.decoder is None
            thread = source.receiver._RTCRtpReceiver__decoder_thread
            assert thread is not None and not thread.is_alive()
        for user in (2, 3):
            for sub, _sender in server_senders(room, user):
                assert sub.track.packer is not None and sub.track.packer.encoder is None
                assert sub.track.forwarded > 0 and sub.track.decoded == 0
            assert people[user - 1].sizes == {(WIDTH, HEIGHT)}
    finally:
        for person in people:
            await person.close()


async def test_a_subscriber_without_the_publishers_codec_alone_gets_decoded_and_encoded_video(room):
    h264_only = Participant(room, 3, publish=False, munge=lambda sdp: without_codec(sdp, "VP8"))
    people = await start(room, Participant(room, 2, publish=False), h264_only)
    try:
        await wait_until(lambda: people[1].frames["video"] >= 10 and h264_only.frames["video"] >= 10)
        (video_source,) = [s for s in room.subscriptions.sources if s.kind == "video" and s.published]
        assert video_source.codec == "vp8"
        assert video_source.decoder is not None  # created for the H.264 subscriber only
        vp8 = {sub.track.kind: sub.track for sub, _ in server_senders(room, 2)}
        h264 = {sub.track.kind: sub.track for sub, _ in server_senders(room, 3)}
        assert vp8["video"].packer.encoder is None and vp8["video"].decoded == 0
        assert h264["video"].packer.name == "h264"
        assert h264["video"].packer.encoder is not None and h264["video"].decoded > 0
        assert h264["audio"].packer.encoder is None and h264["audio"].forwarded > 0
    finally:
        for person in people:
            await person.close()


async def test_h264_is_forwarded_when_publisher_and_subscriber_both_use_it(room):
    def h264(sdp):
        return without_codec(sdp, "VP8")

    people = [
        Participant(room, 1, publish=True, munge=h264),
        Participant(room, 2, publish=False, munge=h264),
    ]
    for person in people:
        await person.join()
    try:
        await wait_until(lambda: people[1].frames["video"] >= 10)
        (video_source,) = [s for s in room.subscriptions.sources if s.kind == "video" and s.published]
        assert video_source.codec == "h264" and video_source.decoder is None
        (track,) = [sub.track for sub, _ in server_senders(room, 2) if sub.track.kind == "video"]
        assert track.packer.name == "h264" and track.packer.encoder is None and track.forwarded > 0
        assert people[1].sizes == {(WIDTH, HEIGHT)}
    finally:
        for person in people:
            await person.close()


async def test_a_subscribers_keyframe_request_reaches_the_publisher_rate_limited(room):
    people = await start(room, Participant(room, 2, publish=False))
    try:
        await wait_until(lambda: people[1].frames["video"] >= 10)
        (source,) = [s for s in room.subscriptions.sources if s.kind == "video" and s.published]
        (sender,) = [sender for sub, sender in server_senders(room, 2) if sub.track.kind == "video"]
        # Settle: no request pending from the subscriber's start.
        await asyncio.sleep(fanout.KEYFRAME_REQUEST_INTERVAL * 1.5)
        requests, keyframes = source.keyframe_requests, source.keyframes
        # As aiortc does on an RTCP PLI or FIR from the subscriber.
        for _ in range(20):
            sender._send_keyframe()
        assert source.keyframe_requests - requests <= 1  # one PLI now, the rest folded into the next window
        await wait_until(lambda: source.keyframes > keyframes)
        await asyncio.sleep(fanout.KEYFRAME_REQUEST_INTERVAL * 1.5)
        assert 1 <= source.keyframe_requests - requests <= 2
    finally:
        for person in people:
            await person.close()


def test_the_aiortc_internals_the_adapter_relies_on_are_there():
    forwarding.check_aiortc()


def test_a_changed_internal_is_reported_by_name(monkeypatch):
    from aiortc.rtcrtpsender import RTCRtpSender

    async def _next_encoded_frame(self, codec):
        return None

    monkeypatch.setattr(RTCRtpSender, "_next_encoded_frame", _next_encoded_frame)
    with pytest.raises(forwarding.UnsupportedAiortc, match="_next_encoded_frame"):
        forwarding.check_aiortc()


def test_the_project_pins_the_aiortc_range_the_adapter_supports():
    dependencies = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]["dependencies"]
    (pin,) = [d for d in dependencies if re.match(r"aiortc\b", d)]
    low, high = forwarding.SUPPORTED_AIORTC
    assert pin.replace(" ", "") == f"aiortc>={low[0]}.{low[1]},<{high[0]}.{high[1]}"


async def test_forwarded_frames_are_recorded_as_they_are_and_the_segment_plays(loopback, tmp_path):
    import av

    segments = []

    async def on_segment(segment):
        segments.append(segment)

    room = Room(
        7,
        subscriptions=ForwardingSubscriptions(),
        recording_dir=tmp_path,
        segment_seconds=600,
        on_segment=on_segment,
    )
    publisher = Participant(room, 1, publish=True)
    try:
        await publisher.join()
        await wait_until(lambda: any(s.frames >= 60 for s in room.subscriptions.sources if s.kind == "video"))
        recorder_tracks = [t for s in room.subscriptions.sources for t in s.tracks]
        assert {t.kind for t in recorder_tracks} == {"audio", "video"}
        assert all(t.forwarded > 0 and t.decoded == 0 for t in recorder_tracks)
        assert all(s.decoder is None for s in room.subscriptions.sources)
    finally:
        await room.close()
        await publisher.close()
    (segment,) = segments
    with av.open(str(segment.path)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.name, video.width, video.height) == ("vp8", WIDTH, HEIGHT)
        assert sum(1 for _ in container.decode(video=0)) > 0
    with av.open(str(segment.path)) as container:
        assert sum(frame.samples for frame in container.decode(audio=0)) > 0
