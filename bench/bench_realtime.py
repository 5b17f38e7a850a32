"""Real-time fan-out, acknowledgement round trip and a stalled client, against raw `websockets`.

Both servers run in a process of their own: the app (`command-center serve`, SQLite and a private
Redis) and a bare `websockets` server that broadcasts and echoes. The 1,000 clients live in this
process and use the `websockets` library for both, without compression; the socket.io clients speak
the engine.io/socket.io wire protocol directly (open, namespace connect with an API token, events,
acks, pong), so the client-side cost is the same on both sides and the ratios measure the servers.

- fanout: one event emitted by a worker (the write-only Redis emitter) until the last of 1,000 clients
  has it, vs one `websockets.broadcast` to 1,000 connections triggered by a control message.
- ack: p50 of a `ping` event's acknowledgement vs a raw echo.
- stall: bursts of 100 events of 4 KiB to 1,000 clients; the time until the healthy clients have a
  burst, with one client that stopped reading vs without it, and the server's memory meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

CLIENTS = int(os.environ.get("BENCH_REALTIME_CLIENTS", "1000"))
FANOUT_ROUNDS = 15
ACK_ROUNDS = 400
FLOOD_CHUNK = 100
FLOOD_BYTES = 4096
STALL_ROUNDS = 40  # 40 x 100 x 4 KiB = 16 MiB of backlog for one client
COURT = "330106"
OTHER_COURT = "330105"
ROOM = f"court:{COURT}"


def say(text: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


# --- servers --------------------------------------------------------------------------------------


def raw_server(port: int) -> None:
    """The baseline: every connection is a listener; "bcast <text>" is broadcast to all others, "echo
    <text>" is sent back."""

    async def serve() -> None:
        listeners: set[Any] = set()

        async def handler(ws: Any) -> None:
            listeners.add(ws)
            try:
                async for message in ws:
                    if message.startswith("bcast "):
                        websockets.broadcast([c for c in listeners if c is not ws], message[6:])
                    elif message.startswith("echo "):
                        await ws.send(message[5:])
            finally:
                listeners.discard(ws)

        async with websockets.serve(handler, "127.0.0.1", port, compression=None, max_queue=None):
            await asyncio.Future()

    asyncio.run(serve())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server process exited while starting")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port}")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def prepare_database(database_url: str) -> dict[str, str]:
    """Migrates, loads the courts and returns API tokens: of the bench court, and of another court."""
    from command_center.courts.service import load_courts
    from command_center.db import Database
    from command_center.identity import service as identity
    from command_center.migrate import upgrade
    from command_center.settings import Settings

    db = Database.from_settings(Settings(database_url=database_url))
    try:
        await upgrade(db.engine)
        async with db.unit_of_work() as session:
            await load_courts(session)
        async with db.unit_of_work() as session:
            _, clients = await identity.create_token(session, court_code=COURT, name="bench clients")
            _, control = await identity.create_token(session, court_code=OTHER_COURT, name="bench control")
        return {"clients": clients, "control": control}
    finally:
        await db.dispose()


# --- clients --------------------------------------------------------------------------------------


class Arrivals:
    """When each of `expected` clients received message `key`; `done(key)` fires with the last."""

    def __init__(self) -> None:
        self.expected = 0
        self.counts: dict[Any, int] = {}
        self.last: dict[Any, float] = {}
        self.events: dict[Any, asyncio.Event] = {}

    def expect(self, key: Any, clients: int) -> asyncio.Event:
        self.expected = clients
        self.counts[key] = 0
        self.events[key] = asyncio.Event()
        return self.events[key]

    def arrived(self, key: Any) -> None:
        if key not in self.counts:
            return
        self.counts[key] += 1
        if self.counts[key] == self.expected:
            self.last[key] = time.perf_counter()
            self.events[key].set()


async def open_ws(port: int, path: str, *, receive_buffer: int | None = None) -> ClientConnection:
    sock = None
    if receive_buffer:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return await connect(
        f"ws://127.0.0.1:{port}{path}",
        compression=None,
        max_size=None,
        max_queue=1 if receive_buffer else 16,
        ping_interval=None,
        sock=sock,
        open_timeout=60,
    )


SIDS: dict[int, str] = {}


def live_sid(ws: ClientConnection) -> str:
    return SIDS[id(ws)]


async def open_live(port: int, token: str, **kwargs: Any) -> ClientConnection:
    """An engine.io WebSocket connected to namespace /live with an API token."""
    ws = await open_ws(port, "/socket.io/?EIO=4&transport=websocket", **kwargs)
    opening = await ws.recv()
    assert opening.startswith("0"), opening
    await ws.send("40/live," + json.dumps({"token": token}))
    while True:
        message = await ws.recv()
        if message.startswith("40/live,"):
            SIDS[id(ws)] = json.loads(message[8:])["sid"]  # also the name of its own room
            return ws
        if message.startswith("44/live,"):
            raise ConnectionError(message)


