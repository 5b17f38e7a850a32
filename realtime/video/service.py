"""Video sessions: who may create, see and join them; the lobby and moderation; directives; recordings.

Service functions flush but never commit. Media lives in `realtime.video.media`; this module only
changes the record and writes audit entries and outbox events.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases.models import EnforcementCase
from assistance.requests.models import AssistanceRequest
from command_center.audit import service as audit
from command_center.courts.directory import CourtDirectory
from command_center.db import utcnow
from command_center.errors import Conflict, Forbidden, InvalidInput, NotFound
from command_center.identity.models import User
from command_center.identity.principal import Principal, Role
from command_center.identity.visibility import CourtScope, can_see_request, court_scope
from command_center.outbox.service import record_event
from command_center.settings import Settings
from realtime.video import credentials
from realtime.video.events import ENDED, OPENED, record_session_event
from realtime.video.models import (
    DirectiveCreate,
    JoinGrant,
    ParticipantRead,
    ParticipantRole,
    ParticipantState,
    RecordingSegment,
    SessionState,
    VideoDirective,
    VideoParticipant,
    VideoSession,
    VideoSessionCreate,
    VideoSessionRead,
)

SUBJECT = "video_session"


def _require_user(principal: Principal) -> None:
    if principal.kind != "user":
        raise Forbidden("Video sessions are for signed-in users, not court systems.")


async def _visible_link(
    session: AsyncSession, scope: CourtScope, *, case_id: int | None, request_id: int | None
) -> tuple[int | None, AssistanceRequest | None, EnforcementCase | None]:
    """The linked request and case, checked against the caller's scope (404 when not visible)."""
    request = case = None
    if request_id is not None:
        request = await session.get(AssistanceRequest, request_id)
        if request is None or not can_see_request(
            scope,
            requesting_court=request.requesting_court,
            target_court=request.target_court,
            supervising_court=request.supervising_court,
        ):
            raise NotFound(f"No assistance request {request_id} that your court may see.")
        if case_id is not None and case_id != request.case_id:
            raise InvalidInput(
                f"Assistance request {request_id} belongs to case {request.case_id}, not {case_id}."
            )
        case_id = request.case_id
    if case_id is not None:
        case = await session.get(EnforcementCase, case_id)
        if case is None or (request is None and not scope.includes(case.court_code)):
            raise NotFound(f"No enforcement case {case_id} that your court may see.")
    return case_id, request, case


async def create(
    session: AsyncSession, *, principal: Principal, directory: CourtDirectory, body: VideoSessionCreate
) -> VideoSession:
    """Creates a session hosted by the caller (command staff) and invites users; records
    `video.session_created`, sends `video:invited` to each invitee's user room and `video:opened` to
    the host court's command chain."""
    _require_user(principal)
    if principal.role != Role.command_staff:
        raise Forbidden("Only command staff host video consultations.")
    scope = court_scope(principal, directory)
    case_id, request, _ = await _visible_link(
        session, scope, case_id=body.case_id, request_id=body.request_id
    )
    # Invitees come from the host's subtree, or from the courts of the linked request.
    linked_courts = {request.requesting_court, request.target_court} if request else set()
    invitee_ids = sorted(set(body.invitees) - {principal.id})
    users = (
        (await session.execute(sa.select(User).where(User.id.in_(invitee_ids)))).scalars().all()
        if invitee_ids
        else []
    )
    found = {u.id: u for u in users}
    for user_id in invitee_ids:
        user = found.get(user_id)
        if (
            user is None
            or not user.active
            or not (scope.includes(user.court_code) or user.court_code in linked_courts)
        ):
            raise InvalidInput(
                f"User {user_id} cannot be invited: no such active user within your command's reach."
            )
    video = VideoSession(
        topic=body.topic.strip(),
        host_user_id=principal.id,
        host_court=principal.court_code,
        case_id=case_id,
        request_id=request.id if request else None,
    )
    session.add(video)
    await session.flush()
    assert video.id is not None
    session.add(
        VideoParticipant(
            session_id=video.id,
            user_id=principal.id,
            court_code=principal.court_code,
            role=ParticipantRole.host,
            state=ParticipantState.invited,
        )
    )
    for user_id in invitee_ids:
        session.add(
            VideoParticipant(
                session_id=video.id,
                user_id=user_id,
                court_code=found[user_id].court_code,
                role=ParticipantRole.participant,
            )
        )
    await session.flush()
    if invitee_ids:
        await record_event(
            session,
            name="video:invited",
            rooms=[f"user:{user_id}" for user_id in invitee_ids],
            payload={
                "session_id": video.id,
                "topic": video.topic,
                "host_court": video.host_court,
                "host": principal.name,
                "url": f"/video/{video.id}",
            },
        )
    await record_session_event(session, directory=directory, video=video, name=OPENED)
    await audit.record(
        session,
        action="video.session_created",
        actor=principal,
        subject_type=SUBJECT,
        subject_id=str(video.id),
        details={
            "topic": video.topic,
            "case_id": case_id,
            "request_id": video.request_id,
            "invitees": invitee_ids,
        },
    )
    return video


