"""Idempotency keys for writes a client may retry: same key and body → the original response."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from command_center.db import UtcDateTime, utcnow
from command_center.errors import Conflict, InvalidInput
from command_center.identity.principal import Principal
from command_center.masking import jsonable


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
    created_at: datetime = Field(default_factory=utcnow, sa_column=sa.Column(UtcDateTime()))


# --- service ---------------------------------------------------------------------------------------
#
# A client that retries a write sends the same `Idempotency-Key` header. The key is scoped to the
# caller ("user:<id>" or "token:<id>"), so two court systems can never collide. The record is written in
# the transaction of the write it stands for: if that rolls back, the key was never used.
#
# Concurrent duplicates: both transactions find no record and do the work; the second one's insert of
# the record waits on the unique constraint (PostgreSQL) until the first commits, then fails with
# KeyInUse, and its whole transaction rolls back. Its caller then looks the key up again in a new
# transaction and answers with the winner's result. On SQLite writers are serialized (BEGIN IMMEDIATE),
# so the second one finds the first one's record before doing anything.

MAX_KEY_LENGTH = 200
_RECORD = IdempotencyRecord.__table__
# Built once, so SQLAlchemy's statement cache finds them without rebuilding their keys each time.
_LOOKUP_MANY = sa.select(
    _RECORD.c.principal,
    _RECORD.c.key,
    _RECORD.c.request_hash,
    _RECORD.c.status,
    _RECORD.c.resource_type,
    _RECORD.c.resource_id,
).where(sa.tuple_(_RECORD.c.principal, _RECORD.c.key).in_(sa.bindparam("keys", expanding=True)))
_INSERT = sa.insert(_RECORD)


class KeyInUse(Exception):
    """Another transaction stored this key first; retry the lookup in a new transaction."""


def principal_scope(principal: Principal) -> str:
    """The scope of a caller's keys: "user:<id>" or "token:<id>"."""
    return f"{principal.kind}:{principal.id}"


def request_hash(body: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of a request body (sorted keys, no whitespace)."""
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    canonical = json.dumps(jsonable(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def check_key(key: str) -> str:
    """The key as stored; InvalidInput for an empty, overlong or non-printable key."""
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise InvalidInput(
            f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            details=[{"field": "Idempotency-Key", "message": "invalid key"}],
        )
    return key


async def lookup(
    session: AsyncSession, *, principal: Principal, key: str, body_hash: str, resource_type: str
) -> IdempotencyRecord | None:
    """The earlier outcome of this caller's key, or None for a key not used yet.

    Conflict (409) when the key was used with a different body or for another kind of write.
    """
    stmt = select(IdempotencyRecord).where(
        IdempotencyRecord.principal == principal_scope(principal), IdempotencyRecord.key == key
    )
    record = (await session.execute(stmt)).scalar_one_or_none()
    if record is None:
        return None
    check_reuse(record, key=key, body_hash=body_hash, resource_type=resource_type)
    return record


def check_reuse(record: Any, *, key: str, body_hash: str, resource_type: str) -> None:
    """Conflict (409) unless `record` (a stored outcome of `key`) is for this body and kind of write."""
    if record.request_hash != body_hash or record.resource_type != resource_type:
        raise Conflict(
            "This Idempotency-Key was already used with a different request body; "
            "use a new key for a new request.",
            details={"idempotency_key": key},
            code="idempotency_key_reused",
        )


async def lookup_many(
    session: AsyncSession, *, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Any]:
    """The stored outcomes (rows with request_hash, status, resource_type, resource_id) of several
    (scope, key) pairs in one query, by pair; pairs never used are absent. Check each with `check_reuse`."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = (await session.execute(_LOOKUP_MANY, {"keys": wanted})).all()
    return {(row.principal, row.key): row for row in rows}


async def remember_many(session: AsyncSession, *, records: Sequence[dict[str, Any]]) -> None:
    """Stores several outcomes (dicts of principal scope, key, request_hash, status, resource_type,
    resource_id) in one insert, in the writes' transaction; KeyInUse as for `remember`."""
    if not records:
        return
    now = utcnow()
    try:
        await session.execute(_INSERT, [{**record, "created_at": now} for record in records])
    except IntegrityError as exc:
        raise KeyInUse(", ".join(record["key"] for record in records)) from exc


async def remember(
    session: AsyncSession,
    *,
    principal: Principal,
    key: str,
    body_hash: str,
    status: int,
    resource_type: str,
    resource_id: int,
) -> IdempotencyRecord:
    """Stores the outcome of a write under the caller's key, in the write's transaction.

    Raises KeyInUse when a concurrent transaction stored the same key first (the caller's transaction
    is then unusable and must roll back).
    """
    record = IdempotencyRecord(
        principal=principal_scope(principal),
        key=key,
        request_hash=body_hash,
        status=status,
        resource_type=resource_type,
        resource_id=resource_id,
    )
    session.add(record)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise KeyInUse(key) from exc
    return record