async def read_live(ws: ClientConnection, on_event: Callable[[str, Any], None]) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for message in ws:
            if message == "2":
                await ws.send("3")  # engine.io pong
            elif message.startswith("42/live,"):
                name, body = json.loads(message[8:])
                on_event(name, body)


async def read_raw(ws: ClientConnection, on_message: Callable[[str], None]) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for message in ws:
            on_message(message)


async def open_many(opener: Callable[[], Any], count: int, batch: int = 100) -> list[ClientConnection]:
    clients: list[ClientConnection] = []
    while len(clients) < count:
        clients += await asyncio.gather(*(opener() for _ in range(min(batch, count - len(clients)))))
    return clients


# --- measurements ---------------------------------------------------------------------------------


async def measure(
    raw_port: int, app_port: int, pid: int, tokens: dict[str, str], redis_url: str
) -> dict[str, Any]:
    """Fan-out and acknowledgement rounds alternate between the two servers, so both see the same
    background load; then the stall rounds on the app alone."""
    from realtime.emitter import Emitter

    arrivals = Arrivals()

    def on_event(name: str, body: Any) -> None:
        if name == "bench:measured":
            arrivals.arrived(body["data"]["k"])

    say(f"connecting {CLIENTS} raw clients and {CLIENTS} socket.io clients")
    raw_clients = await open_many(lambda: open_ws(raw_port, "/"), CLIENTS)
    live_clients = await open_many(lambda: open_live(app_port, tokens["clients"]), CLIENTS)
    readers = [
        asyncio.create_task(read_raw(ws, lambda m: arrivals.arrived(json.loads(m)["k"])))
        for ws in raw_clients
    ]
    readers += [asyncio.create_task(read_live(ws, on_event)) for ws in live_clients]
    raw_control = await open_ws(raw_port, "/")
    live_control = await open_live(app_port, tokens["control"])  # another court: not in the room
    emitter = Emitter(redis_url)

    async def raw_fanout(k: int) -> float:
        done = arrivals.expect(f"raw-{k}", CLIENTS)
        started = time.perf_counter()
        await raw_control.send(
            "bcast " + json.dumps({"room": ROOM, "data": {"k": f"raw-{k}"}, "k": f"raw-{k}"})
        )
        await done.wait()
        return arrivals.last[f"raw-{k}"] - started

    async def live_fanout(k: Any) -> float:
        done = arrivals.expect(f"live-{k}", CLIENTS)
        started = time.perf_counter()
        await emitter.emit("bench:measured", room=ROOM, data={"k": f"live-{k}"})
        await done.wait()
        return arrivals.last[f"live-{k}"] - started

    async def raw_echo(i: int) -> float:
        started = time.perf_counter()
        await raw_control.send(f"echo {i}")
        await raw_control.recv()
        return time.perf_counter() - started

    async def live_ping(i: int) -> float:
        started = time.perf_counter()
        await live_control.send(f'42/live,{i}["ping",{{}}]')  # an event with ack id i
        while not (await live_control.recv()).startswith(f"43/live,{i}["):
            pass
        return time.perf_counter() - started

    try:
        say("fan-out and acknowledgement rounds, alternating")
        fanout: dict[str, list[float]] = {"raw": [], "live": []}
        for k in range(FANOUT_ROUNDS):
            for kind in ("raw", "live") if k % 2 == 0 else ("live", "raw"):
                fanout[kind].append(await (raw_fanout if kind == "raw" else live_fanout)(k))
        ack: dict[str, list[float]] = {"raw": [], "live": []}
        for i in range(ACK_ROUNDS):
            ack["raw"].append(await raw_echo(i))
            ack["live"].append(await live_ping(i))
        for ws in [raw_control, *raw_clients]:
            await ws.close()

        async def flooded_rounds(target: str, tag: str) -> list[float]:
            """Rounds of: a backlog of FLOOD_CHUNK events of FLOOD_BYTES for `target` alone, then one
            event to everyone, timed until the last of the CLIENTS readers has it."""
            pad, times = "x" * FLOOD_BYTES, []
            for r in range(STALL_ROUNDS):
                for i in range(FLOOD_CHUNK):
                    body = {"room": target, "data": {"k": f"{tag}{r}-{i}", "pad": pad}}
                    await emitter.manager.emit("bench:flooded", body, namespace="/live", room=target)
                times.append(await live_fanout(f"{tag}{r}"))
            return times

        say("a backlog for one reading client, then for one that stopped reading")
        # The same backlog goes first to a client that reads it, then to one that stopped reading
        # (a small receive buffer, and nobody reads): only the stall differs between the two runs.
        sink = await open_live(app_port, tokens["clients"])
        sink_reader = asyncio.create_task(read_live(sink, lambda name, body: None))
        healthy = await flooded_rounds(live_sid(sink), "ok")
        memory_before = rss_mib(pid)
        stalled = await open_live(app_port, tokens["clients"], receive_buffer=4096)
        with_stall = await flooded_rounds(live_sid(stalled), "stall")
        memory_after = rss_mib(pid)
        sink_reader.cancel()
        await sink.close()
        # Now it reads: what it gets ends with the notice that it was dropped.
        received, dropped = 0, False
        with contextlib.suppress(websockets.ConnectionClosed, TimeoutError):
            async with asyncio.timeout(60):
                async for message in stalled:
                    if message.startswith("42/live,"):
                        name, _ = json.loads(message[8:])
                        received += name == "bench:flooded"
                        dropped = dropped or name == "realtime:dropped"
    finally:
        await emitter.close()
    for ws in [live_control, *live_clients]:
        await ws.close()
    for reader in readers:
        reader.cancel()
    return {
        "fanout": {kind: statistics.median(times) for kind, times in fanout.items()},
        "ack": {kind: statistics.median(times) for kind, times in ack.items()},
        "flooded_healthy": statistics.median(healthy),
        "flooded_stalled": statistics.median(with_stall),
        "memory_before": memory_before,
        "memory_after": memory_after,
        "stalled_received": received,
        "stalled_dropped": dropped,
    }


