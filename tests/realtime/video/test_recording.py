"""Recording segments: playable after the process dies mid-write; their hashes verified against the record."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import av
import pytest

from command_center.db import utcnow
from realtime.video import service
from realtime.video.recording import verify_session_recordings

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from types import SimpleNamespace
    import av
    from realtime.video.recording import SegmentFile
    tracks = [SimpleNamespace(kind="video", source="camera", owner=1), SimpleNamespace(kind="audio", source="mic", owner=1)]
    segment = SegmentFile(__import__("pathlib").Path(sys.argv[1]), tracks)
    start = time.monotonic()
    for n in range(45):
        frame = av.VideoFrame(640, 480, "yuv420p")
        for index, plane in enumerate(frame.planes):
            plane.update(bytes([(n * 9 + index * 50) % 256]) * plane.buffer_size)
        segment.write(id(tracks[0]), frame, start + n / 15)
        for k in range(3):
            audio = av.AudioFrame(format="s16", layout="stereo", samples=960)
            audio.planes[0].update(bytes(audio.planes[0].buffer_size))
            audio.sample_rate = 48000
            segment.write(id(tracks[1]), audio, start + n / 15 + k * 0.02)
    os._exit(0)  # dies without closing the file: no trailer, no cues
    """
)


PASSTHROUGH_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from fractions import Fraction
    from pathlib import Path
    from types import SimpleNamespace
    import av
    from realtime.video.fanout import EncodedFrame, describe_frame
    from realtime.video.recording import SegmentFile
    video = SimpleNamespace(kind="video", source="camera", owner=1, codec="vp8", size=(320, 240))
    audio = SimpleNamespace(kind="audio", source="mic", owner=1, codec="opus", size=None)
    segment = SegmentFile(Path(sys.argv[1]), [video, audio], passthrough=True)
    vp8 = av.CodecContext.create("libvpx", "w")
    vp8.width, vp8.height, vp8.pix_fmt, vp8.time_base = 320, 240, "yuv420p", Fraction(1, 30)
    opus = av.CodecContext.create("libopus", "w")
    opus.sample_rate, opus.layout, opus.format, opus.time_base = 48000, "stereo", "s16", Fraction(1, 48000)
    start = time.monotonic()
    for n in range(45):
        frame = av.VideoFrame(320, 240, "yuv420p")
        for index, plane in enumerate(frame.planes):
            plane.update(bytes([(n * 9 + index * 50) % 256]) * plane.buffer_size)
        frame.pts = n
        for packet in vp8.encode(frame):
            data = bytes(packet)
            key, size = describe_frame("vp8", data)
            segment.write(id(video), EncodedFrame("vp8", data, n * 3000, 90000, key, size), start + n / 30)
        sound = av.AudioFrame(format="s16", layout="stereo", samples=1600)
        sound.planes[0].update(bytes(range(256)) * (sound.planes[0].buffer_size // 256))
        sound.sample_rate, sound.pts = 48000, n * 1600
        for packet in opus.encode(sound):
            segment.write(id(audio), EncodedFrame("opus", bytes(packet), packet.pts, 48000, True), start + n / 30)
    os._exit(0)  # dies without closing the file: no trailer, no cues
    """
)


def test_a_forwarded_segment_cut_off_by_a_dying_process_still_plays(tmp_path: Path):
    path = tmp_path / "cut.mkv"
    subprocess.run([sys.executable, "-c", PASSTHROUGH_WRITER, str(path)], check=True, timeout=120)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "vp8"
        assert (container.streams.video[0].width, container.streams.video[0].height) == (320, 240)
        assert container.streams.audio[0].codec_context.name == "opus"
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(path)) as container:
        samples = sum(frame.samples for frame in container.decode(audio=0))
    assert frames > 0 and samples > 0


def test_a_forwarded_segment_refuses_frames_of_another_codec(tmp_path: Path):
    from types import SimpleNamespace

    from realtime.video.fanout import EncodedFrame
    from realtime.video.recording import SegmentFile

    video = SimpleNamespace(kind="video", source="camera", owner=1, codec=None, size=None)
    segment = SegmentFile(tmp_path / "s.mkv", [video], passthrough=True)
    try:
        assert not segment.write(id(video), EncodedFrame("h264", b"\x00\x00\x01\x65", 0, 90000, True), 0.0)
        assert not segment.write(id(video), av.VideoFrame(64, 48, "yuv420p"), 0.0)
    finally:
        segment.close()


def test_a_segment_cut_off_by_a_dying_process_still_plays(tmp_path: Path):
    path = tmp_path / "cut.mkv"
    subprocess.run([sys.executable, "-c", WRITER, str(path)], check=True, timeout=120)
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "vp8"
        assert container.streams.audio[0].codec_context.name == "opus"
        frames = sum(1 for _ in container.decode(video=0))
    assert frames > 0


@pytest.fixture
def recording_root(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


async def test_recording_verify_finds_a_changed_segment(video_app, login, people, services, recording_root):
    host = await login(people["host"])
    session_id = (await host.post("/api/v1/video-sessions", json={"topic": "取证"})).json()["id"]
    folder = recording_root / f"session-{session_id}"
    folder.mkdir(parents=True)
    good, bad = folder / "a.mkv", folder / "b.mkv"
    good.write_bytes(b"segment one")
    bad.write_bytes(b"segment two")
    import hashlib

    async with services.db.unit_of_work() as s:
        for path in (good, bad):
            await service.record_segment(
                s,
                session_id=session_id,
                path=path.relative_to(recording_root).as_posix(),
                size=path.stat().st_size,
                sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                started_at=utcnow(),
                ended_at=utcnow(),
                court_code=people["host"].court_code,
            )
    bad.write_bytes(b"segment 2wo")
    checks = await verify_session_recordings(services.db, session_id=session_id, root=recording_root)
    assert [(c.seq, c.ok) for c in checks] == [(1, True), (2, False)]
    assert "changed" in checks[1].problem
