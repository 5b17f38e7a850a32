"""A media room driven by in-process aiortc participants over 127.0.0.1, for the forwarding tests."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from av import VideoFrame

from realtime.video.media import Peer, Room

WIDTH, HEIGHT = 320, 240


class MovingPicture(VideoStreamTrack):
    """Frames that differ each time, so the encoder sends real deltas."""

    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(WIDTH, HEIGHT, "yuv420p")
        self.n += 1
        for index, plane in enumerate(frame.planes):
            plane.update(bytes([(self.n * 3 + index * 70) & 0xFF]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        return frame


def without_codec(sdp: str, name: str) -> str:
    """An offer with one video codec (and its RTX) removed, as a browser lacking it would answer."""
    drop = set(re.findall(rf"a=rtpmap:(\d+) {name}/", sdp))
    drop |= {rtx for rtx, apt in re.findall(r"a=fmtp:(\d+) apt=(\d+)", sdp) if apt in drop}
    lines = []
    for line in sdp.split("\r\n"):
        if line.startswith("m=video"):
            head = line.split(" ")
            line = " ".join(head[:3] + [pt for pt in head[3:] if pt not in drop])
        match = re.match(r"a=(?:rtpmap|fmtp|rtcp-fb):(\d+)", line)
        if match and match.group(1) in drop:
            continue
        lines.append(line)
    return "\r\n".join(lines)


class Participant:
    """An aiortc participant: answers the room's offers, counts the frames it decodes per kind."""

    def __init__(
        self, room: Room, user: int, *, publish: bool, munge: Callable[[str], str] | None = None
    ) -> None:
        self.room, self.user, self.publish, self.munge = room, user, publish, munge
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.offers: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.frames = {"video": 0, "audio": 0}
        self.sizes: set[tuple[int, int]] = set()
        self.tracks = [MovingPicture(), AudioStreamTrack()] if publish else []
        self._tasks = [asyncio.create_task(self._answer())]

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self._tasks.append(asyncio.create_task(self._read(track)))

    async def _read(self, track: Any) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.frames[track.kind] += 1
            if track.kind == "video":
                self.sizes.add((frame.width, frame.height))

    async def _emit(self, event: str, data: Any) -> None:
        if event == "offer":
            await self.offers.put(data)

    async def _answer(self) -> None:
        while True:
            offer = await self.offers.get()
            sdp = self.munge(offer["sdp"]) if self.munge else offer["sdp"]
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            sending = [t.sender.track for t in self.pc.getTransceivers()]
            for track in self.tracks:
                if track not in sending:
                    self.pc.addTrack(track)  # takes the offered publish slot of its kind
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self.room.answer(self.user, self.pc.localDescription.sdp)

    async def join(self) -> None:
        peer = Peer(
            user_id=self.user,
            name=f"u{self.user}",
            court="000000",
            role="participant",
            publishes=self.publish,
            emit=self._emit,
        )
        await self.room.connect(peer)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self.pc.close()


async def wait_until(condition: Callable[[], bool], timeout: float = 60) -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), timeout)
