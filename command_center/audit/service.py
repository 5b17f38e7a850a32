"""Appending to the audit chain and verifying it.

Each entry's hash is SHA-256 over the canonical JSON of its fields plus the previous entry's hash,
so editing, deleting or reordering entries breaks the chain at a place `verify` can name. The chain
has one writer at a time: appenders lock the `audit_head` row in their own transaction.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit.models import GENESIS_HASH, OUTCOMES, AuditEntry, AuditHead, as_utc
from command_center.db import Database, utcnow
from command_center.identity.principal import Principal
from command_center.masking import jsonable, mask_data

log = logging.getLogger(__name__)

HEAD_ID = 1
_ENTRY = AuditEntry.__table__
_HEAD = AuditHead.__table__
# Built once, so SQLAlchemy's statement cache finds them without rebuilding their keys each time.
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID).with_for_update()
_ADVANCE_HEAD = (
    update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)
_INSERT_ENTRIES = insert(_ENTRY)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    ok: bool
    checked: int  # entries found intact, in chain order
    first_broken_seq: int | None = None
    first_broken_id: int | None = None
    reason: str | None = None


def canonical_json(value: Any) -> bytes:
    """The bytes that are hashed: sorted keys, no whitespace, UTF-8 without escapes."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def chain_hash(entry: Any) -> str:
    """SHA-256 (hex) of an entry's fields and its prev_hash; `entry` is an AuditEntry or a row."""
    fields = {
        "seq": entry.seq,
        "at": as_utc(entry.at).isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "actor_court": entry.actor_court,
        "action": entry.action,
        "subject_type": entry.subject_type,
        "subject_id": entry.subject_id,
        "outcome": entry.outcome,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def _dialect_insert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


async def _lock_head(session: AsyncSession) -> tuple[int, str]:
    """The current head, locked until the caller's transaction ends.

    PostgreSQL: FOR UPDATE makes concurrent appenders queue on the row. SQLite: every transaction
    begins IMMEDIATE (command_center.db), so the write lock already serializes them. The first
    append ever creates the row; ON CONFLICT DO NOTHING lets a concurrent first append wait for it.
    """
    stmt = _LOCK_HEAD
    row = (await session.execute(stmt)).first()
    if row is None:
        insert = _dialect_insert(session)
        await session.execute(
            insert(_HEAD)
            .values(id=HEAD_ID, seq=0, hash=GENESIS_HASH)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = (await session.execute(stmt)).one()
    return row.seq, row.hash


def _fit(value: str, column: str) -> str:
    # Labels may come from a request (a path, a username typed at sign-in); an overlong one is cut
    # rather than failing the write that records a denied access.
    length = _ENTRY.c[column].type.length
    return value if len(value) <= length else value[: length - 1] + "…"


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry for `record_entries`; the fields mean what `record`'s arguments mean."""

    action: str
    subject_type: str
    actor: Principal | None = None
    actor_label: str | None = None
    court_code: str | None = None
    subject_id: str | None = None
    outcome: str = "success"
    details: dict | None = None


def _entry_values(entry: NewEntry, *, seq: int, at: datetime, prev_hash: str) -> dict[str, Any]:
    """The row of `entry` at chain position `seq`, after `prev_hash`, hash included."""
    if entry.outcome not in OUTCOMES:
        raise ValueError(f"audit outcome must be one of {OUTCOMES}, not {entry.outcome!r}")
    if entry.actor is not None:
        label, court = entry.actor.label, entry.actor.court_code
    else:
        label, court = entry.actor_label or "system", entry.court_code
    values: dict[str, Any] = {
        "seq": seq,
        "at": at,
        "actor": _fit(label, "actor"),
        "actor_court": court,
        "action": _fit(entry.action, "action"),
        "subject_type": _fit(entry.subject_type, "subject_type"),
        "subject_id": None if entry.subject_id is None else _fit(str(entry.subject_id), "subject_id"),
        "outcome": entry.outcome,
        "details": mask_data(jsonable(entry.details or {})),
        "prev_hash": prev_hash,
    }
    values["hash"] = chain_hash(SimpleNamespace(**values))
    return values


async def record(
    session: AsyncSession,
    *,
    action: str,
    actor: Principal | None = None,
    actor_label: str | None = None,
    court_code: str | None = None,
    subject_type: str,
    subject_id: str | None = None,
    outcome: str = "success",
    details: dict | None = None,
) -> AuditEntry:
    """Appends one entry (details masked) in the caller's transaction and advances the head.

    With a Principal, the actor label and court are the principal's; otherwise `actor_label`
    (default "system") and `court_code`. The head row stays locked until the caller commits, so keep
    the transaction short after recording.
    """
    new = NewEntry(
        action=action,
        subject_type=subject_type,
        actor=actor,
        actor_label=actor_label,
        court_code=court_code,
        subject_id=subject_id,
        outcome=outcome,
        details=details,
    )
    if outcome not in OUTCOMES:
        raise ValueError(f"audit outcome must be one of {OUTCOMES}, not {outcome!r}")
    head_seq, head_hash = await _lock_head(session)
    entry = AuditEntry(**_entry_values(new, seq=head_seq + 1, at=utcnow(), prev_hash=head_hash))
    session.add(entry)
    await session.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=entry.seq, hash=entry.hash))
    await session.flush()
    return entry


