"""Assistance requests (事项委托), their statutory deadlines, threads and attachments."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from assistance.enums import (
    AttachmentPurpose,
    DeadlineKind,
    DeadlineState,
    MatterType,
    RequestStatus,
    Urgency,
)
from command_center.db import UtcDateTime, court_fk, enum_type, utcnow


class AssistanceRequest(SQLModel, table=True):
    """A cross-regional request from the requesting court to the target court, under a supervisor."""

    __tablename__ = "assistance_request"
    __table_args__ = (
        # The three list views page by (court, newest first); status and matter narrow them.
        sa.Index("ix_assistance_request_target_status_id", "target_court", "status", "id"),
        sa.Index("ix_assistance_request_target_id", "target_court", "id"),
        sa.Index("ix_assistance_request_requesting_id", "requesting_court", "id"),
        sa.Index("ix_assistance_request_supervising_id", "supervising_court", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("enforcement_case.id"), nullable=False, index=True)
    )
    requesting_court: str = Field(sa_column=court_fk())
    target_court: str = Field(sa_column=court_fk())
    supervising_court: str = Field(sa_column=court_fk())
    matter_type: MatterType = Field(sa_column=sa.Column(enum_type(MatterType, "matter_type"), nullable=False))
    subject_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("case_party.id"), nullable=False))
    region_code: str = Field(sa_column=sa.Column(sa.String(6), nullable=False))
    address: str = Field(sa_column=sa.Column(sa.String(300), nullable=False))
    urgency: Urgency = Field(sa_column=sa.Column(enum_type(Urgency, "urgency"), nullable=False))
    description: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    materials: list[str] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    current_freeze_expires_on: date | None = Field(default=None, sa_column=sa.Column(sa.Date, nullable=True))
    status: RequestStatus = Field(
        sa_column=sa.Column(enum_type(RequestStatus, "request_status"), nullable=False)
    )
    # Where a request returns to when the requested supplement arrives.
    status_before_supplement: RequestStatus | None = Field(
        default=None, sa_column=sa.Column(enum_type(RequestStatus, "request_status"), nullable=True)
    )
    # Optimistic lock: every action updates `WHERE id = :id AND version = :version` and increments it.
    version: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False, default=1))
    supplement_missing: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    supplement_answer: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    reject_reason: str | None = Field(default=None, sa_column=sa.Column(sa.String(40), nullable=True))
    reject_note: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    withdraw_reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    result_text: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    result_attachment_ids: list[int] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    created_by: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))
    routed_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime()))


class Deadline(SQLModel, table=True):
    """A statutory clock on a request or a case. The database holds every deadline; jobs only nudge."""

    __tablename__ = "deadline"
    __table_args__ = (
        sa.Index("ix_deadline_subject", "subject_type", "subject_id", "state"),
        # The reconciler's sweep: pending deadlines by due time.
        sa.Index("ix_deadline_state_ends_at", "state", "ends_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    subject_type: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))  # "request" or "case"
    subject_id: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    kind: DeadlineKind = Field(sa_column=sa.Column(enum_type(DeadlineKind, "deadline_kind"), nullable=False))
    started_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    due_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    ends_at: datetime = Field(sa_column=sa.Column(UtcDateTime(), nullable=False))
    provisional: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, default=False))
    rule: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    state: DeadlineState = Field(
        default=DeadlineState.pending,
        sa_column=sa.Column(enum_type(DeadlineState, "deadline_state"), nullable=False),
    )
    # Fencing token for deadline jobs: a job whose version is stale does nothing.
    version: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False, default=1))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))
    closed_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime()))


class RequestMessage(SQLModel, table=True):
    """A message in a request's thread between the two courts and the supervisors."""

    __tablename__ = "request_message"
    __table_args__ = (sa.Index("ix_request_message_request_id", "request_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("assistance_request.id"), nullable=False)
    )
    author: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))
    author_name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    author_court: str = Field(sa_column=court_fk())
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))


class MessageRead(SQLModel, table=True):
    """How far each court has read a request's thread (read receipts per court)."""

    __tablename__ = "request_message_read"

    request_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("assistance_request.id"), primary_key=True)
    )
    court_code: str = Field(sa_column=sa.Column(sa.String(6), sa.ForeignKey("court.code"), primary_key=True))
    last_read_message_id: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    read_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))


class Attachment(SQLModel, table=True):
    """A document on a request; content-addressed on disk by its SHA-256."""

    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("assistance_request.id"), nullable=False, index=True)
    )
    purpose: AttachmentPurpose = Field(
        sa_column=sa.Column(enum_type(AttachmentPurpose, "attachment_purpose"), nullable=False)
    )
    filename: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    content_type: str = Field(sa_column=sa.Column(sa.String(60), nullable=False))
    size: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    uploaded_by: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))
    uploaded_court: str = Field(sa_column=court_fk())
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))
