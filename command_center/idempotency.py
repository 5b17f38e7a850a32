"""Idempotency keys for writes a client may retry: same key and body → the original response."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from command_center.db import utcnow


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_record"
    __table_args__ = (sa.UniqueConstraint("principal", "key"),)

    id: int | None = Field(default=None, primary_key=True)
    principal: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))  # "user:5", "token:3"
    key: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    request_hash: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    status: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    resource_type: str = Field(sa_column=sa.Column(sa.String(40), nullable=False))
    resource_id: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(sa.DateTime(timezone=True)))
