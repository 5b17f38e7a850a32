"""The `/live` namespace: live dashboards and request threads.

Client protocol (realtime.client.LiveClient implements it in Python; the browser client does the same)

1. Connect to namespace `/live`. Browsers send the session cookie; court systems pass
   `auth: {"token": "<API token>"}`. A refusal arrives as `connect_error` with
   `{"message", "data": {"code"}}` (code `not_authenticated`, `session_invalid`, `token_invalid`, ...).
   On connect the server puts the client into `court:<its court>`, `subtree:<its court>` (command staff
   only) and `user:<its id>` (users only).
2. Right after connecting, emit `resume` `{"rooms": {"<room>": <last seq or null>, ...}}` naming every
   room the client follows (`{}` the first time). For each room it may join, the server joins it and
   sends the events after the given seq, in order, to this client only; then it acknowledges
   `{"ok": true, "rooms": {"<room>": {"seq": <head>, "replayed": n, "resync": bool}}, "refused":
   {"<room>": "<reason>"}}`, listing every room the client is in. For a room without a last seq the
   client starts at the acknowledged `seq` (and loads that view over HTTP after the ack).
3. `join` `{"room", "last_seq"?}` enters one more room (replaying after `last_seq` when given) and is
   acknowledged `{"ok": true, "room", "seq", "replayed", "resync"}`, or `{"ok": false, "error":
   "forbidden", "message"}` (the refusal is audited). `leave` `{"room"}` leaves it.
4. Durable events are named `<domain>:<past_tense>` and carry `{"room", "seq", "event_id", "data"}`.
   Keep the last seq applied per room and, for each event:
   - seq <= last: a duplicate (at-least-once delivery, or a replay overlapping live events): drop it;
   - seq == last + 1: apply it, set last = seq, then apply any held events that now follow;
   - seq > last + 1: hold it and emit `resume` `{"rooms": {"<room>": last}}` (one at a time per room)
     so the server replays the gap.
   An event reaches a client once per room it is in (command staff hear an event in `court:X` and in
   `subtree:X`); apply each `event_id` once.
   Video sessions (realtime.video.events): `video:opened` (created, state "scheduled", or gone live,
   state "live") and `video:ended`, both `{"session_id", "state", "host_court", "created_at",
   "started_at", "ended_at"}` in `court:<host court>` and `subtree:<host court or a court above it>`;
   `video:invited` `{"session_id", "topic", "host_court", "host", "url"}` and `video:ended`
   `{"session_id", "topic"}` in the invitees' and participants' `user:<id>` rooms.
5. `resync` `{"room", "head"}`: the missed events are older than the replay window (or too many);
   reload the view over HTTP and continue with last = head.
6. Ephemeral events have no seq and are never replayed: `thread:typing` `{"request_id", "court",
   "user"}`, `presence:changed` `{"room", "change": "joined"|"left", "user"}`, `realtime:dropped`
   `{"reason"}`, and progress events from background jobs `{"room", "data"}`.
7. When the connection drops, reconnect (with backoff, to any node) and continue at step 2 with the
   last seq per room. After `realtime:dropped` (reason `slow_consumer`: the client fell more than
   `realtime_max_queued_packets` packets behind and its pending packets were discarded) or any
   server-side disconnect, reconnect as well: socket.io clients do not do that on their own then.
8. Every client event is acknowledged. Besides the answers above: `{"ok": false, "error":
   "rate_limited", "retry_after": <seconds>}`, `"payload_too_large"`, `"invalid_input"`,
   `"unknown_event"`, `"not_joined"`, `"not_found"`, `"unavailable"`.

Client events: `resume`, `join`, `leave`, `typing` `{"request_id"}` (to the request's room, once per
`realtime_typing_interval_seconds`), `read` `{"request_id", "last_message_id"}` (moves the court's
read mark; `assistance:thread_read` follows), `presence` `{"room"}` (who is online there), `ping`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import socketio
from pydantic import BaseModel, ValidationError

from command_center.audit import service as audit
from command_center.errors import AppError, NotAuthenticated
from command_center.identity.principal import Principal
from command_center.masking import mask_data
from realtime import rooms as policy
from realtime.fanout import LIVE
from realtime.limits import TokenBucket, payload_size
from realtime.presence import Presence, who
from realtime.replay import ReplayResult, heads, replay_room
from realtime.schemas import JoinBody, LeaveBody, PingBody, PresenceBody, ReadBody, ResumeBody, TypingBody

if TYPE_CHECKING:
    from command_center.services import Services

log = logging.getLogger(__name__)
PRESENCE_KINDS = ("court", "request")  # rooms whose members are listed as online


@dataclass
class Connection:
    """What this node knows about one connected client."""

    principal: Principal
    bucket: TokenBucket
    presence_rooms: set[str] = field(default_factory=set)
    typing_sent: dict[int, float] = field(default_factory=dict)


def refused(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"ok": False, "error": code, "message": message, **extra}


class LiveNamespace(socketio.AsyncNamespace):
    """Authenticates `/live` clients, keeps them in the rooms they may see, replays, relays threads."""

    def __init__(self, services: Services) -> None:
        super().__init__(LIVE)
        self.services = services
        self.clients: dict[str, Connection] = {}
        self.client_events = {
            "resume": (ResumeBody, self.resume),
            "join": (JoinBody, self.join),
            "leave": (LeaveBody, self.leave),
            "typing": (TypingBody, self.typing),
            "read": (ReadBody, self.read),
            "presence": (PresenceBody, self.presence_of),
            "ping": (PingBody, self.ping),
        }

    @property
    def presence(self) -> Presence:
        return self.services.extras["presence"]

    # --- connection ---------------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        """Authenticates (cookie or token), then enters the client's automatic rooms."""
        token = auth.get("token") if isinstance(auth, dict) else None
        if auth is not None and (not isinstance(auth, dict) or not isinstance(token, str | None)):
            raise socketio.exceptions.ConnectionRefusedError(
                'auth must be {"token": "<API token>"}', {"code": "invalid_auth"}
            )
        try:
            principal = await self.services.authenticator.authenticate_socket(
                cookie_header=environ.get("HTTP_COOKIE"), token=token
            )
        except NotAuthenticated as exc:
            raise socketio.exceptions.ConnectionRefusedError(exc.message, {"code": exc.code}) from None
        if principal is None:
            raise socketio.exceptions.ConnectionRefusedError(
                'Sign in first, or connect with auth {"token": "<API token>"}.', {"code": "not_authenticated"}
            )
        settings = self.services.settings
        client = Connection(
            principal,
            TokenBucket(rate=settings.realtime_events_per_second, burst=settings.realtime_event_burst),
        )
        self.clients[sid] = client
        for room in policy.automatic_rooms(principal):
            await self.enter(sid, client, room)

    async def on_disconnect(self, sid: str, reason: str | None = None) -> None:
        """Forgets the client and takes it out of presence."""
        client = self.clients.pop(sid, None)
        if client is None:
            return
        for room in sorted(client.presence_rooms):
            await self._presence_call(self.presence.remove, room, sid)

    async def enter(self, sid: str, client: Connection, room: str) -> None:
        """Puts the client in `room` (already authorized) and, for court and request rooms, in presence."""
        await self.enter_room(sid, room)
        kind = room.split(":", 1)[0]
        # Presence in a court room lists that court's own people, not visiting supervisors.
        own = kind != "court" or room == f"court:{client.principal.court_code}"
        if kind in PRESENCE_KINDS and own and room not in client.presence_rooms:
            client.presence_rooms.add(room)
            await self._presence_call(self.presence.add, room, sid, client.principal)

    async def _presence_call(self, fn: Any, *args: Any) -> None:
        # Presence is advisory: a Redis hiccup must not refuse a connection or a join.
        try:
            await fn(*args)
        except Exception:
            log.warning("presence update failed", exc_info=True)

    # --- dispatch -----------------------------------------------------------------------------

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Every client event passes the rate limit, the size limit and its schema before its handler."""
        if event in ("connect", "disconnect"):
            return await super().trigger_event(event, *args)
        sid, data = args[0], (args[1] if len(args) > 1 else None)
        client = self.clients.get(sid)
        if client is None:
            return refused("not_authenticated", "Connect again.")
        if not client.bucket.take():
            return refused(
                "rate_limited",
                "Too many events; slow down.",
                retry_after=round(client.bucket.retry_after(), 3),
            )
        settings = self.services.settings
        if len(args) > 2 or payload_size(data) > settings.realtime_max_event_bytes:
            return refused(
                "payload_too_large",
                f"An event may carry at most {settings.realtime_max_event_bytes} bytes of JSON.",
            )
        entry = self.client_events.get(event)
        if entry is None:
            return refused("unknown_event", f"There is no client event {event[:40]!r} on {LIVE}.")
        schema, handler = entry
        try:
            body = schema.model_validate({} if data is None and schema is PingBody else data)
        except ValidationError as exc:
            problems = [f"{'.'.join(map(str, e['loc'])) or '(body)'}: {e['msg']}" for e in exc.errors()[:5]]
            return refused("invalid_input", "; ".join(problems))
        try:
            return await handler(sid, client, body)
        except AppError as exc:
            return refused(exc.code, exc.message)
        except Exception:
            log.exception("client event %s failed", event)
            return refused("internal_error", "Something went wrong on our side.")

    # --- rooms --------------------------------------------------------------------------------

    def joined(self, sid: str) -> set[str]:
        return {room for room in self.rooms(sid) if room != sid}

    async def _authorize(self, client: Connection, rooms: list[str]) -> dict[str, str]:
        """Refusal reasons for the rooms the client may not join (the others are absent); audits each."""
        reasons: dict[str, str] = {}
        async with self.services.db.unit_of_work(read_only=True) as session:
            for room in rooms:
                reason = await policy.refusal(session, client.principal, self.services.directory, room)
                if reason is not None:
                    reasons[room] = reason
        for room, reason in reasons.items():
            # After the read's unit of work: on SQLite the audit append needs the write lock.
            await audit.record_in_own_transaction(
                self.services.db,
                action="realtime.join_denied",
                actor=client.principal,
                subject_type="socket_room",
                subject_id=room,
                outcome="denied",
                details={"reason": reason},
            )
        return reasons

    async def _catch_up(self, sid: str, room: str, last_seq: int | None) -> dict[str, Any]:
        if last_seq is None:
            head = (await heads(self.services.db, [room]))[room]
            return ReplayResult(room, head, 0, False).as_ack()

        async def send(name: str, body: dict[str, Any]) -> None:
            await self.emit(name, body, to=sid, ignore_queue=True)

        result = await replay_room(
            self.services.db,
            send,
            room=room,
            after_seq=last_seq,
            limit=self.services.settings.realtime_replay_limit,
        )
        if result.resync:
            await self.emit("resync", {"room": room, "head": result.head}, to=sid, ignore_queue=True)
        return result.as_ack()

    async def join(self, sid: str, client: Connection, body: JoinBody) -> dict[str, Any]:
        """Enters a room the client may see (refusals audited), replaying after `last_seq` if given."""
        if body.room not in self.joined(sid):
            reasons = await self._authorize(client, [body.room])
            if body.room in reasons:
                return refused("forbidden", reasons[body.room])
            await self.enter(sid, client, body.room)
        return {"ok": True, "room": body.room, **await self._catch_up(sid, body.room, body.last_seq)}

    async def leave(self, sid: str, client: Connection, body: LeaveBody) -> dict[str, Any]:
        """Leaves a room (and its presence)."""
        await self.leave_room(sid, body.room)
        if body.room in client.presence_rooms:
            client.presence_rooms.discard(body.room)
            await self._presence_call(self.presence.remove, body.room, sid)
        return {"ok": True, "room": body.room}

    async def resume(self, sid: str, client: Connection, body: ResumeBody) -> dict[str, Any]:
        """Rejoins the named rooms the client may see and replays each after its last seq."""
        current = self.joined(sid)
        reasons = await self._authorize(client, [room for room in body.rooms if room not in current])
        results: dict[str, dict[str, Any]] = {}
        for room, last_seq in body.rooms.items():
            if room in reasons:
                continue
            if room not in current:
                await self.enter(sid, client, room)
            if last_seq is not None:
                results[room] = await self._catch_up(sid, room, last_seq)
        rest = sorted(self.joined(sid) - results.keys())
        for room, head in (await heads(self.services.db, rest)).items():
            results[room] = ReplayResult(room, head, 0, False).as_ack()
        return {"ok": True, "rooms": results, "refused": reasons}

    # --- threads and presence -----------------------------------------------------------------

    async def typing(self, sid: str, client: Connection, body: TypingBody) -> dict[str, Any]:
        """Tells the request's room (but the sender) that the client is typing; at most once per interval."""
        room = f"request:{body.request_id}"
        if room not in self.joined(sid):
            return refused("not_joined", f"Join {room} first.")
        now, interval = time.monotonic(), self.services.settings.realtime_typing_interval_seconds
        last = client.typing_sent.get(body.request_id)
        if last is not None and now - last < interval:
            return {"ok": True, "sent": False}
        if len(client.typing_sent) > 64:
            client.typing_sent = {k: t for k, t in client.typing_sent.items() if now - t < interval}
        client.typing_sent[body.request_id] = now
        payload = mask_data(
            {
                "request_id": body.request_id,
                "court": client.principal.court_code,
                "user": who(client.principal),
            }
        )
        await self.emit("thread:typing", payload, room=room, skip_sid=sid)
        return {"ok": True, "sent": True}

    async def read(self, sid: str, client: Connection, body: ReadBody) -> dict[str, Any]:
        """Moves the client's court's read mark in the thread (the thread service emits the receipt)."""
        from assistance.requests.messages import mark_read

        async with self.services.db.unit_of_work() as session:
            mark = await mark_read(
                session,
                principal=client.principal,
                directory=self.services.directory,
                request_id=body.request_id,
                last_message_id=body.last_message_id,
            )
        relay = self.services.extras.get("relay")
        if relay is not None and mark.advanced:
            relay.wake()
        return {
            "ok": True,
            "request_id": mark.request_id,
            "court": mark.court,
            "last_message_id": mark.last_message_id,
            "advanced": mark.advanced,
        }

    async def presence_of(self, sid: str, client: Connection, body: PresenceBody) -> dict[str, Any]:
        """Who is online in a court or request room the client may join."""
        if body.room not in self.joined(sid):
            reasons = await self._authorize(client, [body.room])
            if body.room in reasons:
                return refused("forbidden", reasons[body.room])
        try:
            online = await self.presence.online(body.room)
        except Exception:
            log.warning("presence query failed", exc_info=True)
            return refused("unavailable", "Presence is unavailable right now.")
        return {"ok": True, "room": body.room, "online": online}

    async def ping(self, sid: str, client: Connection, body: BaseModel) -> dict[str, Any]:
        """Answers at once (clients measure their connection with it)."""
        return {"ok": True}
