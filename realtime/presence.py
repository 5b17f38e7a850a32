"""Who is online, per court room and per request room, across every app node (kept in Redis).

Each node has an id and a heartbeat key that expires after `realtime_presence_ttl_seconds`. A
connection's entry in a room is keyed by node and sid, so a dead node's entries are recognisable:
readers skip entries of nodes without a heartbeat, and the first live node to notice sweeps them and
announces the departures. A principal (user or court system) with several connections counts once:
`presence:changed` says `joined` on its first connection in a room and `left` after its last.

Keys (prefix `cc:rt:`):
  node:<node>               heartbeat, with a TTL
  nodes                     every node that registered and was not swept yet
  presence:<room>           hash  "<node>|<sid>" -> JSON {"key": "<kind>:<id>", "who": {...}}
  presence-count:<room>     hash  "<kind>:<id>" -> live connections of that principal in the room
  node-entries:<node>       set   "<room>\\n<node>|<sid>", what to sweep when the node dies
The scripts below change these together, so a crash between two writes cannot skew the counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from command_center.identity.principal import Principal
from command_center.masking import mask_data

log = logging.getLogger(__name__)
PREFIX = "cc:rt:"

# KEYS: presence, counts, node-entries. ARGV: field, principal key, value, room.
_ADD = """
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[3]) == 0 then return -1 end
redis.call('SADD', KEYS[3], ARGV[4] .. '\\n' .. ARGV[1])
return redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
"""
# KEYS: presence, counts, node-entries. ARGV: field, room. Returns the principal's remaining count
# and the entry, or -1 when the entry was not there (already swept).
_REMOVE = """
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return {-1, ''} end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[2] .. '\\n' .. ARGV[1])
local key = cjson.decode(value)['key']
local left = redis.call('HINCRBY', KEYS[2], key, -1)
if left <= 0 then redis.call('HDEL', KEYS[2], key) end
return {left, value}
"""
# KEYS: node-entries, nodes. ARGV: prefix, node. Removes every entry of the node; returns
# [room, value] pairs of principals whose last connection in the room went with it.
_SWEEP = """
local gone = {}
for _, member in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local cut = string.find(member, '\\n', 1, true)
  local room = string.sub(member, 1, cut - 1)
  local field = string.sub(member, cut + 1)
  local value = redis.call('HGET', ARGV[1] .. 'presence:' .. room, field)
  if value then
    redis.call('HDEL', ARGV[1] .. 'presence:' .. room, field)
    local key = cjson.decode(value)['key']
    local left = redis.call('HINCRBY', ARGV[1] .. 'presence-count:' .. room, key, -1)
    if left <= 0 then
      redis.call('HDEL', ARGV[1] .. 'presence-count:' .. room, key)
      table.insert(gone, room)
      table.insert(gone, value)
    end
  end
end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return gone
"""

Announce = Callable[[str, str, dict[str, Any]], Awaitable[None]]  # (room, "joined"/"left", who)


def who(principal: Principal) -> dict[str, Any]:
    """How a principal appears in presence and typing events: no personal data beyond its account name."""
    return mask_data(
        {
            "kind": principal.kind,
            "id": principal.id,
            "name": principal.name,
            "court": principal.court_code,
            "role": principal.role.value,
        }
    )


def principal_key(principal: Principal) -> str:
    return f"{principal.kind}:{principal.id}"


class Presence:
    """One node's view of presence: adds and removes its connections, heartbeats, sweeps dead nodes."""

    def __init__(
        self, redis: Redis, announce: Announce, *, ttl_seconds: float, node_id: str | None = None
    ) -> None:
        self.redis = redis
        self.announce = announce
        self.ttl_seconds = ttl_seconds
        self.node_id = node_id or uuid.uuid4().hex[:16]
        self._add = redis.register_script(_ADD)
        self._remove = redis.register_script(_REMOVE)
        self._sweep = redis.register_script(_SWEEP)
        self._task: asyncio.Task[None] | None = None

    def _keys(self, room: str, node: str | None = None) -> list[str]:
        node = node or self.node_id
        return [f"{PREFIX}presence:{room}", f"{PREFIX}presence-count:{room}", f"{PREFIX}node-entries:{node}"]

    async def add(self, room: str, sid: str, principal: Principal) -> None:
        """Records the connection `sid` in `room`; announces `joined` when it is the principal's first."""
        body = {"key": principal_key(principal), "who": who(principal)}
        count = await self._add(
            keys=self._keys(room), args=[f"{self.node_id}|{sid}", body["key"], json.dumps(body), room]
        )
        if int(count) == 1:
            await self.announce(room, "joined", body["who"])

    async def remove(self, room: str, sid: str) -> None:
        """Forgets the connection `sid` in `room`; announces `left` when it was the principal's last."""
        left, value = await self._remove(keys=self._keys(room), args=[f"{self.node_id}|{sid}", room])
        if int(left) == 0:
            await self.announce(room, "left", json.loads(value)["who"])

    async def online(self, room: str) -> list[dict[str, Any]]:
        """Who is in `room` on a live node, one entry per principal with its number of connections."""
        entries = await self.redis.hgetall(f"{PREFIX}presence:{room}")
        if not entries:
            return []
        nodes = sorted({field.split("|", 1)[0] for field in entries})
        alive = await self.redis.mget([f"{PREFIX}node:{node}" for node in nodes])
        live_nodes = {node for node, beat in zip(nodes, alive, strict=True) if beat is not None}
        people: dict[str, dict[str, Any]] = {}
        for field, value in entries.items():
            if field.split("|", 1)[0] not in live_nodes:
                continue  # a dead node's entry, not swept yet
            body = json.loads(value)
            person = people.setdefault(body["key"], {**body["who"], "connections": 0})
            person["connections"] += 1
        return sorted(people.values(), key=lambda person: (person["court"], person["kind"], person["id"]))

    async def heartbeat(self) -> None:
        """Marks this node alive for another TTL and sweeps nodes whose heartbeat expired."""
        await self.redis.set(f"{PREFIX}node:{self.node_id}", "1", px=int(self.ttl_seconds * 1000))
        await self.redis.sadd(f"{PREFIX}nodes", self.node_id)
        nodes = sorted(await self.redis.smembers(f"{PREFIX}nodes"))
        if not nodes:
            return
        beats = await self.redis.mget([f"{PREFIX}node:{node}" for node in nodes])
        for node, beat in zip(nodes, beats, strict=True):
            if beat is None and node != self.node_id:
                await self.sweep(node)

    async def sweep(self, node: str) -> None:
        """Removes a dead node's entries and announces who left with them; one sweeper per node."""
        claimed = await self.redis.set(f"{PREFIX}sweep:{node}", self.node_id, nx=True, ex=30)
        if not claimed:
            return
        gone = await self._sweep(keys=[f"{PREFIX}node-entries:{node}", f"{PREFIX}nodes"], args=[PREFIX, node])
        for room, value in zip(gone[::2], gone[1::2], strict=True):
            await self.announce(room, "left", json.loads(value)["who"])
        log.info("swept presence of node %s: %d departures", node, len(gone) // 2)

    async def start(self) -> None:
        """Beats now and then every third of the TTL, in a task of its own."""
        await self.heartbeat()
        self._task = asyncio.create_task(self._beat_forever(), name=f"presence-heartbeat-{self.node_id}")

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_seconds / 3)
            try:
                await self.heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("presence heartbeat failed; retrying", exc_info=True)

    async def stop(self) -> None:
        """Stops beating and removes this node's remaining entries (a graceful shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.redis.delete(f"{PREFIX}node:{self.node_id}")
            await self.sweep(self.node_id)