async def _participants(session: AsyncSession, session_id: int) -> list[VideoParticipant]:
    stmt = (
        sa.select(VideoParticipant)
        .where(VideoParticipant.session_id == session_id)
        .order_by(VideoParticipant.id)
    )
    return list((await session.execute(stmt)).scalars().all())


def _may_see(
    scope: CourtScope, principal: Principal, video: VideoSession, participants: list[VideoParticipant]
) -> bool:
    """A security boundary: the host, invitees, and every scope holding the host's or a participant's
    court."""
    if principal.kind == "user" and any(p.user_id == principal.id for p in participants):
        return True
    return scope.includes(video.host_court) or any(scope.includes(p.court_code) for p in participants)


async def get_visible(
    session: AsyncSession, *, principal: Principal, directory: CourtDirectory, session_id: int
) -> VideoSession:
    """The session if the caller may see it; 404 otherwise (an invisible session does not exist)."""
    video = await session.get(VideoSession, session_id)
    if video is None or not _may_see(
        court_scope(principal, directory), principal, video, await _participants(session, session_id)
    ):
        raise NotFound(f"No video session {session_id}.")
    return video


async def read(session: AsyncSession, video: VideoSession) -> VideoSessionRead:
    """The read schema of a session with its participants' names."""
    assert video.id is not None
    rows = (
        await session.execute(
            sa.select(VideoParticipant, User.display_name)
            .join(User, User.id == VideoParticipant.user_id)
            .where(VideoParticipant.session_id == video.id)
            .order_by(VideoParticipant.id)
        )
    ).all()
    result = VideoSessionRead.model_validate(video)
    result.participants = [
        ParticipantRead(
            user_id=p.user_id, display_name=name, court_code=p.court_code, role=p.role, state=p.state
        )
        for p, name in rows
    ]
    return result


async def list_visible(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    state: SessionState | None,
    offset: int,
    limit: int,
) -> tuple[list[VideoSession], int]:
    """Sessions the caller hosts or is invited to, or whose host's or a participant's court is in scope."""
    scope = court_scope(principal, directory)
    part = VideoParticipant.__table__.c
    mine = sa.exists().where(part.session_id == VideoSession.id, part.user_id == principal.id)
    in_scope = sa.exists().where(part.session_id == VideoSession.id, scope.filter(part.court_code))
    conditions = [scope.filter(VideoSession.host_court), in_scope]
    if principal.kind == "user":
        conditions.append(mine)
    where = [sa.or_(*conditions)]
    if state is not None:
        where.append(VideoSession.state == state)
    total = await session.scalar(sa.select(sa.func.count()).select_from(VideoSession).where(*where)) or 0
    stmt = sa.select(VideoSession).where(*where).order_by(VideoSession.id.desc()).offset(offset).limit(limit)
    return list((await session.execute(stmt)).scalars().all()), total


