"""Video consultations: sessions, who takes part, recording segments and the directives given; read schemas."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from pydantic import Field as SchemaField
from sqlmodel import Field, SQLModel

from command_center.api import PageQuery, Schema
from command_center.db import UtcDateTime, enum_type, utcnow


class SessionState(StrEnum):
    scheduled = "scheduled"
    live = "live"
    ended = "ended"


class ParticipantRole(StrEnum):
    host = "host"
    participant = "participant"  # invited: publishes camera and microphone
    observer = "observer"  # command staff above the host's court, not invited: watches only


class ParticipantState(StrEnum):
    invited = "invited"
    waiting = "waiting"  # in the lobby until the host admits
    admitted = "admitted"
    removed = "removed"  # by the host; may not join again
    left = "left"


def _timestamp(*, nullable: bool = True) -> sa.Column:
    return sa.Column(UtcDateTime(), nullable=nullable)


class VideoSession(SQLModel, table=True):
    """One consultation hosted by a command-center user, optionally about a case or an assistance request."""

    __tablename__ = "video_session"
    __table_args__ = (sa.Index("ix_video_session_host_court_id", "host_court", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    topic: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    host_user_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id"), nullable=False))
    host_court: str = Field(sa_column=sa.Column(sa.String(6), sa.ForeignKey("court.code"), nullable=False))
    case_id: int | None = Field(
        default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("enforcement_case.id"), nullable=True)
    )
    request_id: int | None = Field(
        default=None, sa_column=sa.Column(sa.Integer, sa.ForeignKey("assistance_request.id"), nullable=True)
    )
    state: SessionState = Field(
        default=SessionState.scheduled,
        sa_column=sa.Column(enum_type(SessionState, "video_session_state", length=20), nullable=False),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))
    started_at: datetime | None = Field(default=None, sa_column=_timestamp())
    ended_at: datetime | None = Field(default=None, sa_column=_timestamp())


class VideoParticipant(SQLModel, table=True):
    """A user's place in a session: invited by the host, or an observer who joined from above."""

    __tablename__ = "video_participant"
    __table_args__ = (sa.UniqueConstraint("session_id", "user_id"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("video_session.id"), nullable=False, index=True)
    )
    user_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("user.id"), nullable=False, index=True)
    )
    court_code: str = Field(sa_column=sa.Column(sa.String(6), sa.ForeignKey("court.code"), nullable=False))
    role: ParticipantRole = Field(
        sa_column=sa.Column(enum_type(ParticipantRole, "video_participant_role", length=20), nullable=False)
    )
    state: ParticipantState = Field(
        default=ParticipantState.invited,
        sa_column=sa.Column(
            enum_type(ParticipantState, "video_participant_state", length=20), nullable=False
        ),
    )
    invited_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))
    # Set once the host admits; a participant who reconnects after that skips the lobby.
    admitted_at: datetime | None = Field(default=None, sa_column=_timestamp())
    joined_at: datetime | None = Field(default=None, sa_column=_timestamp())
    left_at: datetime | None = Field(default=None, sa_column=_timestamp())


class RecordingSegment(SQLModel, table=True):
    """One closed recording file of a session; its SHA-256 is also in the audit chain."""

    __tablename__ = "video_recording_segment"
    __table_args__ = (sa.UniqueConstraint("session_id", "seq"),)

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("video_session.id"), nullable=False, index=True)
    )
    seq: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))  # 1, 2, 3 ... per session
    path: str = Field(sa_column=sa.Column(sa.String(500), nullable=False))  # relative to the recording dir
    bytes: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    started_at: datetime = Field(sa_column=_timestamp(nullable=False))
    ended_at: datetime = Field(sa_column=_timestamp(nullable=False))


class VideoDirective(SQLModel, table=True):
    """Guidance the host gave during a session; a task with a due date on the linked request or case."""

    __tablename__ = "video_directive"

    id: int | None = Field(default=None, primary_key=True)
    session_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("video_session.id"), nullable=False, index=True)
    )
    text: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    due_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    assignee_court: str = Field(
        sa_column=sa.Column(sa.String(6), sa.ForeignKey("court.code"), nullable=False)
    )
    case_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    request_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    created_by: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))


# --- schemas -------------------------------------------------------------------------------------


class VideoSessionCreate(Schema):
    topic: str = SchemaField(min_length=1, max_length=200)
    case_id: int | None = SchemaField(None, description="an enforcement case the host's court may see")
    request_id: int | None = SchemaField(None, description="an assistance request the host's court may see")
    invitees: list[int] = SchemaField(default_factory=list, max_length=16, description="user ids to invite")


class VideoSessionQuery(PageQuery):
    state: SessionState | None = None


class ParticipantRead(Schema):
    user_id: int
    display_name: str
    court_code: str
    role: ParticipantRole
    state: ParticipantState


class VideoSessionRead(Schema):
    id: int
    topic: str
    host_user_id: int
    host_court: str
    case_id: int | None
    request_id: int | None
    state: SessionState
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    participants: list[ParticipantRead] = SchemaField(default_factory=list)


class IceServer(Schema):
    urls: list[str]
    username: str | None = None
    credential: str | None = None


class JoinGrant(Schema):
    join_token: str = SchemaField(
        description="present it in the /video socket.io namespace's auth; short-lived"
    )
    role: ParticipantRole
    ice_servers: list[IceServer]
    session: VideoSessionRead


class RecordingSegmentRead(Schema):
    id: int
    seq: int
    bytes: int
    sha256: str
    started_at: datetime
    ended_at: datetime


class DirectiveCreate(Schema):
    text: str = SchemaField(min_length=1, max_length=2000)
    due_on: date
    assignee_court: str | None = SchemaField(None, description="default: the linked request's target court")


class DirectiveRead(Schema):
    id: int
    session_id: int
    text: str
    due_on: date
    assignee_court: str
    case_id: int | None
    request_id: int | None
    created_by: str
    created_at: datetime


class ParticipantQuality(Schema):
    user_id: int
    bitrate_kbps: float = SchemaField(description="media the server receives from this participant")
    packets_lost: int
    loss_percent: float
    rtt_ms: float | None
    frames_per_second: float


class SessionQuality(Schema):
    session_id: int
    participants: list[ParticipantQuality]
