"""The forwarding fan-out on its own: keyframe gating, reduced video on loss, mute as Opus silence."""

from __future__ import annotations

from types import SimpleNamespace

from aiortc.jitterbuffer import JitterFrame
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from realtime.video.fanout import (
    OPUS_SILENCE,
    ForwardedSource,
    ForwardedTrack,
    LossPolicy,
    VideoQuality,
    describe_frame,
)

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)
KEY = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x80, 0x02, 0xE0, 0x01]) + b"picture"  # 640x480
DELTA = bytes([0x31, 0x02, 0x00]) + b"change"


def published(kind: str):
    return SimpleNamespace(kind=kind, owner=1, source="camera", muted=False, frames=0, codec=None, size=None)


def source_with(kind: str, *accepts: frozenset[str]) -> tuple[ForwardedSource, list[ForwardedTrack]]:
    source = ForwardedSource(kind, receiver=None, send_pli=lambda: False)  # nothing received: no PLI
    source.published = published(kind)
    tracks = [ForwardedTrack(source, accepts=a) for a in accepts]
    source.tracks.update(tracks)
    return source, tracks


def drain(track: ForwardedTrack) -> list:
    items = []
    while not track._queue.empty():
        items.append(track._queue.get_nowait())
    return items


def test_vp8_keyframes_are_recognised_with_their_size():
    assert describe_frame("vp8", KEY) == (True, (640, 480))
    assert describe_frame("vp8", DELTA) == (False, None)
    assert describe_frame("h264", b"\x00\x00\x00\x01\x67sps\x00\x00\x00\x01\x65idr")[0]
    assert not describe_frame("h264", b"\x00\x00\x00\x01\x41slice")[0]


async def test_a_new_subscriber_starts_at_a_keyframe_and_then_gets_every_frame():
    source, (track,) = source_with("video", frozenset({"vp8"}))
    for n, data in enumerate([DELTA, DELTA, KEY, DELTA, DELTA]):
        source.deliver(VP8, JitterFrame(data, n * 3000))
    got = drain(track)
    assert [f.keyframe for f in got] == [True, False, False]
    assert source.published.size == (640, 480) and source.published.frames == 5


async def test_a_lossy_subscriber_gets_keyframes_only_or_nothing_while_the_others_get_all():
    source, (steady, lossy, paused) = source_with("video", *[frozenset({"vp8"})] * 3)
    lossy.set_quality(VideoQuality.keyframes)
    paused.set_quality(VideoQuality.paused)
    for n, data in enumerate([KEY, DELTA, DELTA, KEY, DELTA]):
        source.deliver(VP8, JitterFrame(data, n * 3000))
    assert len(drain(steady)) == 5
    assert [f.keyframe for f in drain(lossy)] == [True, True]
    assert drain(paused) == []


async def test_a_paused_subscriber_keeps_its_audio():
    source, (track,) = source_with("audio", frozenset({"opus"}))
    track.set_quality(VideoQuality.paused)  # video quality: means nothing for audio
    source.deliver(OPUS, JitterFrame(b"\xfc\x01\x02", 0))
    assert len(drain(track)) == 1


async def test_a_muted_microphone_is_forwarded_as_opus_silence():
    source, (track,) = source_with("audio", frozenset({"opus"}))
    source.deliver(OPUS, JitterFrame(b"\xfc speech", 0))
    source.published.muted = True
    source.deliver(OPUS, JitterFrame(b"\xfc speech", 960))
    assert [f.data for f in drain(track)] == [b"\xfc speech", OPUS_SILENCE]


async def test_a_subscriber_too_far_behind_is_reset_to_the_next_keyframe_without_holding_others():
    source, (slow, fast) = source_with("video", frozenset({"vp8"}), frozenset({"vp8"}))
    source.deliver(VP8, JitterFrame(KEY, 0))
    for n in range(1, 40):
        source.deliver(VP8, JitterFrame(DELTA, n * 3000))
        drain(fast)
    assert slow.waiting_for_keyframe
    assert len(drain(slow)) < 40
    source.deliver(VP8, JitterFrame(DELTA, 40 * 3000))
    assert drain(slow) == []  # a delta after the reset would not decode
    source.deliver(VP8, JitterFrame(KEY, 41 * 3000))
    assert [f.keyframe for f in drain(slow)] == [True]


async def test_a_subscriber_not_yet_negotiated_is_given_nothing():
    source, (track,) = source_with("video", frozenset())
    source.deliver(VP8, JitterFrame(KEY, 0))
    assert drain(track) == [] and source.decoder is None