async def join(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    settings: Settings,
    session_id: int,
) -> JoinGrant:
    """Grants a join token and ICE servers. The host's first join makes the session live (`video:opened`
    with state "live" to the host court's command chain); command staff who may see the session but were
    not invited join as observers."""
    _require_user(principal)
    video = await get_visible(session, principal=principal, directory=directory, session_id=session_id)
    if video.state == SessionState.ended:
        raise Conflict("This video session has ended.")
    participants = await _participants(session, session_id)
    me = next((p for p in participants if p.user_id == principal.id), None)
    if me is None:
        if principal.role != Role.command_staff:
            raise Forbidden("You are not invited to this video session.")
        me = VideoParticipant(
            session_id=session_id,
            user_id=principal.id,
            court_code=principal.court_code,
            role=ParticipantRole.observer,
        )
        session.add(me)
    elif me.state == ParticipantState.removed:
        raise Forbidden("The host removed you from this video session.")
    now = utcnow()
    went_live = me.role == ParticipantRole.host and video.state == SessionState.scheduled
    if went_live:
        video.state = SessionState.live
        video.started_at = now
    await session.flush()
    if went_live:
        await record_session_event(session, directory=directory, video=video, name=OPENED)
    # TURN credentials expire with the session: at most video_session_max_hours after it started.
    start = video.started_at or now
    cap = int((start + timedelta(hours=settings.video_session_max_hours)).timestamp())
    expires = max(cap, int(time.time()) + 600)
    token = credentials.issue_join_token(settings, session_id=session_id, user_id=principal.id, role=me.role)
    return JoinGrant(
        join_token=token,
        role=me.role,
        ice_servers=credentials.ice_servers(settings, user_id=principal.id, expires=expires),
        session=await read(session, video),
    )


async def end(
    session: AsyncSession, *, principal: Principal, directory: CourtDirectory, session_id: int
) -> VideoSession:
    """Ends the session for everyone (host only); records `video.session_ended`, sends `video:ended` to
    the participants and to the host court's command chain."""
    video = await get_visible(session, principal=principal, directory=directory, session_id=session_id)
    if principal.kind != "user" or video.host_user_id != principal.id:
        raise Forbidden("Only the host ends a video session.")
    return await end_by_host(session, video=video, actor=principal, directory=directory)


async def end_by_host(
    session: AsyncSession, *, video: VideoSession, actor: Principal | None, directory: CourtDirectory
) -> VideoSession:
    """Marks the session ended and everyone in it as left (idempotent); records `video.session_ended`,
    sends `video:ended` to the participants and to the host court's command chain."""
    if video.state == SessionState.ended:
        return video
    now = utcnow()
    video.state = SessionState.ended
    video.ended_at = now
    participants = await _participants(session, video.id)  # type: ignore[arg-type]
    for p in participants:
        if p.state in (ParticipantState.waiting, ParticipantState.admitted):
            p.state = ParticipantState.left
            p.left_at = now
    await session.flush()
    await record_event(
        session,
        name="video:ended",
        rooms=[f"user:{p.user_id}" for p in participants],
        payload={"session_id": video.id, "topic": video.topic},
    )
    await record_session_event(session, directory=directory, video=video, name=ENDED)
    await audit.record(
        session,
        action="video.session_ended",
        actor=actor,
        actor_label=None if actor else "system",
        court_code=video.host_court,
        subject_type=SUBJECT,
        subject_id=str(video.id),
    )
    return video


# --- lobby and moderation (called by the /video namespace, each in its own unit of work) ----------


async def _participant(session: AsyncSession, *, session_id: int, user_id: int) -> VideoParticipant:
    stmt = sa.select(VideoParticipant).where(
        VideoParticipant.session_id == session_id, VideoParticipant.user_id == user_id
    )
    participant = (await session.execute(stmt)).scalar_one_or_none()
    if participant is None:
        raise NotFound(f"User {user_id} has no place in video session {session_id}.")
    return participant


