"""Group commit for submissions over HTTP: concurrent intakes of one app node share one transaction.

Every submission writes the same few rows (the request, its idempotency key, three clocks, ~10 outbox
rows, one audit entry) and takes the same two serializing locks: the audit chain's head and the
per-room event counters (and on SQLite the database's single write lock). Taking them once per
submission makes concurrent submissions queue behind each other, one round trip at a time. Here,
submissions that arrive while a transaction is being written wait in `IntakeQueue`; the next
transaction takes all of them (up to `MAX_BATCH`) and `submit_many` checks and writes them together:
one query per lookup and one statement per table, however many submissions.

What stays exactly as for one submission at a time:
- Checks: each submission is checked on its own; one that fails (403, 409 for a reused key, 422) gets
  its own error and writes nothing, and the others are written.
- All or nothing: if the batch's transaction fails in the database (a key stored concurrently by
  another node, a lost connection), it rolls back entirely and every submission of it is retried in a
  transaction of its own, so one bad submission cannot fail the others and nothing is half-written.
- Order: audit entries are chained, and events numbered per room, in the order submissions arrived.
- Callers hear of their submission only after its transaction committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistance.cases.disclosure import party_read
from assistance.cases.models import CaseParty, EnforcementCase
from assistance.enums import PartyRole
from assistance.requests import intake
from assistance.requests.lifecycle import allowed_actions
from assistance.requests.queries import get_request
from assistance.requests.reads import court_read, material_read, may_read_subject_in_full, request_read
from assistance.requests.schemas import DeadlineRead, LocationRead, RequestCreate, RequestRead
from command_center import idempotency
from command_center.db import Database, utcnow
from command_center.errors import Conflict

if TYPE_CHECKING:
    from command_center.calendar import LegalCalendar
    from command_center.courts.directory import CourtDirectory
    from command_center.identity.principal import Principal

MAX_BATCH = 64
GATHER_TURNS = 4
# Built once, so SQLAlchemy's statement cache finds it without rebuilding its key each time.
_CASES_AND_SUBJECTS = (
    sa.select(EnforcementCase, CaseParty)
    .outerjoin(
        CaseParty,
        sa.and_(
            CaseParty.case_id == EnforcementCase.id,
            CaseParty.id.in_(sa.bindparam("subject_ids", expanding=True)),
            CaseParty.role == PartyRole.respondent,
        ),
    )
    .where(EnforcementCase.id.in_(sa.bindparam("case_ids", expanding=True)))
)


@dataclass(frozen=True, slots=True)
class Intake:
    """One submission as it arrived: who sends what, under which Idempotency-Key."""

    principal: Principal
    data: RequestCreate
    idempotency_key: str | None
    directory: CourtDirectory
    calendar: LegalCalendar


@dataclass(frozen=True, slots=True)
class Answer:
    """What the caller is answered: the request as it reads it, and whether it is an earlier one replayed."""

    read: RequestRead
    replayed: bool
    status: int = intake.CREATED


def _draft_read(draft: intake.Draft, *, directory: CourtDirectory, now: datetime) -> RequestRead:
    """The new request as its submitter reads it, from what was just written (no query)."""
    request = draft.view()
    principal = draft.principal
    deadlines = [
        DeadlineRead(
            id=deadline_id,
            kind=row["kind"],
            started_on=row["started_on"],
            due_on=row["due_on"],
            ends_at=row["ends_at"],
            state=row["state"],
            provisional=row["provisional"],
            rule=row["rule"],
        )
        for deadline_id, row in zip(draft.deadline_ids, draft.deadlines, strict=True)
    ]
    return RequestRead(
        id=request.id,
        status=request.status,
        version=request.version,
        case_id=request.case_id,
        case_number=draft.case_number,
        matter_type=request.matter_type,
        urgency=request.urgency,
        requesting_court=court_read(directory, request.requesting_court),
        target_court=court_read(directory, request.target_court),
        supervising_court=court_read(directory, request.supervising_court),
        subject=party_read(draft.subject, reveal=may_read_subject_in_full(principal, request)),  # type: ignore[arg-type]
        location=LocationRead(region_code=request.region_code, address=request.address),
        description=request.description,
        materials=[material_read(code) for code in request.materials],
        current_freeze_expires_on=request.current_freeze_expires_on,
        deadlines=deadlines,
        # A pending clock is overdue once its end has passed (a new one, only if `now` is that late).
        overdue=any(d.ends_at <= now for d in deadlines),
        allowed_actions=allowed_actions(principal, request, directory),  # type: ignore[arg-type]
        routed_on=request.routed_on,
        status_before_supplement=None,
        supplement_missing=None,
        supplement_answer=None,
        reject_reason=None,
        reject_note=None,
        withdraw_reason=None,
        result_text=None,
        result_attachment_ids=[],
        created_at=request.created_at,
        updated_at=request.updated_at,
        closed_at=None,
    )


async def _replayed(session: AsyncSession, item: Intake, record: Any) -> Answer:
    request = await get_request(session, request_id=record.resource_id)
    assert request is not None, "an idempotency record outlived its request"
    read = await request_read(session, request=request, principal=item.principal, directory=item.directory)
    return Answer(read=read, replayed=True, status=record.status)


async def submit_many(
    session: AsyncSession, items: Sequence[Intake], *, now: datetime | None = None
) -> list[Answer | Exception]:
    """Checks and stores several submissions in the caller's transaction, as `intake.create_request`
    would one by one (new requests routed, clocks, `assistance:routed` events, `assistance.submitted`
    audit entries); answers each, in order, with its read or the error it caused (nothing written for it).

    A key already stored answers with its earlier request (or a 409 for another body); a key given
    twice in `items` is written once and the later one is answered as its retry. Raises
    `idempotency.KeyInUse` when a concurrent transaction stored one of the keys first: roll back.
    """
    now = (now or utcnow()).astimezone(UTC)
    answers: list[Answer | Exception | None] = [None] * len(items)
    keyed: dict[int, tuple[str, str, str]] = {}  # item index → (scope, key, body hash)
    for i, item in enumerate(items):
        try:
            intake.authorize(item.principal)
            if item.idempotency_key is not None:
                key = idempotency.check_key(item.idempotency_key)
                scope = idempotency.principal_scope(item.principal)
                keyed[i] = (scope, key, idempotency.request_hash(item.data))
        except Exception as exc:  # noqa: BLE001 - the caller's own error, answered to that caller
            answers[i] = exc

    stored = await idempotency.lookup_many(session, keys=[(scope, key) for scope, key, _ in keyed.values()])
    first_of_key: dict[tuple[str, str], int] = {}  # later items with the same key follow the first
    for i, (scope, key, body_hash) in keyed.items():
        record = stored.get((scope, key))
        try:
            if record is not None:
                idempotency.check_reuse(
                    record, key=key, body_hash=body_hash, resource_type=intake.RESOURCE_TYPE
                )
                answers[i] = await _replayed(session, items[i], record)
        except Exception as exc:  # noqa: BLE001
            answers[i] = exc
        if record is None:
            first_of_key.setdefault((scope, key), i)

    todo = [i for i, answer in enumerate(answers) if answer is None and _first(i, keyed, first_of_key)]
    found_cases, found_parties = await _cases_and_subjects(
        session, [(items[i].data.case_id, items[i].data.subject_id) for i in todo]
    )
    drafts: dict[int, intake.Draft] = {}
    for i in todo:
        item = items[i]
        try:
            drafts[i] = intake.check_submission(
                principal=item.principal,
                directory=item.directory,
                calendar=item.calendar,
                data=item.data,
                case=found_cases.get(item.data.case_id),
                subject=found_parties.get((item.data.case_id, item.data.subject_id)),
                now=now,
                key=keyed[i][1] if i in keyed else None,
                body_hash=keyed[i][2] if i in keyed else None,
            )
        except Exception as exc:  # noqa: BLE001
            answers[i] = exc
    if drafts:
        await intake.write_drafts(session, list(drafts.values()), directory=items[0].directory)
    for i, draft in drafts.items():
        answers[i] = Answer(read=_draft_read(draft, directory=items[i].directory, now=now), replayed=False)

    for i, (scope, key, body_hash) in keyed.items():  # the repeats of a key given twice
        if answers[i] is not None:
            continue
        first = first_of_key[(scope, key)]
        earlier = answers[first]
        if keyed[first][2] != body_hash:
            answers[i] = Conflict(
                "This Idempotency-Key was already used with a different request body; "
                "use a new key for a new request.",
                details={"idempotency_key": key},
                code="idempotency_key_reused",
            )
        elif isinstance(earlier, Answer):
            answers[i] = Answer(read=earlier.read, replayed=True, status=earlier.status)
        else:
            answers[i] = earlier  # the first one failed its checks: so does its retry
    assert all(answer is not None for answer in answers)
    return answers  # type: ignore[return-value]


def _first(i: int, keyed: dict[int, tuple[str, str, str]], first_of_key: dict[tuple[str, str], int]) -> bool:
    return i not in keyed or first_of_key.get(keyed[i][:2]) == i


async def _cases_and_subjects(
    session: AsyncSession, wanted: list[tuple[int, int]]
) -> tuple[dict[int, EnforcementCase], dict[tuple[int, int], CaseParty]]:
    """The cases named by (case id, subject id) pairs, and each pair's subject when it is a respondent of
    that case; one query."""
    if not wanted:
        return {}, {}
    ids = {
        "case_ids": sorted({case_id for case_id, _ in wanted}),
        "subject_ids": sorted({subject_id for _, subject_id in wanted}),
    }
    found_cases: dict[int, EnforcementCase] = {}
    found_subjects: dict[tuple[int, int], CaseParty] = {}
    for case, party in (await session.execute(_CASES_AND_SUBJECTS, ids)).all():
        found_cases[case.id] = case  # type: ignore[index]
        if party is not None:
            found_subjects[(case.id, party.id)] = party  # type: ignore[index]
    return found_cases, found_subjects


class IntakeQueue:
    """Submissions waiting for the next transaction of one database, written by one task at a time.

    The writing task starts when a submission arrives and none runs, takes everything waiting (no
    waiting for more: a lone submission is written at once), and ends when nothing waits any more.
    """

    def __init__(self, db: Database, *, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.max_batch = max_batch
        self._waiting: list[tuple[Intake, asyncio.Future[Answer]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: Intake) -> Answer:
        """The answer to `item` once its transaction committed; raises the error it caused."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # a new event loop (tests start one per test): nothing carries over
            self._loop, self._waiting, self._writer = loop, [], None
        future: asyncio.Future[Answer] = loop.create_future()
        self._waiting.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = loop.create_task(self._write_all(), name="intake group commit")
        return await future

    async def _write_all(self) -> None:
        batch: list[tuple[Intake, asyncio.Future[Answer]]] = []
        try:
            while self._waiting:
                await self._gather()
                batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
                batch = [(item, future) for item, future in batch if not future.done()]  # callers gone
                if batch:
                    await self._write(batch)
        finally:
            for _, future in batch:  # only when the task itself was cancelled or failed
                if not future.done():
                    future.set_exception(RuntimeError("the submission was interrupted; retry"))

    async def _gather(self) -> None:
        """Lets the event loop run while submissions keep arriving (a few turns at most), so handlers
        about to submit join this transaction; a lone submission waits one turn."""
        for _ in range(GATHER_TURNS):
            waiting = len(self._waiting)
            await asyncio.sleep(0)
            if len(self._waiting) == waiting or len(self._waiting) >= self.max_batch:
                return

    async def _write(self, batch: list[tuple[Intake, asyncio.Future[Answer]]]) -> None:
        try:
            async with self.db.unit_of_work() as session:
                answers: list[Answer | Exception] = await submit_many(session, [item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - retried one by one, or answered to its caller
            if len(batch) > 1:
                # The whole transaction rolled back: each submission on its own, so one cannot fail the others.
                for one in batch:
                    await self._write([one])
                return
            item, future = batch[0]
            answers = [await self._after_failure(item, exc)]
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)

    async def _after_failure(self, item: Intake, exc: Exception) -> Answer | Exception:
        """A lone submission's transaction failed: a concurrent submission with its key committed first
        (answer as its retry), or the error is the caller's."""
        if not isinstance(exc, idempotency.KeyInUse):
            return exc
        try:
            async with self.db.unit_of_work() as session:
                answers = await submit_many(session, [item])
        except Exception as again:  # noqa: BLE001
            return again
        # Found now: the earlier request replayed (or a 409). Not found: the other transaction rolled
        # back after all, and this submission was written in its stead.
        return answers[0]


def queue_for(db: Database, extras: dict[str, Any]) -> IntakeQueue:
    """The node's queue for `db` (kept in `Services.extras`)."""
    queue = extras.get("intake_queue")
    if queue is None or queue.db is not db:
        queue = extras["intake_queue"] = IntakeQueue(db)
    return queue