def test_loss_steps_video_down_and_a_clean_link_steps_it_back_up():
    policy = LossPolicy()
    assert policy.update(0.01) is VideoQuality.full
    assert policy.update(0.15) is VideoQuality.keyframes
    assert policy.update(0.40) is VideoQuality.paused
    assert [policy.update(0.0) for _ in range(3)] == [VideoQuality.paused] * 2 + [VideoQuality.keyframes]
    assert policy.update(0.05) is VideoQuality.keyframes  # neither clean nor heavy: stays
    assert [policy.update(0.0) for _ in range(3)] == [VideoQuality.keyframes] * 2 + [VideoQuality.full]


def rtp(seq: int, timestamp: int, data: bytes, *, marker: bool = False):
    from aiortc.rtp import RtpPacket

    packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=timestamp, marker=int(marker))
    packet._data = data
    return packet


def test_a_video_frame_is_handed_over_at_its_marker_once_no_packet_is_missing():
    from realtime.video.forwarding import FrameAssembler

    frames = FrameAssembler("video")
    assert frames.add(rtp(10, 3000, b"a"))[1] is None
    assert frames.add(rtp(12, 3000, b"c", marker=True))[1] is None  # 11 is missing
    frame = frames.add(rtp(11, 3000, b"b"))[1]  # the retransmission fills the gap
    assert (frame.data, frame.timestamp) == (b"abc", 3000)
    frame = frames.add(rtp(13, 6000, b"d", marker=True))[1]
    assert (frame.data, frame.timestamp) == (b"d", 6000)


def test_an_audio_frame_is_handed_over_at_once():
    from realtime.video.forwarding import FrameAssembler

    frames = FrameAssembler("audio")
    assert frames.add(rtp(1, 960, b"x"))[1].data == b"x"
    assert frames.add(rtp(2, 1920, b"y"))[1].data == b"y"


async def test_a_starting_subscriber_gets_the_frames_since_the_last_keyframe_at_once():
    source, _ = source_with("video")
    for n, data in enumerate([DELTA, KEY, DELTA, DELTA]):
        source.deliver(VP8, JitterFrame(data, n * 3000))
    late = ForwardedTrack(source, accepts=frozenset({"vp8"}))
    source.tracks.add(late)
    source.start(late)
    assert [f.timestamp for f in drain(late)] == [3000, 6000, 9000]
    source.deliver(VP8, JitterFrame(DELTA, 12000))
    assert [f.timestamp for f in drain(late)] == [12000]


class ReportingSender:
    """Stands in for a subscriber's RTCRtpSender: what its receiver reports about loss, per RTCP RR."""

    def __init__(self) -> None:
        self.report = {}

    def receive_report(self, n: int, fraction_lost: float) -> None:
        from datetime import UTC, datetime, timedelta

        from aiortc.stats import RTCRemoteInboundRtpStreamStats

        self.report = {
            "remote-inbound-rtp": RTCRemoteInboundRtpStreamStats(
                timestamp=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=n),
                type="remote-inbound-rtp",
                id="remote-inbound-rtp_1",
                ssrc=1,
                kind="video",
                transportId="t",
                packetsReceived=100,
                packetsLost=0,
                jitter=0,
                roundTripTime=0.01,
                fractionLost=round(fraction_lost * 256),
            )
        }

    async def getStats(self):
        return self.report


async def test_the_room_reduces_a_lossy_subscribers_video_from_its_receiver_reports():
    from realtime.video.subscriptions import ForwardingSubscriptions

    subscriptions = ForwardingSubscriptions()
    _source, (track,) = source_with("video", frozenset({"vp8"}))
    sender = ReportingSender()
    subscriptions.watched[track] = (sender, LossPolicy())
    sender.receive_report(1, 0.4)
    await subscriptions.check_loss(0.0)
    assert track.quality is VideoQuality.paused
    await subscriptions.check_loss(2.0)  # the same report again: no new evidence
    await subscriptions.check_loss(4.0)
    await subscriptions.check_loss(6.0)
    assert track.quality is VideoQuality.paused
    for n in range(2, 5):
        sender.receive_report(n, 0.0)
        await subscriptions.check_loss(2.0 * n)
    assert track.quality is VideoQuality.keyframes
    assert track.waiting_for_keyframe  # back from a pause: it starts again at a keyframe
    await subscriptions.close()
