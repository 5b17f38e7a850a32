"""`/api/v1/video-sessions`: create, list, read, join, end; recordings, directives, quality; the room page."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from starlette.responses import FileResponse, RedirectResponse, Response

from command_center import pages
from command_center.api import Call, Page, Router
from command_center.errors import NotFound
from command_center.settings import Settings
from realtime.video import service
from realtime.video.models import (
    DirectiveCreate,
    DirectiveRead,
    JoinGrant,
    ParticipantQuality,
    RecordingSegmentRead,
    SessionQuality,
    VideoSessionCreate,
    VideoSessionQuery,
    VideoSessionRead,
)

router = Router(prefix="", tags=["video"])  # API paths under /api/v1, and the room page
SHANGHAI = ZoneInfo("Asia/Shanghai")


def recording_root(settings: Settings) -> Path:
    """Where segment files live; a segment's `path` is relative to it."""
    return settings.video_recording_dir or settings.var_dir / "recordings"


def _wake_relay(call: Call) -> None:
    relay = call.services.extras.get("relay")
    if relay is not None:
        relay.wake()


@router.post(
    "/api/v1/video-sessions",
    summary="Create a video consultation (command staff) and invite users; invitees hear of it live",
    body=VideoSessionCreate,
    response=VideoSessionRead,
    status=201,
)
async def create_session(call: Call) -> VideoSessionRead:
    async with call.services.db.unit_of_work() as session:
        video = await service.create(
            session, principal=call.user, directory=call.services.directory, body=call.body
        )
        result = await service.read(session, video)
    _wake_relay(call)
    return result


@router.get(
    "/api/v1/video-sessions",
    summary="Video sessions the caller hosts or is invited to, or that are within a command center's scope",
    query=VideoSessionQuery,
    response=Page[VideoSessionRead],
)
async def list_sessions(call: Call) -> Page[VideoSessionRead]:
    q: VideoSessionQuery = call.query
    async with call.services.db.unit_of_work(read_only=True) as session:
        videos, total = await service.list_visible(
            session,
            principal=call.user,
            directory=call.services.directory,
            state=q.state,
            offset=q.offset,
            limit=q.page_size,
        )
        items = [await service.read(session, video) for video in videos]
    return Page[VideoSessionRead](items=items, total=total, page=q.page, page_size=q.page_size)


@router.get(
    "/api/v1/video-sessions/{session_id:int}",
    summary="One video session with its participants",
    response=VideoSessionRead,
)
async def get_session(call: Call) -> VideoSessionRead:
    async with call.services.db.unit_of_work(read_only=True) as session:
        video = await service.get_visible(
            session,
            principal=call.user,
            directory=call.services.directory,
            session_id=call.path["session_id"],
        )
        return await service.read(session, video)


@router.post(
    "/api/v1/video-sessions/{session_id:int}/join",
    summary="A short-lived join token for the /video namespace, the caller's role and the ICE servers",
    response=JoinGrant,
)
async def join_session(call: Call) -> JoinGrant:
    async with call.services.db.unit_of_work() as session:
        return await service.join(
            session,
            principal=call.user,
            directory=call.services.directory,
            settings=call.services.settings,
            session_id=call.path["session_id"],
        )


@router.post(
    "/api/v1/video-sessions/{session_id:int}/end",
    summary="End the session for everyone (host)",
    response=VideoSessionRead,
)
async def end_session(call: Call) -> VideoSessionRead:
    session_id = call.path["session_id"]
    async with call.services.db.unit_of_work() as session:
        video = await service.end(
            session, principal=call.user, directory=call.services.directory, session_id=session_id
        )
        result = await service.read(session, video)
    _wake_relay(call)
    namespace = call.services.extras.get("video")
    if namespace is not None:
        await namespace.end_session(session_id)
    return result


@router.get(
    "/api/v1/video-sessions/{session_id:int}/recordings",
    summary="The session's closed recording segments with their SHA-256",
    response=list[RecordingSegmentRead],
)
async def list_recordings(call: Call) -> list[RecordingSegmentRead]:
    session_id = call.path["session_id"]
    async with call.services.db.unit_of_work(read_only=True) as session:
        await service.get_visible(
            session, principal=call.user, directory=call.services.directory, session_id=session_id
        )
        return [
            RecordingSegmentRead.model_validate(s)
            for s in await service.list_segments(session, session_id=session_id)
        ]


