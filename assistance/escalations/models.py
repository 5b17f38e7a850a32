"""Escalations, the record that a deadline job fired, and supervision orders (督办)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from assistance.escalations.enums import (
    EscalationKind,
    EscalationState,
    FiringPurpose,
    SupervisionOrderState,
)
from command_center.db import UtcDateTime, court_fk, enum_type, utcnow


class Escalation(SQLModel, table=True):
    """What one missed deadline set in motion; exactly one per deadline (the unique `deadline_id`)."""

    __tablename__ = "escalation"
    __table_args__ = (
        # The list view pages newest first within the caller's courts, on each court column it may match.
        sa.Index("ix_escalation_supervising_id", "supervising_court", "id"),
        sa.Index("ix_escalation_target_id", "target_court", "id"),
        sa.Index("ix_escalation_requesting_id", "requesting_court", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    deadline_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("deadline.id"), nullable=False, unique=True)
    )
    kind: EscalationKind = Field(
        sa_column=sa.Column(enum_type(EscalationKind, "escalation_kind"), nullable=False)
    )
    subject_type: str = Field(sa_column=sa.Column(sa.String(20), nullable=False))  # "request" or "case"
    subject_id: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    request_id: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("assistance_request.id"), nullable=True, index=True),
    )
    case_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("enforcement_case.id"), nullable=False, index=True)
    )
    # The court whose clock ran out, the court that asked (requests only), the court that supervises.
    target_court: str = Field(sa_column=court_fk())
    requesting_court: str | None = Field(default=None, sa_column=court_fk(nullable=True))
    supervising_court: str = Field(sa_column=court_fk())
    state: EscalationState = Field(
        default=EscalationState.open,
        sa_column=sa.Column(enum_type(EscalationState, "escalation_state"), nullable=False),
    )
    details: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))
    resolved_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime()))
    resolved_by: str | None = Field(default=None, sa_column=sa.Column(sa.String(80), nullable=True))
    resolution_note: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))


class DeadlineFiring(SQLModel, table=True):
    """Proof that a deadline job acted: a second run for the same deadline, version and purpose
    hits the unique constraint and does nothing."""

    __tablename__ = "deadline_firing"
    __table_args__ = (
        sa.UniqueConstraint("deadline_id", "version", "purpose", name="uq_deadline_firing_once"),
    )

    id: int | None = Field(default=None, primary_key=True)
    deadline_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("deadline.id"), nullable=False))
    version: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    purpose: FiringPurpose = Field(
        sa_column=sa.Column(enum_type(FiringPurpose, "firing_purpose"), nullable=False)
    )
    fired_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))


class SupervisionOrder(SQLModel, table=True):
    """A supervision order (督办) from the supervising command center to the court that did not start.

    Civil Procedure Law, commissioned execution article: when the receiving court has not acted within
    15 days, its superior may be asked to order it to act; the order carries its own deadline.
    `overdue_at` is set once, when that deadline passed with the order still open and the courts were told.
    """

    __tablename__ = "supervision_order"
    __table_args__ = (
        # The sweep for open orders whose own deadline has passed.
        sa.Index("ix_supervision_order_state_ends_at", "state", "ends_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    escalation_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("escalation.id"), nullable=False, unique=True)
    )
    request_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("assistance_request.id"), nullable=False, index=True)
    )
    issuing_court: str = Field(sa_column=court_fk())
    target_court: str = Field(sa_column=court_fk())
    issued_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    due_on: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    ends_at: datetime = Field(sa_column=sa.Column(UtcDateTime(), nullable=False))
    provisional: bool = Field(default=False, sa_column=sa.Column(sa.Boolean, nullable=False, default=False))
    rule: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    state: SupervisionOrderState = Field(
        default=SupervisionOrderState.open,
        sa_column=sa.Column(enum_type(SupervisionOrderState, "supervision_order_state"), nullable=False),
    )
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))
    overdue_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime(), nullable=True))
    closed_at: datetime | None = Field(default=None, sa_column=sa.Column(UtcDateTime()))
