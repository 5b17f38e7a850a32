"""One publisher to N subscribers through the media server at 640x480: server CPU per subscriber, join-to-frame.

The media server (`realtime.video.media.Room`, the MediaRelay subscription path) runs in a child process
and is driven over its stdin/stdout with JSON lines, so `time.process_time()` there counts the server's
work alone. Publisher and subscribers are aiortc clients in this process; the publisher sends synthetic
640x480 frames (a moving gradient, 30 fps). ICE uses 127.0.0.1 only, so no packet leaves the machine.
Ratios are against N = 1 of the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

SUBSCRIBERS = (1, 2, 4, 8)
WINDOW_SECONDS = 6.0
WIDTH, HEIGHT, FPS = 640, 480, 30


# --- the server side (child process) -------------------------------------------------------------


async def serve() -> None:
    from realtime.video.ice import use_host_addresses
    from realtime.video.media import Peer, RelaySubscriptions, Room

    use_host_addresses(["127.0.0.1"])
    room = Room(
        1, subscriptions=RelaySubscriptions(), recording_dir=None, segment_seconds=60, on_segment=None
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    def send(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    while line := await reader.readline():
        command = json.loads(line)
        op, user = command["op"], command.get("user")
        if op == "connect":

            async def emit(event: str, data: Any, user: int = user) -> None:
                send({"op": event, "user": user, **data})

            peer = Peer(
                user_id=user,
                name=f"u{user}",
                court="000000",
                role="participant",
                publishes=command["publishes"],
                emit=emit,
            )
            await room.connect(peer)
        elif op == "answer":
            await room.answer(user, command["sdp"])
        elif op == "cpu":
            send({"op": "cpu", "seconds": time.process_time()})
        elif op == "stop":
            break
    await room.close()


# --- the clients (this process) ------------------------------------------------------------------


def _synthetic_track() -> Any:
    from aiortc import VideoStreamTrack
    from av import VideoFrame

    class Gradient(VideoStreamTrack):
        """A 640x480 frame that changes every time, so the encoders do real work."""

        def __init__(self) -> None:
            super().__init__()
            self.n = 0
            # A second of distinct frames, made once: the publisher's own cost stays small.
            self.lumas = [bytes((x + i * 7) & 0xFF for x in range(WIDTH)) * HEIGHT for i in range(FPS)]

        async def recv(self) -> VideoFrame:
            pts, time_base = await self.next_timestamp()
            frame = VideoFrame(WIDTH, HEIGHT, "yuv420p")
            self.n += 1
            frame.planes[0].update(self.lumas[self.n % FPS])
            frame.planes[1].update(bytes([128]) * frame.planes[1].buffer_size)
            frame.planes[2].update(bytes([(self.n * 5) & 0xFF]) * frame.planes[2].buffer_size)
            frame.pts, frame.time_base = pts, time_base
            return frame

    return Gradient()


class Server:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.waiters: dict[tuple[str, int | None], asyncio.Queue[dict[str, Any]]] = {}
        self.reader = asyncio.create_task(self._read())

    def queue(self, op: str, user: int | None) -> asyncio.Queue[dict[str, Any]]:
        return self.waiters.setdefault((op, user), asyncio.Queue())

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while line := await self.process.stdout.readline():
            message = json.loads(line)
            await self.queue(message["op"], message.get("user")).put(message)

    async def send(self, **message: Any) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        await self.process.stdin.drain()

    async def cpu(self) -> float:
        await self.send(op="cpu")
        return (await self.queue("cpu", None).get())["seconds"]


class Client:
    """An aiortc participant: answers the server's offers; counts the first decoded frame."""

    def __init__(self, server: Server, user: int, *, publish: bool) -> None:
        from aiortc import RTCConfiguration, RTCPeerConnection

        self.server, self.user, self.publish = server, user, publish
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.first_frame = asyncio.get_running_loop().create_future()
        self.frames = 0
        self.readers: list[asyncio.Task[None]] = []
        self.track = _synthetic_track() if publish else None
        self.offers = asyncio.create_task(self._answer_offers())

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            self.readers.append(asyncio.create_task(self._read(track)))

    async def _read(self, track: Any) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                await track.recv()
            except MediaStreamError:
                return
            if track.kind == "video":
                self.frames += 1
                if not self.first_frame.done():
                    self.first_frame.set_result(time.perf_counter())

    async def _answer_offers(self) -> None:
        from aiortc import RTCSessionDescription

        queue = self.server.queue("offer", self.user)
        while True:
            offer = await queue.get()
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            if self.track is not None and not any(t.sender.track for t in self.pc.getTransceivers()):
                self.pc.addTrack(self.track)
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self.server.send(op="answer", user=self.user, sdp=self.pc.localDescription.sdp)

    async def join(self) -> float:
        started = time.perf_counter()
        await self.server.send(op="connect", user=self.user, publishes=self.publish)
        return started

    async def close(self) -> None:
        self.offers.cancel()
        for reader in self.readers:
            reader.cancel()
        await self.pc.close()