async def record_entries(session: AsyncSession, entries: Sequence[NewEntry]) -> list[int]:
    """Appends several entries, in order, in the caller's transaction: the head is locked and advanced
    once and the rows are written by one insert. Returns their chain positions (seq)."""
    for entry in entries:
        if entry.outcome not in OUTCOMES:
            raise ValueError(f"audit outcome must be one of {OUTCOMES}, not {entry.outcome!r}")
    if not entries:
        return []
    head_seq, head_hash = await _lock_head(session)
    at = utcnow()
    rows = []
    for entry in entries:
        head_seq += 1
        rows.append(_entry_values(entry, seq=head_seq, at=at, prev_hash=head_hash))
        head_hash = rows[-1]["hash"]
    await session.execute(_INSERT_ENTRIES, rows)
    await session.execute(_ADVANCE_HEAD, {"new_seq": head_seq, "new_hash": head_hash})
    return [row["seq"] for row in rows]


async def record_in_own_transaction(db: Database, **kwargs: Any) -> None:
    """Appends one entry in a unit of work of its own (for acts whose request transaction rolled back).

    Call it after the request's unit of work has ended: on SQLite a still-open write transaction
    holds the database lock this one needs.
    """
    async with db.unit_of_work() as session:
        await record(session, **kwargs)


def _entry_problem(row: Any, expected_seq: int, prev_hash: str) -> str | None:
    if row.seq != expected_seq:
        if row.seq > expected_seq:
            missing = str(expected_seq) if row.seq == expected_seq + 1 else f"{expected_seq}-{row.seq - 1}"
            return f"seq {row.seq} follows seq {expected_seq - 1}: entry {missing} is missing"
        return f"seq {row.seq} where seq {expected_seq} was expected"
    if row.prev_hash != prev_hash:
        before = "the genesis hash" if expected_seq == 1 else f"the hash of entry {expected_seq - 1}"
        return f"prev_hash does not match {before}: entries were removed, reordered or rewritten"
    try:
        recomputed = chain_hash(row)
    except (TypeError, ValueError, AttributeError) as exc:
        return f"the entry cannot be hashed ({exc})"
    if recomputed != row.hash:
        return "hash does not match the entry's contents: the entry was changed"
    return None


async def verify(session: AsyncSession, *, batch_size: int = 5000) -> VerifyResult:
    """Walks the chain in seq order, batch by batch, and reports the first entry that does not verify.

    Only entries up to the head read at the start are checked: on PostgreSQL, entries appended
    while the walk runs are left for the next verification.
    """
    head = (await session.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID))).first()
    expected_seq, prev_hash, checked = 1, GENESIS_HASH, 0
    last_id: int | None = None
    after_seq: int | None = None
    while True:
        stmt = select(_ENTRY).order_by(_ENTRY.c.seq).limit(batch_size)
        if after_seq is not None:
            stmt = stmt.where(_ENTRY.c.seq > after_seq)
        if head is not None:
            stmt = stmt.where(_ENTRY.c.seq <= head.seq)
        rows = (await session.execute(stmt)).all()
        for row in rows:
            problem = _entry_problem(row, expected_seq, prev_hash)
            if problem:
                return _broken(checked, row.seq, row.id, problem)
            expected_seq, prev_hash, checked, last_id = row.seq + 1, row.hash, checked + 1, row.id
        if len(rows) < batch_size:
            break
        after_seq = rows[-1].seq

    last_seq = expected_seq - 1
    if head is None:
        if checked:
            return _broken(checked, None, None, "the audit head row is missing")
        return VerifyResult(ok=True, checked=0)
    if head.seq != last_seq:
        missing = str(head.seq) if head.seq == last_seq + 1 else f"{last_seq + 1}-{head.seq}"
        return _broken(
            checked,
            last_seq + 1,
            None,
            f"the head names seq {head.seq} but the chain ends at seq {last_seq}: entry {missing} is missing",
        )
    if head.hash != prev_hash:
        return _broken(
            checked - 1 if checked else 0,
            last_seq or None,
            last_id,
            "the head's hash does not match the last entry: the entry was rewritten",
        )
    return VerifyResult(ok=True, checked=checked)


def _broken(checked: int, seq: int | None, entry_id: int | None, reason: str) -> VerifyResult:
    log.warning("audit chain broken at seq %s (id %s): %s", seq, entry_id, reason)
    return VerifyResult(
        ok=False, checked=checked, first_broken_seq=seq, first_broken_id=entry_id, reason=reason
    )


async def list_for_subject(session: AsyncSession, *, subject_type: str, subject_id: str) -> list[AuditEntry]:
    """The entries about one subject, oldest first."""
    stmt = (
        select(AuditEntry)
        .where(AuditEntry.subject_type == subject_type, AuditEntry.subject_id == str(subject_id))
        .order_by(AuditEntry.seq)
    )
    return list((await session.execute(stmt)).scalars().all())