@router.get(
    "/api/v1/video-sessions/{session_id:int}/recordings/{seq:int}",
    summary="Download one recording segment (Matroska: VP8 video, Opus audio)",
    raw_response="video/x-matroska",
)
async def download_recording(call: Call) -> Response:
    session_id = call.path["session_id"]
    async with call.services.db.unit_of_work(read_only=True) as session:
        await service.get_visible(
            session, principal=call.user, directory=call.services.directory, session_id=session_id
        )
        segment = await service.get_segment(session, session_id=session_id, seq=call.path["seq"])
    path = recording_root(call.services.settings) / segment.path
    if not path.is_file():
        raise NotFound(f"Segment {segment.seq} of video session {session_id} is not on this server.")
    return FileResponse(
        path,
        media_type="video/x-matroska",
        filename=f"video-session-{session_id}-{segment.seq:05d}.mkv",
        headers={"X-Content-SHA256": segment.sha256},
    )


@router.get(
    "/api/v1/video-sessions/{session_id:int}/directives",
    summary="Directives given in the session",
    response=list[DirectiveRead],
)
async def list_directives(call: Call) -> list[DirectiveRead]:
    session_id = call.path["session_id"]
    async with call.services.db.unit_of_work(read_only=True) as session:
        await service.get_visible(
            session, principal=call.user, directory=call.services.directory, session_id=session_id
        )
        return [
            DirectiveRead.model_validate(d)
            for d in await service.list_directives(session, session_id=session_id)
        ]


@router.post(
    "/api/v1/video-sessions/{session_id:int}/directives",
    summary="Give a directive (host): a task due on the linked request's or case's timeline",
    body=DirectiveCreate,
    response=DirectiveRead,
    status=201,
)
async def add_directive(call: Call) -> DirectiveRead:
    session_id = call.path["session_id"]
    async with call.services.db.unit_of_work() as session:
        await service.get_visible(
            session, principal=call.user, directory=call.services.directory, session_id=session_id
        )
        directive = await service.add_directive(
            session,
            host=call.user,
            session_id=session_id,
            body=call.body,
            today=datetime.now(SHANGHAI).date(),
        )
        result = DirectiveRead.model_validate(directive)
    _wake_relay(call)
    return result


@router.get(
    "/api/v1/video-sessions/{session_id:int}/quality",
    summary="Per participant bitrate, packet loss, round-trip time and frame rate seen by the media server",
    response=SessionQuality,
)
async def session_quality(call: Call) -> SessionQuality:
    session_id = call.path["session_id"]
    async with call.services.db.unit_of_work(read_only=True) as session:
        await service.get_visible(
            session, principal=call.user, directory=call.services.directory, session_id=session_id
        )
    namespace = call.services.extras.get("video")
    samples: list[dict[str, Any]] = namespace.hub.quality.get(session_id, []) if namespace is not None else []
    return SessionQuality(session_id=session_id, participants=[ParticipantQuality(**s) for s in samples])


@router.get(
    "/video/{session_id:int}",
    summary="The video room page",
    auth=False,
    csrf=False,
    raw_response="text/html",
    extra_responses={303: "not signed in as a user: sent to the sign-in page"},
)
async def video_room_page(call: Call) -> Response:
    """The room in the visitor's language, in the pages' layout (`command_center.pages.render`)."""
    request = call.request
    visitor = await pages.current_visitor(request)
    if visitor is None:
        return RedirectResponse(pages.sign_in_url(request), status_code=303)
    session_id = call.path["session_id"]
    async with call.services.db.unit_of_work() as session:
        try:
            video = await service.get_visible(
                session, principal=visitor.principal, directory=call.services.directory, session_id=session_id
            )
        except NotFound:
            video = None
    return pages.render(
        request,
        "video_room.html",
        visitor=visitor,
        context={"session_id": session_id, "video": video},
        status=200 if video is not None else 404,
    )
