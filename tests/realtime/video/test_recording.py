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
