"""Group commit of submissions: each one is checked and answered on its own, written with the others."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sqlalchemy as sa

from assistance.requests import intake, intake_batch
from assistance.requests.intake_batch import Answer, Intake, IntakeQueue, submit_many
from assistance.requests.models import AssistanceRequest, Deadline
from assistance.requests.schemas import RequestCreate
from command_center.audit import service as audit
from command_center.audit.models import AuditEntry
from command_center.errors import Conflict, Forbidden, InvalidInput
from command_center.idempotency import IdempotencyRecord
from command_center.outbox.models import OutboxEvent
from tests.assistance.requests.conftest import REQUESTER, ROUTED_AT, request_body


@pytest.fixture
def intake_of(court_directory: Any, legal_calendar: Any, principal_of: Any) -> Any:
    def build(case: Any, *, key: str | None = None, principal: Any = None, **overrides: Any) -> Intake:
        return Intake(
            principal=principal or principal_of(REQUESTER, "clerk", kind="token"),
            data=RequestCreate.model_validate(request_body(case, **overrides)),
            idempotency_key=key,
            directory=court_directory,
            calendar=legal_calendar,
        )

    return build


async def _count(test_db: Any, model: Any, *where: Any) -> int:
    async with test_db.unit_of_work(read_only=True) as s:
        return await s.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


async def test_a_failing_submission_gets_its_error_and_the_others_are_written(
    test_db: Any, make_case: Any, intake_of: Any, principal_of: Any
) -> None:
    first, second = await make_case(REQUESTER), await make_case(REQUESTER)
    items = [
        intake_of(first, key="k-ok-1"),
        intake_of(second, subject_id=first.respondents[0].id),  # not a respondent of `second`
        intake_of(first, principal=principal_of(REQUESTER, "command_staff")),  # may not submit
        intake_of(second, key="k-ok-2", materials=["ruling"]),  # a freeze needs the notice too
        intake_of(second),
    ]
    async with test_db.unit_of_work() as s:
        answers = await submit_many(s, items, now=ROUTED_AT)

    assert isinstance(answers[0], Answer) and isinstance(answers[4], Answer)
    assert isinstance(answers[1], InvalidInput) and answers[1].details[0]["field"] == "subject_id"
    assert isinstance(answers[2], Forbidden)
    assert isinstance(answers[3], InvalidInput) and answers[3].details[0]["field"] == "materials"
    written = [answers[0].read, answers[4].read]
    assert [r.case_id for r in written] == [first.case.id, second.case.id]
    assert all(r.status == "routed" and r.version == 1 and len(r.deadlines) == 3 for r in written)
    # Only the two good submissions left rows: requests, clocks, one key, events, audit entries.
    ids = [r.id for r in written]
    assert (
        await _count(
            test_db, AssistanceRequest, AssistanceRequest.case_id.in_([first.case.id, second.case.id])
        )
        == 2
    )
    assert (
        await _count(test_db, Deadline, Deadline.subject_type == "request", Deadline.subject_id.in_(ids)) == 6
    )
    assert await _count(test_db, IdempotencyRecord, IdempotencyRecord.key.in_(["k-ok-1", "k-ok-2"])) == 1
    for request_id in ids:
        assert await _count(test_db, OutboxEvent, OutboxEvent.room == f"request:{request_id}") == 1
        submitted = (AuditEntry.action == "assistance.submitted", AuditEntry.subject_id == str(request_id))
        assert await _count(test_db, AuditEntry, *submitted) == 1
    async with test_db.unit_of_work(read_only=True) as s:
        assert (await audit.verify(s)).ok


async def test_the_answer_is_what_a_later_read_returns(
    test_db: Any, make_case: Any, intake_of: Any, court_directory: Any
) -> None:
    from assistance.requests.queries import get_request
    from assistance.requests.reads import request_read

    case = await make_case(REQUESTER)
    item = intake_of(case, key="k-read")
    async with test_db.unit_of_work() as s:
        (answer,) = await submit_many(s, [item], now=ROUTED_AT)
    assert isinstance(answer, Answer)
    async with test_db.unit_of_work(read_only=True) as s:
        request = await get_request(s, request_id=answer.read.id)
        assert request is not None
        stored = await request_read(
            s, request=request, principal=item.principal, directory=court_directory, now=ROUTED_AT
        )
    assert answer.read.model_dump(mode="json") == stored.model_dump(mode="json")


async def test_a_key_given_twice_in_one_batch_is_written_once(
    test_db: Any, make_case: Any, intake_of: Any, principal_of: Any
) -> None:
    case = await make_case(REQUESTER)
    system = principal_of(REQUESTER, "clerk", kind="token")
    items = [
        intake_of(case, key="k-twice", principal=system),
        intake_of(case, key="k-twice", principal=system),  # a retry arriving with the original
        intake_of(case, key="k-twice", principal=system, description="另一个请求"),
    ]
    async with test_db.unit_of_work() as s:
        answers = await submit_many(s, items, now=ROUTED_AT)
    original, retry, other = answers
    assert isinstance(original, Answer) and not original.replayed
    assert isinstance(retry, Answer) and retry.replayed and retry.read.id == original.read.id
    assert isinstance(other, Conflict)
    assert await _count(test_db, AssistanceRequest, AssistanceRequest.case_id == case.case.id) == 1

    async with test_db.unit_of_work() as s:  # and in a later batch, as a stored key
        again, different = await submit_many(s, items[1:], now=ROUTED_AT)
    assert isinstance(again, Answer) and again.replayed and again.read.id == original.read.id
    assert isinstance(different, Conflict)


async def test_the_queue_answers_concurrent_callers_each_with_their_own_result(
    test_db: Any, make_case: Any, intake_of: Any
) -> None:
    cases = [await make_case(REQUESTER) for _ in range(4)]
    queue = IntakeQueue(test_db)
    items = [intake_of(c, key=f"k-queue-{n}") for n, c in enumerate(cases)]
    items.append(intake_of(cases[0], subject_id=cases[1].respondents[0].id))
    results = await asyncio.gather(*(queue.submit(item) for item in items), return_exceptions=True)
    assert [r.read.case_id for r in results[:4]] == [c.case.id for c in cases]  # type: ignore[union-attr]
    assert isinstance(results[4], InvalidInput)
    async with test_db.unit_of_work(read_only=True) as s:
        assert (await audit.verify(s)).ok


async def test_a_batch_that_fails_in_the_database_is_retried_one_by_one(
    test_db: Any, make_case: Any, intake_of: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = [await make_case(REQUESTER) for _ in range(3)]
    doomed = cases[1].case.id
    real_write = intake.write_drafts
    batches: list[int] = []

    async def failing_write(session: Any, drafts: Any, **kw: Any) -> None:
        # The database refuses any transaction holding the doomed case's request (as for a key that
        # another node stored first).
        batches.append(len(drafts))
        await real_write(session, drafts, **kw)
        if any(d.values["case_id"] == doomed for d in drafts):
            raise sa.exc.IntegrityError("INSERT", {}, Exception("refused"))

    monkeypatch.setattr(intake_batch.intake, "write_drafts", failing_write)
    queue = IntakeQueue(test_db)
    results = await asyncio.gather(
        *(queue.submit(intake_of(c, key=f"k-fail-{n}")) for n, c in enumerate(cases)), return_exceptions=True
    )
    assert isinstance(results[1], sa.exc.IntegrityError)
    assert [r.read.case_id for r in (results[0], results[2])] == [cases[0].case.id, cases[2].case.id]  # type: ignore[union-attr]
    assert batches[0] == 3 and batches[1:] == [1, 1, 1]  # one batch, rolled back, then each alone
    # Nothing of the failed submission (nor of the rolled-back batch) is left half-written.
    assert await _count(test_db, AssistanceRequest, AssistanceRequest.case_id == doomed) == 0
    for c in (cases[0], cases[2]):
        assert await _count(test_db, AssistanceRequest, AssistanceRequest.case_id == c.case.id) == 1
    keys = [f"k-fail-{n}" for n in range(3)]
    assert await _count(test_db, IdempotencyRecord, IdempotencyRecord.key.in_(keys)) == 2
    async with test_db.unit_of_work(read_only=True) as s:
        assert (await audit.verify(s)).ok
