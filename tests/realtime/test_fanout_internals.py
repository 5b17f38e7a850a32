"""The python-socketio internals the batch fan-out relies on (realtime.fanout's module docstring): if an
upgrade changes them, these fail before any event goes missing."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
import socketio

from command_center.outbox.relay import OutboxMessage
from command_center.redis_server import free_port
from realtime.fanout import (
    BATCH_ROOM,
    CHANNEL,
    LIVE,
    FanoutManager,
    FanoutUnavailable,
    must_reach_every_node,
)
from realtime.rooms import parse_room

XIHU_ROOM = "court:330106"
EMPTY_ROOM = "court:330105"


class ListeningManager(FanoutManager):
    """A FanoutManager whose Redis subscription hands over the given raw messages, then stays quiet."""

    def __init__(self, url: str) -> None:
        super().__init__(url, channel=CHANNEL)
        self.incoming: list[bytes] = []
        self.drained = asyncio.Event()
        self.decoded = 0

    async def _redis_listen_with_retries(self) -> AsyncIterator[dict[str, Any]]:
        for data in self.incoming:
            yield {"type": "message", "channel": self.channel.encode(), "data": data}
        self.drained.set()  # asked for the next message: the last one has been handled
        await asyncio.Event().wait()

    async def listen(self) -> None:
        """Runs python-socketio's listener task until every incoming message has been handled."""
        decode = self.json.loads

        def counting_loads(data: Any) -> Any:
            self.decoded += 1
            return decode(data)

        self.json = SimpleNamespace(loads=counting_loads, dumps=self.json.dumps)
        task = asyncio.create_task(self._thread())
        try:
            await asyncio.wait_for(self.drained.wait(), timeout=10)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _client_in_xihu(manager: Any) -> list[tuple[str, Any]]:
    """Serves `manager` with one client (engine.io session "e1") in XIHU_ROOM; returns what it is sent."""
    server = socketio.AsyncServer(client_manager=manager, async_mode="asgi", logger=False)
    sent: list[tuple[str, Any]] = []

    async def send(eio_sid: str, eio_packet: Any) -> None:
        # A socket.io EVENT packet on engine.io: '2/live,["name",{body}]'.
        sent.append((eio_sid, json.loads(eio_packet.data[eio_packet.data.index("[") :])))

    server._send_eio_packet = send
    manager.basic_enter_room("s1", LIVE, None, eio_sid="e1")
    manager.basic_enter_room("s1", LIVE, XIHU_ROOM, eio_sid="e1")
    return sent


@pytest.fixture
def node() -> tuple[ListeningManager, list[tuple[str, Any]]]:
    """A node's manager (its Redis address unreachable) with a client in XIHU_ROOM, and what it is sent."""
    manager = ListeningManager(f"redis://127.0.0.1:{free_port()}/0")
    return manager, _client_in_xihu(manager)


def _events(room: str, seqs: range) -> list[OutboxMessage]:
    return [
        OutboxMessage(
            room=room, seq=s, name="assistance:routed", payload_json=json.dumps({"n": s}), event_id=f"ev{s}"
        )
        for s in seqs
    ]


def _delivered(events: list[OutboxMessage], room: str) -> list[tuple[str, list[Any]]]:
    """What a client in `room` is sent of `events`."""
    return [
        (
            "e1",
            [event.name, {"room": room, "seq": event.seq, "event_id": event.event_id, "data": event.payload}],
        )
        for event in events
        if event.room == room
    ]


async def test_the_listener_hands_another_nodes_batch_to_handle_emit_which_fills_each_room(
    node: tuple[ListeningManager, list[tuple[str, Any]]],
) -> None:
    manager, sent = node
    other = FanoutManager("redis://unused")
    other.max_publish_bytes = 600
    events = (
        _events(XIHU_ROOM, range(1, 4)) + _events(EMPTY_ROOM, range(1, 3)) + _events(XIHU_ROOM, range(4, 6))
    )
    manager.incoming = list(other._batch_messages(LIVE, events))
    assert len(manager.incoming) > 1
    await manager.listen()
    assert manager.decoded == len(manager.incoming)
    assert sent == _delivered(events, XIHU_ROOM)


async def test_the_listener_skips_this_nodes_own_batches_without_decoding_them(
    node: tuple[ListeningManager, list[tuple[str, Any]]],
) -> None:
    manager, sent = node
    own = list(manager._batch_messages(LIVE, _events(XIHU_ROOM, range(1, 3))))
    ordinary = {
        "method": "emit",
        "event": "presence:changed",
        "data": [{"room": XIHU_ROOM}],
        "room": XIHU_ROOM,
    }
    manager.incoming = [*own, json.dumps({**ordinary, "namespace": LIVE, "host_id": "another"}).encode()]
    await manager.listen()
    assert manager.decoded == 1
    assert sent == [("e1", ["presence:changed", {"room": XIHU_ROOM}])]


async def test_a_node_without_batches_sends_one_to_nobody() -> None:
    plain = socketio.AsyncRedisManager(f"redis://127.0.0.1:{free_port()}/0")
    sent = _client_in_xihu(plain)
    [raw] = FanoutManager("redis://unused")._batch_messages(LIVE, _events(XIHU_ROOM, range(1, 3)))
    # python-socketio's own handling of an emit from another node: to BATCH_ROOM, where nobody can be.
    await plain._handle_emit(json.loads(raw))
    assert sent == []
    assert parse_room(BATCH_ROOM) is None  # so no client is ever let into it


def test_local_participants_follow_python_socketios_room_table(
    node: tuple[ListeningManager, list[tuple[str, Any]]],
) -> None:
    manager, _ = node
    assert manager._has_local_participants(LIVE, XIHU_ROOM)
    assert not manager._has_local_participants(LIVE, EMPTY_ROOM)
    assert not manager._has_local_participants("/video", XIHU_ROOM)
    manager.basic_leave_room("s1", LIVE, XIHU_ROOM)
    assert not manager._has_local_participants(LIVE, XIHU_ROOM)  # an emptied room is removed


async def test_an_ordinary_emit_is_delivered_here_and_published_through_the_strict_publish(
    node: tuple[ListeningManager, list[tuple[str, Any]]],
) -> None:
    manager, sent = node
    body = {"room": XIHU_ROOM, "change": "joined", "user": {"id": 1}}
    await manager.emit("presence:changed", body, namespace=LIVE, room=XIHU_ROOM)  # logged, not raised
    with must_reach_every_node(), pytest.raises(FanoutUnavailable):
        await manager.emit("presence:changed", body, namespace=LIVE, room=XIHU_ROOM)
    assert sent == [("e1", ["presence:changed", body])] * 2


async def test_a_batch_that_cannot_be_published_raises_after_local_delivery(
    node: tuple[ListeningManager, list[tuple[str, Any]]],
) -> None:
    manager, sent = node
    events = _events(XIHU_ROOM, range(1, 3)) + _events(EMPTY_ROOM, range(1, 2))
    with must_reach_every_node(), pytest.raises(FanoutUnavailable):
        await manager.emit_batch(events)
    assert sent == _delivered(events, XIHU_ROOM)