async def enter(session: AsyncSession, *, session_id: int, user_id: int) -> VideoParticipant:
    """Marks a participant present: the host and anyone admitted before go straight in, others wait."""
    video = await session.get(VideoSession, session_id)
    if video is None or video.state == SessionState.ended:
        raise Conflict("This video session has ended.")
    participant = await _participant(session, session_id=session_id, user_id=user_id)
    if participant.state == ParticipantState.removed:
        raise Forbidden("The host removed you from this video session.")
    now = utcnow()
    if participant.role == ParticipantRole.host or participant.admitted_at is not None:
        participant.state = ParticipantState.admitted
        participant.admitted_at = participant.admitted_at or now
    else:
        participant.state = ParticipantState.waiting
    participant.joined_at = participant.joined_at or now
    participant.left_at = None
    await session.flush()
    return participant


async def admit(session: AsyncSession, *, host: Principal, session_id: int, user_id: int) -> VideoParticipant:
    """Lets a waiting participant in; records `video.participant_admitted`."""
    participant = await _participant(session, session_id=session_id, user_id=user_id)
    if participant.state != ParticipantState.waiting:
        raise Conflict(f"User {user_id} is not waiting in the lobby.")
    participant.state = ParticipantState.admitted
    participant.admitted_at = utcnow()
    await session.flush()
    await _moderation_audit(session, host, "video.participant_admitted", session_id, user_id)
    return participant


async def remove(
    session: AsyncSession, *, host: Principal, session_id: int, user_id: int
) -> VideoParticipant:
    """Removes a participant for the rest of the session; records `video.participant_removed`."""
    participant = await _participant(session, session_id=session_id, user_id=user_id)
    if participant.role == ParticipantRole.host:
        raise InvalidInput("The host cannot remove themselves; end the session instead.")
    participant.state = ParticipantState.removed
    participant.left_at = utcnow()
    await session.flush()
    await _moderation_audit(session, host, "video.participant_removed", session_id, user_id)
    return participant


async def record_mute(
    session: AsyncSession, *, host: Principal, session_id: int, user_id: int, muted: bool
) -> None:
    """Records that the host muted or unmuted a participant (`video.participant_muted` / `_unmuted`)."""
    action = "video.participant_muted" if muted else "video.participant_unmuted"
    await _moderation_audit(session, host, action, session_id, user_id)


async def leave(session: AsyncSession, *, session_id: int, user_id: int) -> None:
    """Marks a present participant as left (a disconnect); removed participants stay removed."""
    participant = await _participant(session, session_id=session_id, user_id=user_id)
    if participant.state in (ParticipantState.waiting, ParticipantState.admitted):
        participant.state = ParticipantState.left
        participant.left_at = utcnow()
        await session.flush()


async def _moderation_audit(
    session: AsyncSession, host: Principal, action: str, session_id: int, user_id: int
) -> None:
    await audit.record(
        session,
        action=action,
        actor=host,
        subject_type=SUBJECT,
        subject_id=str(session_id),
        details={"user_id": user_id},
    )


# --- directives ----------------------------------------------------------------------------------


