"""The audit chain: appends link by hash, details are masked, and tampering is found where it happened."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.audit.models import GENESIS_HASH, AuditEntry, AuditHead
from command_center.db import Database
from command_center.errors import Forbidden
from command_center.identity.principal import Principal, Role

ENTRY = AuditEntry.__table__
ALICE = Principal(kind="user", id=7, name="alice", court_code="330106", role=Role.officer, session_id=3)
COURT_SYSTEM = Principal(kind="token", id=2, name="court-system", court_code="110105", role=Role.clerk)


async def _append(session: AsyncSession, count: int, **kw: Any) -> list[AuditEntry]:
    entries = []
    for i in range(count):
        entries.append(
            await audit.record(
                session,
                action=kw.get("action", "assistance.file"),
                actor=kw.get("actor", ALICE),
                subject_type="assistance_request",
                subject_id=str(1000 + i),
                details={"step": i, "note": f"第{i}步"},
            )
        )
    return entries


async def _head(session: AsyncSession) -> Any:
    return (await session.execute(select(AuditHead.__table__))).first()


async def test_each_entry_links_to_the_previous_hash(session: AsyncSession) -> None:
    head = await _head(session)
    entries = await _append(session, 3)
    assert entries[0].prev_hash == (head.hash if head else GENESIS_HASH)
    assert [e.seq for e in entries] == [entries[0].seq + i for i in range(3)]
    assert entries[1].prev_hash == entries[0].hash and entries[2].prev_hash == entries[1].hash
    assert all(e.hash == audit.chain_hash(e) and len(e.hash) == 64 for e in entries)
    new_head = await _head(session)
    assert (new_head.seq, new_head.hash) == (entries[2].seq, entries[2].hash)


async def test_the_first_entry_links_to_the_genesis_hash(private_db: Database) -> None:
    async with private_db.unit_of_work() as session:
        await audit.record(session, action="system.started", subject_type="system")
    async with private_db.unit_of_work() as session:
        first = (await session.execute(select(ENTRY).where(ENTRY.c.seq == 1))).one()
    assert first.prev_hash == GENESIS_HASH == "0" * 64


async def test_actor_comes_from_the_principal_or_the_label_or_is_the_system(session: AsyncSession) -> None:
    by_user = await audit.record(
        session, action="session.login", actor=ALICE, subject_type="user", subject_id="7"
    )
    by_token = await audit.record(
        session, action="assistance.submit", actor=COURT_SYSTEM, subject_type="case"
    )
    by_label = await audit.record(
        session,
        action="session.login",
        actor_label="anonymous@10.0.0.8",
        court_code="330106",
        subject_type="user",
        outcome="failure",
    )
    by_system = await audit.record(session, action="deadline.escalated", subject_type="assistance_request")
    assert (by_user.actor, by_user.actor_court) == ("user:alice", "330106")
    assert (by_token.actor, by_token.actor_court) == ("token:court-system", "110105")
    assert (by_label.actor, by_label.actor_court, by_label.outcome) == (
        "anonymous@10.0.0.8",
        "330106",
        "failure",
    )
    assert (by_system.actor, by_system.actor_court, by_system.subject_id) == ("system", None, None)


async def test_entry_time_is_utc_and_timezone_aware_after_loading(session: AsyncSession) -> None:
    entry = await audit.record(
        session, action="case.viewed", actor=ALICE, subject_type="case", subject_id="55"
    )
    session.expunge_all()
    loaded = (await audit.list_for_subject(session, subject_type="case", subject_id="55"))[-1]
    assert loaded.at == entry.at and loaded.at.utcoffset().total_seconds() == 0


async def test_details_are_masked_before_they_are_hashed_and_stored(session: AsyncSession) -> None:
    entry = await audit.record(
        session,
        action="case.create",
        actor=ALICE,
        subject_type="case",
        subject_id="(2025)浙0106执1234号",
        details={
            "respondent": {"name": "王五", "id_number": "330106198506153212", "phone": "13812345678"},
            "note": "冻结账户6222021202041234569",
        },
    )
    raw = (
        await session.execute(text("SELECT details FROM audit_entry WHERE id = :id"), {"id": entry.id})
    ).scalar_one()
    raw_text = raw if isinstance(raw, str) else str(raw)
    for secret in ("330106198506153212", "13812345678", "6222021202041234569"):
        assert secret not in raw_text
    assert entry.details["respondent"] == {
        "name": "王五",
        "id_number": "3301**********3212",
        "phone": "138****5678",
    }
    assert entry.subject_id == "(2025)浙0106执1234号"
    assert (await audit.verify(session)).ok


async def test_an_unknown_outcome_is_refused(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="outcome"):
        await audit.record(session, action="x.y", subject_type="t", outcome="maybe")


async def test_an_untouched_chain_of_hundreds_of_entries_verifies(session: AsyncSession) -> None:
    await _append(session, 300)
    result = await audit.verify(session, batch_size=64)
    assert result.ok, result.reason
    head = await _head(session)
    assert result.checked == head.seq >= 300
    assert result.first_broken_seq is None and result.reason is None


async def test_an_empty_chain_verifies(private_db: Database) -> None:
    async with private_db.unit_of_work() as session:
        if await _head(session) is None:
            assert await audit.verify(session) == audit.VerifyResult(ok=True, checked=0)


@pytest.mark.parametrize("batch_size", [5000, 10, 3])
async def test_edited_details_break_the_chain_at_the_edited_entry(
    session: AsyncSession, batch_size: int
) -> None:
    entries = await _append(session, 20)
    target = entries[9]
    await session.execute(
        update(ENTRY).where(ENTRY.c.id == target.id).values(details={"step": 9, "note": "改"})
    )
    result = await audit.verify(session, batch_size=batch_size)
    assert not result.ok
    assert (result.first_broken_seq, result.first_broken_id) == (target.seq, target.id)
    assert "hash does not match" in result.reason
    assert result.checked == target.seq - 1


async def test_a_rewritten_entry_with_a_recomputed_hash_breaks_at_the_next_entry(
    session: AsyncSession,
) -> None:
    entries = await _append(session, 5)
    forged = (await session.execute(select(ENTRY).where(ENTRY.c.id == entries[2].id))).one()._asdict()
    forged["outcome"] = "failure"
    forged_hash = audit.chain_hash(type("Forged", (), forged))
    await session.execute(
        text("UPDATE audit_entry SET outcome = 'failure', hash = :h WHERE id = :id"),
        {"h": forged_hash, "id": entries[2].id},
    )
    result = await audit.verify(session)
    assert (result.ok, result.first_broken_seq, result.first_broken_id) == (
        False,
        entries[3].seq,
        entries[3].id,
    )
    assert "prev_hash" in result.reason


async def test_a_deleted_entry_breaks_the_chain_where_it_was_removed(session: AsyncSession) -> None:
    entries = await _append(session, 10)
    await session.execute(text("DELETE FROM audit_entry WHERE id = :id"), {"id": entries[4].id})
    result = await audit.verify(session, batch_size=4)
    assert (result.ok, result.first_broken_seq, result.first_broken_id) == (
        False,
        entries[5].seq,
        entries[5].id,
    )
    assert f"entry {entries[4].seq} is missing" in result.reason


async def test_deleting_the_last_entries_is_caught_by_the_head(session: AsyncSession) -> None:
    entries = await _append(session, 6)
    await session.execute(delete(ENTRY).where(ENTRY.c.id.in_([entries[-1].id, entries[-2].id])))
    result = await audit.verify(session)
    assert (result.ok, result.first_broken_seq, result.first_broken_id) == (False, entries[-2].seq, None)
    assert "head" in result.reason and "missing" in result.reason


async def test_swapped_seqs_break_the_chain_at_the_earlier_position(session: AsyncSession) -> None:
    entries = await _append(session, 8)
    first, second = entries[2], entries[5]
    for entry_id, seq in ((first.id, -1), (second.id, first.seq), (first.id, second.seq)):
        await session.execute(
            text("UPDATE audit_entry SET seq = :seq WHERE id = :id"), {"seq": seq, "id": entry_id}
        )
    result = await audit.verify(session)
    assert (result.ok, result.first_broken_seq, result.first_broken_id) == (False, first.seq, second.id)


async def test_swapped_contents_break_the_chain_at_the_earlier_position(session: AsyncSession) -> None:
    entries = await _append(session, 8)
    first, second = entries[1], entries[2]
    columns = ("at", "actor", "action", "subject_id", "details", "prev_hash", "hash")
    rows = {
        row.id: row._asdict()
        for row in (await session.execute(select(ENTRY).where(ENTRY.c.id.in_([first.id, second.id])))).all()
    }
    for target, source in ((first.id, second.id), (second.id, first.id)):
        values = {c: rows[source][c] for c in columns}
        await session.execute(update(ENTRY).where(ENTRY.c.id == target).values(**values))
    result = await audit.verify(session)
    assert (result.ok, result.first_broken_seq, result.first_broken_id) == (False, first.seq, first.id)


async def test_a_moved_head_is_caught(session: AsyncSession) -> None:
    await _append(session, 3)
    await session.execute(text("UPDATE audit_head SET hash = :h WHERE id = 1"), {"h": "f" * 64})
    result = await audit.verify(session)
    assert not result.ok and "head" in result.reason


async def test_concurrent_appends_never_fork_the_chain(private_db: Database) -> None:
    async def appender(worker: int) -> None:
        for i in range(10):
            async with private_db.unit_of_work() as session:
                await audit.record(
                    session,
                    action="assistance.file",
                    actor_label=f"worker:{worker}",
                    subject_type="assistance_request",
                    subject_id=f"{worker}-{i}",
                )

    await asyncio.gather(*(appender(w) for w in range(8)))
    async with private_db.unit_of_work() as session:
        seqs = (await session.execute(select(ENTRY.c.seq).order_by(ENTRY.c.seq))).scalars().all()
        result = await audit.verify(session, batch_size=16)
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 80
    assert result.ok, result.reason
    assert result.checked == len(seqs)


async def test_record_in_own_transaction_survives_the_rolled_back_request(test_db: Database) -> None:
    with pytest.raises(Forbidden):
        async with test_db.unit_of_work() as session:
            await audit.record(
                session,
                action="assistance.reroute",
                actor=ALICE,
                subject_type="assistance_request",
                subject_id="77",
            )
            raise Forbidden("Only command staff may reroute a request.")
    await audit.record_in_own_transaction(
        test_db,
        action="access.denied",
        actor=ALICE,
        subject_type="assistance_request",
        subject_id="77",
        outcome="denied",
        details={"reason": "Only command staff may reroute a request."},
    )
    async with test_db.unit_of_work() as session:
        entries = await audit.list_for_subject(session, subject_type="assistance_request", subject_id="77")
        assert [(e.action, e.outcome) for e in entries] == [("access.denied", "denied")]
        assert (await audit.verify(session)).ok


async def test_list_for_subject_returns_that_subjects_entries_oldest_first(session: AsyncSession) -> None:
    for action in ("assistance.submit", "assistance.route", "assistance.file"):
        await audit.record(
            session, action=action, actor=ALICE, subject_type="assistance_request", subject_id="4242"
        )
    await audit.record(
        session, action="assistance.submit", actor=ALICE, subject_type="assistance_request", subject_id="4243"
    )
    entries = await audit.list_for_subject(session, subject_type="assistance_request", subject_id="4242")
    assert [e.action for e in entries] == ["assistance.submit", "assistance.route", "assistance.file"]
    assert entries[0].seq < entries[1].seq < entries[2].seq


async def test_an_overlong_subject_from_a_request_is_cut_not_refused(session: AsyncSession) -> None:
    path = "GET /api/v1/" + "a" * 500
    entry = await audit.record(
        session, action="access.denied", subject_type="http", subject_id=path, outcome="denied"
    )
    assert len(entry.subject_id) == 200 and entry.subject_id.startswith("GET /api/v1/aaa")
    assert (await audit.verify(session)).ok
