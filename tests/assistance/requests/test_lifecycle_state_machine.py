"""Random action sequences by random callers from random courts, against the service layer.

Invariants checked after every step:
- no illegal transition is ever stored: the stored state is the one an independent model of the
  lifecycle table (written out below, not imported) predicts, and every refusal is the one it predicts;
- every open request has exactly the pending deadlines its state implies;
- no caller ever reads a request their court may not see (and every caller who may, can);
- the audit chain verifies.

The machine runs on a private database in an event loop of its own (hypothesis drives it synchronously).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from assistance.cases import service as cases
from assistance.cases.identities import make_case_number, make_resident_id
from assistance.cases.schemas import CaseCreate
from assistance.enums import DeadlineKind
from assistance.requests import actions, deadlines, intake
from assistance.requests.queries import get_request, get_visible_request, is_visible
from assistance.requests.schemas import ACTION_BODIES, RequestCreate
from command_center.audit import service as audit
from command_center.calendar.periods import SHANGHAI
from command_center.db import Database
from command_center.errors import Conflict, Forbidden, NotFound
from command_center.identity.principal import Principal, Role
from command_center.settings import Settings
from tests.assistance.requests.conftest import ACTION_FIELDS, REQUESTER, request_body
from tests.command_center.outbox.databases import private_database

TARGETS = ("330102", "330108")  # a rejected request is rerouted to the other one
SUPERVISOR, ABOVE, UNRELATED = "330100", "330000", "320102"
COURTS = (REQUESTER, *TARGETS, SUPERVISOR, ABOVE, UNRELATED)
ROLES = ("admin", "command_staff", "officer", "clerk", "token")
WORKERS = ("officer", "clerk", "token")
START = datetime(2026, 3, 10, 10, tzinfo=SHANGHAI)

# The lifecycle of DESIGN.md §3, written out independently of assistance/requests/lifecycle.py.
MODEL: dict[str, tuple[set[str], str | None, str]] = {
    "file": ({"routed"}, "filed", "target"),
    "start": ({"filed"}, "in_progress", "target"),
    "complete": ({"in_progress"}, "completed", "target"),
    "request_supplement": ({"routed", "filed", "in_progress"}, "awaiting_supplement", "target"),
    "supplement": ({"awaiting_supplement"}, None, "requester"),
    "reject": ({"routed", "filed"}, "rejected", "target"),
    "withdraw": (
        {"routed", "filed", "in_progress", "awaiting_supplement", "rejected"},
        "withdrawn",
        "requester",
    ),
    "reroute": ({"rejected"}, "routed", "supervisor"),
}
PENDING = {
    "routed": {"file", "start", "report"},
    "filed": {"start", "report"},
    "in_progress": {"report"},
    "awaiting_supplement": {"supplement"},
}


@dataclass
class Modelled:
    id: int
    status: str = "routed"
    before_supplement: str | None = None
    target: str = TARGETS[0]
    version: int = 1


def principal(role: str, court: str, n: int = 1) -> Principal:
    if role == "token":
        return Principal("token", n, f"system-{court}", court, Role.clerk)
    return Principal("user", n, f"{role}-{court}", court, Role(role))


def may_see(p: Principal, r: Modelled) -> bool:
    involved = {REQUESTER, r.target, SUPERVISOR}
    if p.court_code in involved:
        return True
    # Command staff see their subtree: 浙江高院 (and the SPC) hold every court here.
    return p.kind == "user" and p.role == Role.command_staff and p.court_code in (ABOVE, "000000")


def is_party(p: Principal, r: Modelled, party: str) -> bool:
    role = "token" if p.kind == "token" else p.role.value
    if party == "target":
        return p.court_code == r.target and role in WORKERS
    if party == "requester":
        return p.court_code == REQUESTER and role in WORKERS
    return role == "command_staff" and p.court_code in (SUPERVISOR, ABOVE)


class RequestLifecycle(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    db: ClassVar[Database]
    directory: ClassVar[Any]
    calendar: ClassVar[Any]
    serial: ClassVar[int] = 0
    outcomes_seen: ClassVar[Counter[str]] = Counter()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    @initialize()
    def start(self) -> None:
        self.requests: list[Modelled] = []
        self.now = START
        self.outcomes: Counter[str] = Counter()

    async def _new_case(self) -> Any:
        RequestLifecycle.serial += 1
        n = RequestLifecycle.serial
        data = CaseCreate.model_validate(
            {
                "case_number": make_case_number(
                    self.directory.require(REQUESTER).case_prefix, 2026, 7000 + n
                ),
                "category": "loan",
                "applicant": {
                    "name": "钱七",
                    "kind": "person",
                    "id_number": make_resident_id(REQUESTER, date(1970, 2, 2), n % 999),
                },
                "respondents": [
                    {
                        "name": "孙八",
                        "kind": "person",
                        "id_number": make_resident_id(REQUESTER, date(1985, 3, 3), n % 997),
                    }
                ],
                "amount_claimed": 500_000,
                "filed_on": "2026-03-02",
            }
        )
        async with self.db.unit_of_work() as s:
            case = await cases.create_case(
                s,
                principal=principal("clerk", REQUESTER),
                directory=self.directory,
                calendar=self.calendar,
                data=data,
            )
            [record] = await cases.records(s, cases=[case])
        return record

    @precondition(lambda self: len(self.requests) < 3)
    @rule()
    def submit(self) -> None:
        async def go() -> int:
            record = await self._new_case()
            async with self.db.unit_of_work() as s:
                submission = await intake.create_request(
                    s,
                    principal=principal("clerk", REQUESTER),
                    directory=self.directory,
                    calendar=self.calendar,
                    data=RequestCreate.model_validate(request_body(record)),
                    now=self.now,
                )
            assert submission.request.id is not None
            return submission.request.id

        self.requests.append(Modelled(id=self.run(go())))

    @precondition(lambda self: self.requests)
    @rule(
        index=st.integers(min_value=0, max_value=2),
        action=st.sampled_from(sorted(MODEL)),
        role=st.sampled_from(ROLES),
        court=st.sampled_from(COURTS),
        as_party=st.booleans(),
        stale=st.sampled_from([False, False, False, True]),
        days=st.sampled_from([0, 0, 0, 1, 8, 31]),
    )
    def act(
        self, index: int, action: str, role: str, court: str, as_party: bool, stale: bool, days: int
    ) -> None:
        self.now += timedelta(days=days)  # time passes between acts; clocks run from the day of each act
        r = self.requests[index % len(self.requests)]
        if as_party:  # half the time the caller is one who may take the action, to reach every state
            role, court = {
                "target": (role if role in WORKERS else "officer", r.target),
                "requester": (role if role in WORKERS else "clerk", REQUESTER),
                "supervisor": ("command_staff", court if court in (SUPERVISOR, ABOVE) else SUPERVISOR),
            }[MODEL[action][2]]
        p = principal(role, court)
        sources, to, party = MODEL[action]
        version = r.version - 1 if stale and r.version > 1 else r.version
        fields = dict(ACTION_FIELDS[action])
        if action == "reroute":
            fields["region_code"] = TARGETS[1] if r.target == TARGETS[0] else TARGETS[0]
        body = ACTION_BODIES[action].model_validate({**fields, "version": version})

        if not may_see(p, r):
            expected = "not_found"
        elif not is_party(p, r, party):
            expected = "forbidden"
        elif version != r.version:
            expected = "stale_version"
        elif r.status not in sources:
            expected = "illegal_transition"
        else:
            expected = "ok"

        async def go() -> str:
            try:
                async with self.db.unit_of_work() as s:
                    await actions.take_action(
                        s,
                        principal=p,
                        directory=self.directory,
                        calendar=self.calendar,
                        request_id=r.id,
                        action=action,
                        data=body,
                        now=self.now,
                    )
            except NotFound:
                return "not_found"
            except Forbidden:
                return "forbidden"
            except Conflict as exc:
                return exc.code
            return "ok"

        outcome = self.run(go())
        self.outcomes[outcome] += 1
        assert outcome == expected, (action, role, court, r, outcome, expected)
        if outcome == "ok":
            if action == "request_supplement":
                r.before_supplement = r.status
            new_status = to or r.before_supplement
            assert new_status is not None
            if action == "supplement":
                r.before_supplement = None
            if action == "reroute":
                r.target = fields["region_code"]
            r.status, r.version = new_status, r.version + 1

    @precondition(lambda self: any(r.status == "awaiting_supplement" for r in self.requests))
    @rule()
    def supplement_deadline_ends(self) -> None:
        r = next(r for r in self.requests if r.status == "awaiting_supplement")

        async def go() -> bool:
            async with self.db.unit_of_work() as s:
                [pending] = await deadlines.pending_deadlines(s, subject_type="request", subject_id=r.id)
                done = await actions.deem_withdrawn(
                    s, directory=self.directory, request_id=r.id, deadline_id=pending.id, now=self.now
                )
                return done is not None and pending.ends_at <= self.now

        if self.run(go()):
            r.status, r.version, r.before_supplement = "withdrawn", r.version + 1, None

    def teardown(self) -> None:
        RequestLifecycle.outcomes_seen.update(getattr(self, "outcomes", Counter()))

    @invariant()
    def stored_state_deadlines_and_visibility_are_the_modelled_ones(self) -> None:
        async def check() -> None:
            async with self.db.unit_of_work(read_only=True) as s:
                for r in getattr(self, "requests", []):
                    stored = await get_request(s, request_id=r.id)
                    assert stored is not None
                    # No illegal transition was stored: the state is the model's.
                    assert (stored.status, stored.version, stored.target_court) == (
                        r.status,
                        r.version,
                        r.target,
                    )
                    # Exactly the pending deadlines the state implies.
                    pending = await deadlines.pending_deadlines(s, subject_type="request", subject_id=r.id)
                    kinds = [DeadlineKind(d.kind).value for d in pending]
                    assert sorted(kinds) == sorted(PENDING.get(r.status, set())), (r, kinds)
                    # Nobody reads a request their court may not see, and everyone who may, can.
                    for court in COURTS:
                        for role in ROLES:
                            p = principal(role, court)
                            assert is_visible(p, self.directory, stored) == may_see(p, r), (role, court, r)
                    await get_visible_request(
                        s, principal=principal("clerk", r.target), directory=self.directory, request_id=r.id
                    )
                    with pytest.raises(NotFound):
                        await get_visible_request(
                            s,
                            principal=principal("command_staff", UNRELATED),
                            directory=self.directory,
                            request_id=r.id,
                        )

        self.run(check())

    @invariant()
    def audit_chain_verifies(self) -> None:
        async def check() -> None:
            async with self.db.unit_of_work(read_only=True) as s:
                result = await audit.verify(s)
                assert result.ok, result

        self.run(check())


@pytest.fixture(scope="module")
def machine_database(settings: Settings, tmp_root: Path, court_directory: Any, legal_calendar: Any) -> Any:
    from command_center.courts.service import load_courts

    loop = asyncio.new_event_loop()
    manager = private_database(settings, tmp_root)
    db = loop.run_until_complete(manager.__aenter__())

    async def seed() -> None:
        async with db.unit_of_work() as s:
            await load_courts(s)

    loop.run_until_complete(seed())
    yield loop, db
    loop.run_until_complete(manager.__aexit__(None, None, None))
    loop.close()


def test_random_action_sequences_keep_the_lifecycle_invariants(
    machine_database: Any, court_directory: Any, legal_calendar: Any
) -> None:
    loop, db = machine_database
    RequestLifecycle.loop, RequestLifecycle.db = loop, db
    RequestLifecycle.directory, RequestLifecycle.calendar = court_directory, legal_calendar
    run_state_machine_as_test(
        RequestLifecycle,
        settings=settings(
            max_examples=10,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,  # the same sequences every run: the coverage assertions below cannot flake
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    # The runs met every outcome: success and each refusal.
    assert set(RequestLifecycle.outcomes_seen) >= {
        "ok",
        "not_found",
        "forbidden",
        "stale_version",
        "illegal_transition",
    }