async def add_directive(
    session: AsyncSession, *, host: Principal, session_id: int, body: DirectiveCreate, today: date
) -> VideoDirective:
    """Records a directive as a task due on `due_on` on the linked request's (or case's) timeline:
    audit entry `video.directive_issued` about that subject and event `video:directive_issued`."""
    video = await session.get(VideoSession, session_id)
    if video is None:
        raise NotFound(f"No video session {session_id}.")
    if video.host_user_id != host.id:
        raise Forbidden("Only the host gives directives.")
    if body.due_on < today:
        raise InvalidInput("A directive cannot be due in the past.")
    request = await session.get(AssistanceRequest, video.request_id) if video.request_id else None
    case = await session.get(EnforcementCase, video.case_id) if video.case_id else None
    default_court = request.target_court if request else case.court_code if case else video.host_court
    directive = VideoDirective(
        session_id=session_id,
        text=body.text.strip(),
        due_on=body.due_on,
        assignee_court=body.assignee_court or default_court,
        case_id=video.case_id,
        request_id=video.request_id,
        created_by=host.label,
    )
    session.add(directive)
    await session.flush()
    if request is not None:
        subject_type, subject_id = "assistance_request", str(request.id)
        rooms = [f"request:{request.id}", f"court:{directive.assignee_court}"]
    elif case is not None:
        subject_type, subject_id = "case", str(case.id)
        rooms = [f"court:{case.court_code}", f"court:{directive.assignee_court}"]
    else:
        subject_type, subject_id = SUBJECT, str(session_id)
        rooms = [f"court:{directive.assignee_court}"]
    payload = {
        "directive_id": directive.id,
        "session_id": session_id,
        "text": directive.text,
        "due_on": directive.due_on.isoformat(),
        "assignee_court": directive.assignee_court,
        "subject_type": subject_type,
        "subject_id": subject_id,
    }
    await record_event(session, name="video:directive_issued", rooms=rooms, payload=payload)
    await audit.record(
        session,
        action="video.directive_issued",
        actor=host,
        subject_type=subject_type,
        subject_id=subject_id,
        details=payload,
    )
    return directive


async def list_directives(session: AsyncSession, *, session_id: int) -> list[VideoDirective]:
    stmt = (
        sa.select(VideoDirective).where(VideoDirective.session_id == session_id).order_by(VideoDirective.id)
    )
    return list((await session.execute(stmt)).scalars().all())


# --- recordings ----------------------------------------------------------------------------------


async def record_segment(
    session: AsyncSession,
    *,
    session_id: int,
    seq: int | None = None,
    path: str,
    size: int,
    sha256: str,
    started_at: datetime,
    ended_at: datetime,
    court_code: str,
) -> RecordingSegment:
    """Stores a closed segment (numbered after the session's last one unless `seq` is given) and puts its
    SHA-256 into the audit chain (`video.recording_segment`)."""
    if seq is None:
        last = await session.scalar(
            sa.select(sa.func.max(RecordingSegment.seq)).where(RecordingSegment.session_id == session_id)
        )
        seq = (last or 0) + 1
    segment = RecordingSegment(
        session_id=session_id,
        seq=seq,
        path=path,
        bytes=size,
        sha256=sha256,
        started_at=started_at,
        ended_at=ended_at,
    )
    session.add(segment)
    await session.flush()
    await audit.record(
        session,
        action="video.recording_segment",
        actor_label="media-server",
        court_code=court_code,
        subject_type=SUBJECT,
        subject_id=str(session_id),
        details={"seq": seq, "path": path, "bytes": size, "sha256": sha256},
    )
    return segment


async def list_segments(session: AsyncSession, *, session_id: int) -> list[RecordingSegment]:
    stmt = (
        sa.select(RecordingSegment)
        .where(RecordingSegment.session_id == session_id)
        .order_by(RecordingSegment.seq)
    )
    return list((await session.execute(stmt)).scalars().all())


async def get_segment(session: AsyncSession, *, session_id: int, seq: int) -> RecordingSegment:
    stmt = sa.select(RecordingSegment).where(
        RecordingSegment.session_id == session_id, RecordingSegment.seq == seq
    )
    segment = (await session.execute(stmt)).scalar_one_or_none()
    if segment is None:
        raise NotFound(f"Video session {session_id} has no recording segment {seq}.")
    return segment


async def user_names(session: AsyncSession, user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = (await session.execute(sa.select(User.id, User.display_name).where(User.id.in_(user_ids)))).all()
    return {row.id: row.display_name for row in rows}