async def run_case(subscribers: int) -> dict[str, float]:
    from realtime.video.ice import use_host_addresses

    use_host_addresses(["127.0.0.1"])
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bench_video",
        "--serve",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    server = Server(process)
    clients: list[Client] = []
    try:
        publisher = Client(server, 1, publish=True)
        clients.append(publisher)
        await publisher.join()
        # The publisher alone, for the server's idle cost of receiving and draining one stream.
        await asyncio.sleep(3)
        base0 = await server.cpu()
        await asyncio.sleep(WINDOW_SECONDS)
        alone = (await server.cpu() - base0) / WINDOW_SECONDS
        firsts = []
        for n in range(subscribers):
            client = Client(server, 100 + n, publish=False)
            clients.append(client)
            started = await client.join()
            firsts.append((client, started))
        delays = [await asyncio.wait_for(c.first_frame, 60) - started for c, started in firsts]
        await asyncio.sleep(2)
        before = await server.cpu()
        frames_before = [c.frames for c, _ in firsts]
        await asyncio.sleep(WINDOW_SECONDS)
        total = (await server.cpu() - before) / WINDOW_SECONDS
        delivered = [(c.frames - f) / WINDOW_SECONDS for (c, _), f in zip(firsts, frames_before, strict=True)]
        return {
            "fps": sum(delivered) / len(delivered),
            "cpu_total": total,
            "cpu_per_subscriber": (total - alone) / subscribers,
            "first_frame_ms": 1000 * sum(delays) / len(delays),
        }
    finally:
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()
        with contextlib.suppress(Exception):
            await server.send(op="stop")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(process.wait(), 20)
        if process.returncode is None:
            process.kill()
        server.reader.cancel()


def main() -> None:
    results = {}
    for n in SUBSCRIBERS:
        results[n] = asyncio.run(run_case(n))
    base = results[SUBSCRIBERS[0]]
    print(
        f"one publisher, {WIDTH}x{HEIGHT} VP8, MediaRelay (decode once, encode per subscriber); "
        f"window {WINDOW_SECONDS:.0f} s"
    )
    print(
        "CPU is the server process's CPU time over the window (100% = one core); fps is what each subscriber"
    )
    print(
        "decoded: where it falls below the source's, the machine was saturated and CPU/subscriber reads low."
    )
    print(
        f"{'subscribers':>11} {'server CPU':>11} {'CPU/subscriber':>15} {'ratio':>6} "
        f"{'join→frame ms':>14} {'ratio':>6} {'fps':>5}"
    )
    for n, r in results.items():
        print(
            f"{n:>11} {100 * r['cpu_total']:>10.1f}% {100 * r['cpu_per_subscriber']:>14.1f}% "
            f"{r['cpu_per_subscriber'] / base['cpu_per_subscriber']:>6.2f} {r['first_frame_ms']:>14.0f} "
            f"{r['first_frame_ms'] / base['first_frame_ms']:>6.2f} {r['fps']:>5.1f}"
        )


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        asyncio.run(serve())
    else:
        main()
