"""The append-only audit chain, the row that marks its head, and their read schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import Field as SchemaField
from sqlmodel import Field, SQLModel

from command_center.api import Schema
from command_center.db import UtcDateTime, as_utc  # noqa: F401 (as_utc re-exported)

OUTCOMES = ("success", "failure", "denied")
GENESIS_HASH = "0" * 64


class AuditEntry(SQLModel, table=True):
    """One audited act. Rows are only ever inserted; each hash covers the row and the previous hash."""

    __tablename__ = "audit_entry"
    __table_args__ = (
        sa.Index("ix_audit_entry_subject", "subject_type", "subject_id", "seq"),
        sa.CheckConstraint("outcome IN ('success', 'failure', 'denied')", name="outcome"),
    )

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_column=sa.Column(sa.Integer, nullable=False, unique=True))  # 1-based chain position
    at: datetime = Field(sa_column=sa.Column(UtcDateTime(), nullable=False))
    actor: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))  # "user:alice", "system"
    actor_court: str | None = Field(
        default=None, sa_column=sa.Column(sa.String(12), nullable=True, index=True)
    )
    action: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, index=True))
    subject_type: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    subject_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(200), nullable=True))
    outcome: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    prev_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))


class AuditHead(SQLModel, table=True):
    """The single row (id 1) naming the last entry; appenders lock it, so the chain never forks."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, sa_column=sa.Column(sa.Integer, primary_key=True, autoincrement=False))
    seq: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))


class AuditEntryRead(Schema):
    id: int
    seq: int
    at: datetime
    actor: str
    actor_court: str | None
    action: str
    subject_type: str
    subject_id: str | None
    outcome: str
    details: dict[str, Any]


class BrokenEntryRead(Schema):
    seq: int | None = SchemaField(description="chain position of the first entry that fails verification")
    id: int | None = SchemaField(description="row id of that entry (null when the entry is missing)")
    reason: str


class AuditVerifyRead(Schema):
    ok: bool
    checked: int = SchemaField(description="entries found intact, in chain order")
    first_broken: BrokenEntryRead | None
