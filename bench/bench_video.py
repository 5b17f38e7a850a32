"""One publisher to N subscribers through the media server at 640x480: forwarding against decode/re-encode.

The media server (`realtime.video.media.Room`) runs in a child process, with either subscription path:
`relay` (MediaRelay: decode once, encode per subscriber) or `forward` (encoded frames forwarded). It is
driven over its stdin/stdout with JSON lines, so `time.process_time()` there counts the server's work
alone. Publisher and subscribers are aiortc clients in this process; the publisher sends synthetic 640x480
VP8 (a moving gradient, 30 fps). ICE uses 127.0.0.1 only, so no packet leaves the machine.

1. Both paths in the same run: server CPU per subscriber and join→first decoded frame (decoding clients);
   forwarding is reported as a ratio against the relay path.
2. Capacity with forwarding: the most subscribers for which every one still receives ≥ 20 complete frames
   per second. These clients count complete encoded frames without decoding them, so their own CPU (all
   in this one process, reported alongside) is not what limits the count; a browser decoding each stream
   pays its own decoder on its own machine.
3. `--soak SECONDS`: 1 publisher and 6 decoding subscribers with forwarding; frame rate and server RSS
   sampled over time (`make soak`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

COMPARE = (1, 4, 8)  # subscribers, both paths
CAPACITY = (8, 16, 32, 48, 64, 96, 128)  # subscribers, forwarding, counting clients
TARGET_FPS = 20
WINDOW_SECONDS = 8.0
WIDTH, HEIGHT, FPS = 640, 480, 30
SOAK_SUBSCRIBERS = 6
SOAK_SAMPLE_SECONDS = 30.0


# --- the server side (child process) -------------------------------------------------------------


def rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def serve(mode: str) -> None:
    from aiortc.exceptions import InvalidStateError

    from realtime.video.ice import use_host_addresses
    from realtime.video.media import ForwardingSubscriptions, Peer, RelaySubscriptions, Room

    use_host_addresses(["127.0.0.1"])
    subscriptions = ForwardingSubscriptions() if mode == "forward" else RelaySubscriptions()
    room = Room(1, subscriptions=subscriptions, recording_dir=None, segment_seconds=60, on_segment=None)
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
            with contextlib.suppress(InvalidStateError):  # an answer racing the end of the run
                await room.answer(user, command["sdp"])
        elif op == "cpu":
            send({"op": "cpu", "seconds": time.process_time(), "rss": rss_bytes()})
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
        return (await self.sample())["seconds"]

    async def sample(self) -> dict[str, Any]:
        await self.send(op="cpu")
        return await self.queue("cpu", None).get()


class Client:
    """An aiortc participant: answers the server's offers; counts the first decoded frame.

    With `decode=False` it counts complete encoded video frames instead (the receiver's frames are taken
    before its decoder, as the server's forwarding does), so many clients fit in this one process.
    """

    def __init__(self, server: Server, user: int, *, publish: bool, decode: bool = True) -> None:
        from types import SimpleNamespace

        from aiortc import RTCConfiguration, RTCPeerConnection

        from realtime.video.forwarding import tap_receiver

        self.server, self.user, self.publish = server, user, publish
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.first_frame = asyncio.get_running_loop().create_future()
        self.frames = 0
        self.readers: list[asyncio.Task[None]] = []
        self.track = _synthetic_track() if publish else None
        self.offers = asyncio.create_task(self._answer_offers())
        self.counted: Any = None

        @self.pc.on("track")
        def on_track(track: Any) -> None:
            if decode or track.kind != "video":
                self.readers.append(asyncio.create_task(self._read(track)))
                return
            # Synchronous, so before the receiver starts: the same seam the server's forwarding uses.
            (transceiver,) = [t for t in self.pc.getTransceivers() if t.receiver.track is track]
            source = tap_receiver(transceiver)
            source.published = SimpleNamespace(muted=False, frames=0, codec=None, size=None)
            self.counted = source

    @property
    def video_frames(self) -> int:
        return self.counted.frames if self.counted is not None else self.frames

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


async def start_server(mode: str) -> tuple[asyncio.subprocess.Process, Server]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.bench_video",
        "--serve",
        mode,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    return process, Server(process)


async def stop_server(process: asyncio.subprocess.Process, server: Server, clients: list[Client]) -> None:
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


async def run_case(mode: str, subscribers: int, *, decode: bool = True) -> dict[str, float]:
    from realtime.video.ice import use_host_addresses

    use_host_addresses(["127.0.0.1"])
    process, server = await start_server(mode)
    clients: list[Client] = []
    try:
        publisher = Client(server, 1, publish=True)
        clients.append(publisher)
        await publisher.join()
        # The publisher alone, for the server's idle cost of receiving one stream.
        await asyncio.sleep(3)
        base0 = await server.cpu()
        await asyncio.sleep(WINDOW_SECONDS)
        alone = (await server.cpu() - base0) / WINDOW_SECONDS
        firsts = []
        for n in range(subscribers):
            client = Client(server, 100 + n, publish=False, decode=decode)
            clients.append(client)
            started = await client.join()
            firsts.append((client, started))
        if decode:
            delays = [await asyncio.wait_for(c.first_frame, 60) - started for c, started in firsts]
        else:
            await asyncio.wait_for(_all_counting(firsts), 60)
            delays = [0.0]
        await asyncio.sleep(2)
        before, own_before = await server.cpu(), time.process_time()
        frames_before = [c.video_frames for c, _ in firsts]
        await asyncio.sleep(WINDOW_SECONDS)
        total = (await server.cpu() - before) / WINDOW_SECONDS
        own = (time.process_time() - own_before) / WINDOW_SECONDS
        delivered = [
            (c.video_frames - f) / WINDOW_SECONDS for (c, _), f in zip(firsts, frames_before, strict=True)
        ]
        return {
            "fps": sum(delivered) / len(delivered),
            "min_fps": min(delivered),
            "cpu_total": total,
            "cpu_alone": alone,
            "cpu_per_subscriber": (total - alone) / subscribers,
            "first_frame_ms": 1000 * sum(delays) / len(delays),
            "clients_cpu": own,
        }
    finally:
        await stop_server(process, server, clients)


async def _all_counting(firsts: list[tuple[Client, float]]) -> None:
    while not all(c.video_frames > 0 for c, _ in firsts):
        await asyncio.sleep(0.05)


def main() -> None:
    results = {(mode, n): asyncio.run(run_case(mode, n)) for n in COMPARE for mode in ("relay", "forward")}
    print(
        f"one publisher, {WIDTH}x{HEIGHT} VP8 at {FPS} fps; window {WINDOW_SECONDS:.0f} s; server CPU is the "
        "server process's CPU time (100% = one core)"
    )
    print("relay = MediaRelay (decode once, encode per subscriber); forward = encoded frames forwarded")
    print("fps is what each subscriber decoded: below the source's, the machine was saturated.")
    print(
        f"{'path':>8} {'subscribers':>11} {'server CPU':>11} {'CPU/subscriber':>15} {'vs relay':>9} "
        f"{'join→frame ms':>14} {'vs relay':>9} {'fps':>5}"
    )
    for (mode, n), r in results.items():
        base = results[("relay", n)]
        print(
            f"{mode:>8} {n:>11} {100 * r['cpu_total']:>10.1f}% {100 * r['cpu_per_subscriber']:>14.2f}% "
            f"{r['cpu_per_subscriber'] / base['cpu_per_subscriber']:>9.3f} {r['first_frame_ms']:>14.0f} "
            f"{r['first_frame_ms'] / base['first_frame_ms']:>9.2f} {r['fps']:>5.1f}"
        )
    print(
        f"\ncapacity with forwarding: clients count complete encoded frames (no decoding); target {TARGET_FPS} fps"
    )
    print(
        f"{'subscribers':>11} {'server CPU':>11} {'CPU/subscriber':>15} {'mean fps':>9} {'min fps':>8} "
        f"{'clients CPU':>12}"
    )
    largest = 0
    for n in CAPACITY:
        r = asyncio.run(run_case("forward", n, decode=False))
        print(
            f"{n:>11} {100 * r['cpu_total']:>10.1f}% {100 * r['cpu_per_subscriber']:>14.2f}% "
            f"{r['fps']:>9.1f} {r['min_fps']:>8.1f} {100 * r['clients_cpu']:>11.1f}%"
        )
        if r["min_fps"] < TARGET_FPS:
            break
        largest = n
    print(f"largest session measured at >= {TARGET_FPS} fps for every subscriber: {largest} subscribers")


async def soak(seconds: float) -> None:
    from realtime.video.ice import use_host_addresses

    use_host_addresses(["127.0.0.1"])
    process, server = await start_server("forward")
    clients: list[Client] = []
    try:
        publisher = Client(server, 1, publish=True)
        clients.append(publisher)
        await publisher.join()
        subscribers = [Client(server, 100 + n, publish=False) for n in range(SOAK_SUBSCRIBERS)]
        clients.extend(subscribers)
        for client in subscribers:
            await client.join()
        await asyncio.gather(*(asyncio.wait_for(c.first_frame, 60) for c in subscribers))
        print(f"soak: 1 publisher, {SOAK_SUBSCRIBERS} subscribers, forwarding, {WIDTH}x{HEIGHT} at {FPS} fps")
        print(f"{'t s':>6} {'min fps':>8} {'mean fps':>9} {'server CPU':>11} {'server RSS MiB':>15}")
        started = time.perf_counter()
        last = await server.sample()
        frames = [c.frames for c in subscribers]
        rss = []
        while (elapsed := time.perf_counter() - started) < seconds:
            await asyncio.sleep(min(SOAK_SAMPLE_SECONDS, seconds - elapsed))
            now = await server.sample()
            interval = now["seconds"] - last["seconds"]
            span = time.perf_counter() - started - elapsed
            fps = [(c.frames - f) / span for c, f in zip(subscribers, frames, strict=True)]
            frames, last = [c.frames for c in subscribers], now
            rss.append(now["rss"] / 2**20)
            print(
                f"{time.perf_counter() - started:>6.0f} {min(fps):>8.1f} {sum(fps) / len(fps):>9.1f} "
                f"{100 * interval / span:>10.1f}% {rss[-1]:>15.1f}"
            )
        half = len(rss) // 2
        if half:
            early, late = sum(rss[:half]) / half, sum(rss[half:]) / (len(rss) - half)
            print(f"server RSS: first half mean {early:.1f} MiB, second half mean {late:.1f} MiB")
    finally:
        await stop_server(process, server, clients)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        asyncio.run(serve(sys.argv[2]))
    elif sys.argv[1:2] == ["--soak"]:
        asyncio.run(soak(float(sys.argv[2]) if len(sys.argv) > 2 else 600.0))
    else:
        main()
