"""Concurrent writers on committed transactions: two actions on one version, and two submissions with one
Idempotency-Key. These tests get a private database of their own (dropped afterwards), because the
shared test database runs each test inside one rolled-back transaction where nothing is concurrent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from assistance.cases import service as cases
from assistance.cases.identities import make_case_number, make_resident_id
from assistance.cases.schemas import CaseCreate
from assistance.enums import DeadlineKind, RequestStatus
from assistance.requests import actions, deadlines, intake
from assistance.requests.models import AssistanceRequest
from assistance.requests.schemas import ACTION_BODIES, RequestCreate
from command_center.audit import service as audit
from command_center.audit.models import AuditEntry
from command_center.db import Database
from command_center.errors import Conflict
from command_center.idempotency import KeyInUse
from command_center.identity import service as identity
from command_center.identity.principal import Principal, Role
from command_center.settings import Settings
from tests.assistance.requests.conftest import ACTION_FIELDS, REQUESTER, ROUTED_AT, TARGET, request_body
from tests.command_center.outbox.databases import private_database

CLERK = Principal("user", 1, "clerk", REQUESTER, Role.clerk)
OFFICER = Principal("user", 2, "officer", TARGET, Role.officer)


@pytest.fixture(scope="module")
async def private_db(settings: Settings, tmp_root: Path) -> AsyncIterator[Database]:
    from command_center.courts.service import load_courts

    async with private_database(settings, tmp_root) as db:
        async with db.unit_of_work() as s:
            await load_courts(s)
        yield db


_serial = iter(range(1, 10_000))


async def _case(db: Database, directory: Any, calendar: Any) -> Any:
    n = next(_serial)
    data = CaseCreate.model_validate(
        {
            "case_number": make_case_number(directory.require(REQUESTER).case_prefix, 2026, 5000 + n),
            "category": "wages",
            "applicant": {
                "name": "王五",
                "kind": "person",
                "id_number": make_resident_id(REQUESTER, date(1980, 1, 1), n),
            },
            "respondents": [
                {
                    "name": "赵六",
                    "kind": "person",
                    "id_number": make_resident_id(REQUESTER, date(1975, 5, 5), n + 500),
                }
            ],
            "amount_claimed": 100_000,
            "filed_on": "2026-03-02",
        }
    )
    async with db.unit_of_work() as s:
        case = await cases.create_case(s, principal=CLERK, directory=directory, calendar=calendar, data=data)
        [record] = await cases.records(s, cases=[case])
    return record


async def _submit(db: Database, directory: Any, calendar: Any) -> AssistanceRequest:
    record = await _case(db, directory, calendar)
    async with db.unit_of_work() as s:
        submission = await intake.create_request(
            s,
            principal=CLERK,
            directory=directory,
            calendar=calendar,
            data=RequestCreate.model_validate(request_body(record)),
            now=ROUTED_AT,
        )
    return submission.request


async def _act(
    db: Database,
    directory: Any,
    calendar: Any,
    request_id: int,
    action: str,
    *,
    hold: asyncio.Event | None = None,
    acted: asyncio.Event | None = None,
) -> AssistanceRequest | Conflict:
    body = ACTION_BODIES[action].model_validate({**ACTION_FIELDS[action], "version": 1})
    try:
        async with db.unit_of_work() as s:
            request = await actions.take_action(
                s,
                principal=OFFICER,
                directory=directory,
                calendar=calendar,
                request_id=request_id,
                action=action,
                data=body,
                now=ROUTED_AT,
            )
            if acted is not None:
                acted.set()
            if hold is not None:
                await hold.wait()  # keep the transaction open while the other action runs into it
        return request
    except Conflict as exc:
        return exc


async def test_two_concurrent_actions_on_one_version_let_exactly_one_win(
    private_db: Database, court_directory: Any, legal_calendar: Any
) -> None:
    request = await _submit(private_db, court_directory, legal_calendar)
    assert request.id is not None
    acted, hold = asyncio.Event(), asyncio.Event()

    first = asyncio.create_task(
        _act(private_db, court_directory, legal_calendar, request.id, "file", hold=hold, acted=acted)
    )
    await acted.wait()
    # The second action reads version 1 (the first has not committed), so only the database's
    # compare-and-set (or, on SQLite, the write lock it waits for) can stop it.
    second = asyncio.create_task(_act(private_db, court_directory, legal_calendar, request.id, "reject"))
    await asyncio.sleep(0.3)
    hold.set()
    results = await asyncio.gather(first, second)

    assert isinstance(results[0], AssistanceRequest) and results[0].status == RequestStatus.filed
    assert isinstance(results[1], Conflict) and results[1].code == "stale_version"
    async with private_db.unit_of_work(read_only=True) as s:
        stored = await s.get(AssistanceRequest, request.id)
        assert stored is not None and (stored.status, stored.version) == (RequestStatus.filed, 2)
        pending = await deadlines.pending_deadlines(s, subject_type="request", subject_id=request.id)
        assert {DeadlineKind(d.kind) for d in pending} == {DeadlineKind.start, DeadlineKind.report}
        acts = (
            (
                await s.execute(
                    sa.select(AuditEntry.action).where(
                        AuditEntry.subject_type == "assistance_request",
                        AuditEntry.subject_id == str(request.id),
                    )
                )
            )
            .scalars()
            .all()
        )
        assert sorted(acts) == ["assistance.filed", "assistance.submitted"]
        assert (await audit.verify(s)).ok


async def test_concurrent_actions_started_together_never_both_win(
    private_db: Database, court_directory: Any, legal_calendar: Any
) -> None:
    request = await _submit(private_db, court_directory, legal_calendar)
    assert request.id is not None
    results = await asyncio.gather(
        *(
            _act(private_db, court_directory, legal_calendar, request.id, action)
            for action in ("file", "reject", "request_supplement", "file")
        )
    )
    winners = [r for r in results if isinstance(r, AssistanceRequest)]
    assert len(winners) == 1
    assert all(isinstance(r, Conflict) for r in results if r not in winners)
    async with private_db.unit_of_work(read_only=True) as s:
        stored = await s.get(AssistanceRequest, request.id)
        assert stored is not None and stored.version == 2 and stored.status == winners[0].status


async def test_concurrent_submissions_with_one_key_store_one_request(
    private_db: Database, court_directory: Any, legal_calendar: Any
) -> None:
    record = await _case(private_db, court_directory, legal_calendar)
    data = RequestCreate.model_validate(request_body(record))
    created, hold = asyncio.Event(), asyncio.Event()

    async def first() -> AssistanceRequest:
        async with private_db.unit_of_work() as s:
            submission = await intake.create_request(
                s,
                principal=CLERK,
                directory=court_directory,
                calendar=legal_calendar,
                data=data,
                idempotency_key="dup-1",
                now=ROUTED_AT,
            )
            created.set()
            await hold.wait()
        return submission.request

    async def second() -> tuple[str, AssistanceRequest]:
        await created.wait()
        try:
            async with private_db.unit_of_work() as s:
                submission = await intake.create_request(
                    s,
                    principal=CLERK,
                    directory=court_directory,
                    calendar=legal_calendar,
                    data=data,
                    idempotency_key="dup-1",
                    now=ROUTED_AT,
                )
            assert submission.replayed
            return "replayed", submission.request
        except KeyInUse:
            # What the route does: the transaction rolled back; answer with the winner's result.
            async with private_db.unit_of_work() as s:
                replayed = await intake.replay_submission(
                    s, principal=CLERK, data=data, idempotency_key="dup-1"
                )
            assert replayed is not None and replayed.replayed
            return "lost the race", replayed.request

    first_task, second_task = asyncio.create_task(first()), asyncio.create_task(second())
    await created.wait()
    await asyncio.sleep(0.3)
    hold.set()
    winner = await first_task
    how, answer = await second_task

    assert answer.id == winner.id
    async with private_db.unit_of_work(read_only=True) as s:
        count = await s.scalar(
            sa.select(sa.func.count())
            .select_from(AssistanceRequest)
            .where(AssistanceRequest.case_id == record.case.id)
        )
    assert count == 1
    assert how in ("replayed", "lost the race"), how


async def test_concurrent_http_retries_answer_with_one_request(
    private_db: Database, court_directory: Any, legal_calendar: Any, settings: Settings
) -> None:
    from command_center.app import create_app
    from command_center.services import Services

    record = await _case(private_db, court_directory, legal_calendar)
    async with private_db.unit_of_work() as s:
        _, token = await identity.create_token(s, court_code=REQUESTER, name="court-system")
    services = await Services.start(settings, db=private_db)
    try:
        app = create_app(settings, services=services)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": "http-dup"}
            responses = await asyncio.gather(
                *(
                    client.post("/api/v1/assistance-requests", json=request_body(record), headers=headers)
                    for _ in range(3)
                )
            )
    finally:
        await services.close(dispose_db=False)

    assert [r.status_code for r in responses] == [201, 201, 201], [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == 2
