"""The `/video` socket.io namespace: lobby, SDP and ICE exchange, moderation, chat, directives, quality.

A client connects with its session cookie (or an API token) and the join token from
`POST /api/v1/video-sessions/{id}/join` in `auth`, then sends `hello`. The server makes every offer; the
client answers and trickles its candidates. Client events: `hello`, `answer`, `candidate`, `screen`,
`chat`; host only: `lobby:admit`, `mute`, `remove`, `end`, `directive`. Server events: `lobby:waiting`,
`lobby`, `admitted`, `offer`, `participants`, `participant:left`, `muted`, `removed`, `ended`, `chat`,
`directive`, `stats`, `error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import socketio
from pydantic import ValidationError

from command_center.errors import AppError
from command_center.identity.principal import Principal
from realtime.video import service
from realtime.video.credentials import read_join_token
from realtime.video.media import Peer, VideoHub
from realtime.video.models import (
    DirectiveCreate,
    DirectiveRead,
    ParticipantRole,
    ParticipantState,
    VideoSession,
)
from realtime.video.recording import ClosedSegment

if TYPE_CHECKING:
    from command_center.services import Services

log = logging.getLogger(__name__)
NAMESPACE = "/video"
SHANGHAI = ZoneInfo("Asia/Shanghai")
QUALITY_SECONDS = 2.0
MAX_CHAT = 2000


def room_of(session_id: int) -> str:
    return f"video:{session_id}"


def host_room_of(session_id: int) -> str:
    return f"video:{session_id}:host"


@dataclass
class Member:
    """One connected socket: who, in which session, with which role."""

    sid: str
    principal: Principal
    session_id: int
    role: ParticipantRole
    name: str
    admitted: bool = False
    peer: Peer | None = None


class VideoNamespace(socketio.AsyncNamespace):
    """Signaling for video sessions; media goes through `hub` (realtime.video.media)."""

    def __init__(self, services: Callable[[], Services], hub: VideoHub) -> None:
        super().__init__(NAMESPACE)
        self._services = services
        self.hub = hub
        self.members: dict[str, Member] = {}
        self.current: dict[tuple[int, int], str] = {}  # (session, user) -> the user's live socket
        self.chat_history: dict[int, list[dict[str, Any]]] = {}
        self._quality_task: asyncio.Task[None] | None = None
        hub.on_segment = self._record_segment
        hub.on_peer_lost = self._peer_lost

    @property
    def services(self) -> Services:
        return self._services()

    async def trigger_event(self, event: str, *args: Any) -> Any:
        # Event names hold a colon ("lobby:admit"); handlers are named with an underscore.
        name = (event or "").replace(":", "_")
        if name in ("connect", "disconnect"):
            return await super().trigger_event(name, *args)
        try:
            return await super().trigger_event(name, *args)
        except Exception:
            log.exception("video event %r failed", event)
            return {"ok": False, "error": "The server could not handle this request."}

    # --- connection -----------------------------------------------------------------------------

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        auth = auth if isinstance(auth, dict) else {}
        svc = self.services
        try:
            principal = await svc.authenticator.authenticate_socket(
                cookie_header=environ.get("HTTP_COOKIE"), token=auth.get("token")
            )
            if principal is None:
                raise ConnectionRefusedError({"code": "not_authenticated", "message": "Please sign in."})
            claim = read_join_token(svc.settings, auth.get("join_token"))
            if principal.kind != "user" or claim.user_id != principal.id:
                raise ConnectionRefusedError(
                    {"code": "join_token_invalid", "message": "This join token is not yours."}
                )
            async with svc.db.unit_of_work() as session:
                participant = await service.enter(session, session_id=claim.session_id, user_id=principal.id)
                names = await service.user_names(session, [principal.id])
        except AppError as exc:
            raise ConnectionRefusedError({"code": exc.code, "message": exc.message}) from None
        member = Member(
            sid=sid,
            principal=principal,
            session_id=claim.session_id,
            role=participant.role,
            name=names.get(principal.id, principal.name),
            admitted=participant.state == ParticipantState.admitted,
        )
        self.members[sid] = member
        previous = self.current.get((member.session_id, principal.id))
        self.current[(member.session_id, principal.id)] = sid
        await self.enter_room(sid, room_of(member.session_id))
        if member.role == ParticipantRole.host:
            await self.enter_room(sid, host_room_of(member.session_id))
        if previous is not None and previous != sid:
            # A reload: the new page replaces the old one's socket and peer connection.
            self.members.pop(previous, None)
            with contextlib.suppress(Exception):
                await self.disconnect(previous)
        if self._quality_task is None:
            self._quality_task = asyncio.create_task(self._quality_loop(), name="video-quality")

    async def on_hello(self, sid: str, data: Any = None) -> dict[str, Any]:
        """The client is ready: admitted members get a peer connection and an offer, others wait."""
        member = self.members.get(sid)
        if member is None:
            return {"ok": False}
        history = self.chat_history.get(member.session_id, [])
        if member.admitted:
            await self._start_media(member)
        else:
            await self.emit("lobby:waiting", {"session_id": member.session_id}, to=sid)
            await self._send_lobby(member.session_id)
        await self._broadcast_participants(member.session_id)
        return {
            "ok": True,
            "role": member.role.value,
            "admitted": member.admitted,
            "user_id": member.principal.id,
            "chat": history,
        }

    async def _start_media(self, member: Member) -> None:
        async def emit(event: str, data: Any) -> None:
            await self.emit(event, data, to=member.sid)

        peer = Peer(
            user_id=member.principal.id,
            name=member.name,
            court=member.principal.court_code,
            role=member.role.value,
            publishes=member.role != ParticipantRole.observer,
            emit=emit,
        )
        member.peer = peer
        await self.hub.room(member.session_id).connect(peer)

    async def on_disconnect(self, sid: str, reason: Any = None) -> None:
        member = self.members.pop(sid, None)
        if member is None:
            return
        key = (member.session_id, member.principal.id)
        room = self.hub.rooms.get(member.session_id)
        if room is not None and member.peer is not None:
            await room.disconnect(member.principal.id, peer=member.peer)
        if self.current.get(key) != sid:
            return  # replaced by a newer socket of the same user
        del self.current[key]
        try:
            async with self.services.db.unit_of_work() as session:
                await service.leave(session, session_id=member.session_id, user_id=member.principal.id)
        except AppError:
            pass
        await self.emit("participant:left", {"user_id": member.principal.id}, room=room_of(member.session_id))
        if not any(m.session_id == member.session_id for m in self.members.values()):
            # Nobody is left: free the media and close the recording (a later join opens a new one).
            await self.hub.close_room(member.session_id)
            return
        await self._broadcast_participants(member.session_id)
        await self._send_lobby(member.session_id)

    # --- media ----------------------------------------------------------------------------------

    async def on_answer(self, sid: str, data: Any) -> None:
        member = self.members.get(sid)
        if member is None or not isinstance(data, dict) or not isinstance(data.get("sdp"), str):
            return
        await self.hub.room(member.session_id).answer(member.principal.id, data["sdp"])
        await self._broadcast_participants(member.session_id)

    async def on_candidate(self, sid: str, data: Any) -> None:
        member = self.members.get(sid)
        if member is None or member.peer is None:
            return
        room = self.hub.rooms.get(member.session_id)
        if room is not None:
            try:
                await room.add_candidate(member.principal.id, data if isinstance(data, dict) else None)
            except (ValueError, IndexError) as exc:
                log.info("ignored a malformed ICE candidate: %s", exc)

    async def on_screen(self, sid: str, data: Any) -> None:
        member = self.members.get(sid)
        if member is None or member.peer is None:
            return
        on = bool(data.get("on")) if isinstance(data, dict) else False
        await self.hub.room(member.session_id).share_screen(member.principal.id, on)
        await self._broadcast_participants(member.session_id)

    # --- lobby and moderation -------------------------------------------------------------------

    def _host(self, sid: str) -> Member | None:
        member = self.members.get(sid)
        return member if member is not None and member.role == ParticipantRole.host else None

    def _target(self, host: Member, data: Any) -> tuple[int, Member | None] | None:
        try:
            user_id = int(data["user_id"])
        except (TypeError, KeyError, ValueError):
            return None
        sid = self.current.get((host.session_id, user_id))
        return user_id, self.members.get(sid) if sid else None

    async def on_lobby_admit(self, sid: str, data: Any) -> dict[str, Any]:
        host = self._host(sid)
        target = self._target(host, data) if host else None
        if host is None or target is None:
            return {"ok": False, "error": "Only the host admits participants."}
        user_id, member = target
        try:
            async with self.services.db.unit_of_work() as session:
                await service.admit(session, host=host.principal, session_id=host.session_id, user_id=user_id)
        except AppError as exc:
            return {"ok": False, "error": exc.message}
        if member is not None:
            member.admitted = True
            await self.emit("admitted", {"session_id": host.session_id}, to=member.sid)
            await self._start_media(member)
        await self._send_lobby(host.session_id)
        await self._broadcast_participants(host.session_id)
        return {"ok": True}

    async def on_mute(self, sid: str, data: Any) -> dict[str, Any]:
        host = self._host(sid)
        target = self._target(host, data) if host else None
        if host is None or target is None:
            return {"ok": False, "error": "Only the host mutes participants."}
        user_id, member = target
        muted = bool(data.get("muted", True))
        if not self.hub.room(host.session_id).set_muted(user_id, muted):
            return {"ok": False, "error": "That participant publishes no microphone."}
        async with self.services.db.unit_of_work() as session:
            await service.record_mute(
                session, host=host.principal, session_id=host.session_id, user_id=user_id, muted=muted
            )
        if member is not None:
            await self.emit("muted", {"muted": muted, "by_host": True}, to=member.sid)
        await self._broadcast_participants(host.session_id)
        return {"ok": True}

    async def on_remove(self, sid: str, data: Any) -> dict[str, Any]:
        host = self._host(sid)
        target = self._target(host, data) if host else None
        if host is None or target is None:
            return {"ok": False, "error": "Only the host removes participants."}
        user_id, member = target
        try:
            async with self.services.db.unit_of_work() as session:
                await service.remove(
                    session, host=host.principal, session_id=host.session_id, user_id=user_id
                )
        except AppError as exc:
            return {"ok": False, "error": exc.message}
        room = self.hub.rooms.get(host.session_id)
        if room is not None:
            await room.disconnect(user_id)
        if member is not None:
            await self.emit("removed", {"session_id": host.session_id}, to=member.sid)
            self.current.pop((host.session_id, user_id), None)
            self.members.pop(member.sid, None)
            await self.disconnect(member.sid)
        await self._broadcast_participants(host.session_id)
        await self._send_lobby(host.session_id)
        return {"ok": True}

    async def on_end(self, sid: str, data: Any = None) -> dict[str, Any]:
        host = self._host(sid)
        if host is None:
            return {"ok": False, "error": "Only the host ends the session."}
        async with self.services.db.unit_of_work() as session:
            video = await session.get(VideoSession, host.session_id)
            if video is not None:
                await service.end_by_host(
                    session, video=video, actor=host.principal, directory=self.services.directory
                )
        await self.end_session(host.session_id)
        return {"ok": True}

    async def end_session(self, session_id: int) -> None:
        """Tells everyone the session ended, closes its media (the last segment is recorded), disconnects."""
        await self.emit("ended", {"session_id": session_id}, room=room_of(session_id))
        await self.hub.close_room(session_id)
        for member in [m for m in self.members.values() if m.session_id == session_id]:
            self.members.pop(member.sid, None)
            self.current.pop((session_id, member.principal.id), None)
            with contextlib.suppress(Exception):
                await self.disconnect(member.sid)
        self.chat_history.pop(session_id, None)

    # --- chat and directives --------------------------------------------------------------------

    async def on_chat(self, sid: str, data: Any) -> dict[str, Any]:
        member = self.members.get(sid)
        text = data.get("text") if isinstance(data, dict) else None
        if member is None or not member.admitted or not isinstance(text, str) or not text.strip():
            return {"ok": False}
        message = {
            "user_id": member.principal.id,
            "name": member.name,
            "text": text.strip()[:MAX_CHAT],
            "at": datetime.now(UTC).isoformat(),
        }
        history = self.chat_history.setdefault(member.session_id, [])
        history.append(message)
        del history[:-200]
        await self.emit("chat", message, room=room_of(member.session_id))
        return {"ok": True}

    async def on_directive(self, sid: str, data: Any) -> dict[str, Any]:
        host = self._host(sid)
        if host is None:
            return {"ok": False, "error": "Only the host gives directives."}
        try:
            body = DirectiveCreate.model_validate(data)
            async with self.services.db.unit_of_work() as session:
                directive = await service.add_directive(
                    session,
                    host=host.principal,
                    session_id=host.session_id,
                    body=body,
                    today=datetime.now(SHANGHAI).date(),
                )
                read = DirectiveRead.model_validate(directive).model_dump(mode="json")
        except ValidationError as exc:
            return {"ok": False, "error": str(exc.errors()[0]["msg"])}
        except AppError as exc:
            return {"ok": False, "error": exc.message}
        relay = self.services.extras.get("relay")
        if relay is not None:
            relay.wake()
        await self.emit("directive", read, room=room_of(host.session_id))
        return {"ok": True, "directive": read}

    # --- state pushed to clients ----------------------------------------------------------------

    async def _broadcast_participants(self, session_id: int) -> None:
        async with self.services.db.unit_of_work(read_only=True) as session:
            video = await session.get(VideoSession, session_id)
            if video is None:
                return
            read = await service.read(session, video)
        room = self.hub.rooms.get(session_id)
        people = []
        for p in read.participants:
            peer = room.peers.get(p.user_id) if room else None
            people.append(
                {
                    **p.model_dump(mode="json"),
                    "connected": (session_id, p.user_id) in self.current,
                    "media": peer is not None,
                    "muted": bool(room and room.is_muted(p.user_id)),
                    "sources": sorted(peer.published) if peer else [],
                }
            )
        await self.emit(
            "participants", {"session_id": session_id, "participants": people}, room=room_of(session_id)
        )

    async def _send_lobby(self, session_id: int) -> None:
        waiting = [
            {
                "user_id": m.principal.id,
                "name": m.name,
                "court_code": m.principal.court_code,
                "role": m.role.value,
            }
            for m in self.members.values()
            if m.session_id == session_id and not m.admitted
        ]
        await self.emit(
            "lobby", {"session_id": session_id, "waiting": waiting}, room=host_room_of(session_id)
        )

    async def _quality_loop(self) -> None:
        while True:
            await asyncio.sleep(QUALITY_SECONDS)
            for session_id, room in list(self.hub.rooms.items()):
                try:
                    quality = await room.quality()
                except Exception:
                    log.exception("quality sample failed for session %s", session_id)
                    continue
                self.hub.quality[session_id] = quality
                await self.emit(
                    "stats",
                    {"session_id": session_id, "participants": quality},
                    room=host_room_of(session_id),
                )

    # --- callbacks from the media hub ---------------------------------------------------------

    async def _record_segment(self, segment: ClosedSegment) -> None:
        async with self.services.db.unit_of_work() as session:
            video = await session.get(VideoSession, segment.session_id)
            await service.record_segment(
                session,
                session_id=segment.session_id,
                path=segment.relative_path,
                size=segment.size,
                sha256=segment.sha256,
                started_at=segment.started_at,
                ended_at=segment.ended_at,
                court_code=video.host_court if video else None,  # type: ignore[arg-type]
            )

    async def _peer_lost(self, session_id: int, user_id: int) -> None:
        sid = self.current.get((session_id, user_id))
        if sid is not None:
            member = self.members.get(sid)
            if member is not None:
                member.peer = None
        await self._broadcast_participants(session_id)

    async def close(self) -> None:
        """Stops the quality loop and closes every room (the app's shutdown)."""
        if self._quality_task is not None:
            self._quality_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._quality_task
            self._quality_task = None
        await self.hub.close()