# --- main -----------------------------------------------------------------------------------------


def spawn(
    argv: list[str], *, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen[bytes]:
    if log is None:
        return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def run(tmp: Path) -> None:
    from command_center.redis_server import PrivateRedis

    redis = PrivateRedis(tmp / "redis")
    redis_url = redis.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        database_url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
        tokens = await prepare_database(database_url)

        raw_port = free_port()
        raw = spawn(
            [sys.executable, "-c", f"from bench.bench_realtime import raw_server; raw_server({raw_port})"]
        )
        processes.append(raw)
        app_port = free_port()
        env = {
            **os.environ,
            "CC_DATABASE_URL": database_url,
            "CC_REDIS_URL": redis_url,
            "CC_SECRET_KEY": "bench-secret-" + "x" * 40,
            "CC_VAR_DIR": str(tmp / "var"),
            "CC_LOG_LEVEL": "WARNING",
            "CC_LOG_JSON": "false",
            "CC_REALTIME_EVENTS_PER_SECOND": "100000",
            "CC_REALTIME_EVENT_BURST": "100000",
        }
        app = spawn(
            [sys.executable, "-m", "command_center", "serve", "--host", "127.0.0.1", "--port", str(app_port)],
            env=env,
            log=tmp / "app.log",
        )
        processes.append(app)
        await wait_listening(raw_port, raw)
        await wait_listening(app_port, app)
        result = await measure(raw_port, app_port, app.pid, tokens, redis_url)
    finally:
        for process in processes:
            _stop(process)
        redis.stop()

    live, fanout, ack = result, result["fanout"], result["ack"]
    print(
        f"fanout {CLIENTS}: {fanout['live']:.3f} s vs raw {fanout['raw']:.3f} s "
        f"= {fanout['live'] / fanout['raw']:.1f}x (target <= 5x)"
    )
    print(
        f"ack p50: {ack['live'] * 1000:.2f} ms vs raw echo {ack['raw'] * 1000:.2f} ms "
        f"= {ack['live'] / ack['raw']:.1f}x (target <= 3x)"
    )
    backlog_mib = STALL_ROUNDS * FLOOD_CHUNK * FLOOD_BYTES / 2**20
    print(
        f"stalled 1 of {CLIENTS + 1}: fanout {live['flooded_stalled']:.3f} s vs {live['flooded_healthy']:.3f} s "
        f"when the backlog's client reads = {live['flooded_stalled'] / live['flooded_healthy']:.2f}x (target <= 1.2x)"
    )
    print(
        f"stalled client: server memory {live['memory_before']:.0f} MiB -> {live['memory_after']:.0f} MiB "
        f"under a {backlog_mib:.0f} MiB backlog; it got {live['stalled_received']} of "
        f"{STALL_ROUNDS * FLOOD_CHUNK} events and "
        f"{'was dropped as a slow consumer' if live['stalled_dropped'] else 'was NOT dropped'}"
    )


async def _run_until_terminated(tmp: Path) -> None:
    # SIGTERM cancels the run, so the servers and Redis it started are stopped on the way out.
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await run(tmp)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-realtime-") as tmp:
        asyncio.run(_run_until_terminated(Path(tmp)))


if __name__ == "__main__":
    main()
