"""What a deadline job does when a statutory clock runs out (DESIGN.md §3), with the clock in the test's hands."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa

from assistance.enums import DeadlineState, RequestStatus
from assistance.escalations.enums import EscalationKind, EscalationState, SupervisionOrderState
from assistance.escalations.firing import FiringOutcome
from assistance.escalations.models import DeadlineFiring, Escalation, SupervisionOrder
from assistance.escalations.reminders import reminder_at
from assistance.requests.models import AssistanceRequest
from command_center.calendar.periods import SHANGHAI
from tests.assistance.requests.conftest import ABOVE, REQUESTER, SUPERVISOR, TARGET

TICK = timedelta(microseconds=1)


async def test_missed_filing_escalates_once_at_its_end_and_notifies_the_supervisor(
    submit, deadline_of, fire, written
):
    request = await submit()
    deadline = await deadline_of("file", request_id=request.id)
    # 法释〔2011〕11号 art. 9: 7 days from routing on 2026-03-10, so the last day is 03-17, over at 24:00.
    assert deadline.due_on == date(2026, 3, 17)
    assert deadline.ends_at == datetime(2026, 3, 18, tzinfo=SHANGHAI)

    assert await fire(deadline, now=deadline.ends_at - TICK) is FiringOutcome.not_due
    assert (await written(deadline.id))["escalations"] == []

    assert await fire(deadline, now=deadline.ends_at) is FiringOutcome.fired
    found = await written(deadline.id)
    assert found["deadline"].state == DeadlineState.missed
    assert found["deadline"].version == deadline.version + 1
    [escalation] = found["escalations"]
    assert escalation.kind == EscalationKind.file_overdue
    assert escalation.state == EscalationState.open
    assert (escalation.target_court, escalation.requesting_court, escalation.supervising_court) == (
        TARGET,
        REQUESTER,
        SUPERVISOR,
    )
    assert escalation.details["action"] == "remind_and_notify"
    assert escalation.details["court"] == TARGET
    [entry] = found["audits"]
    assert entry.actor == "system:scheduler" and entry.details["escalation_id"] == escalation.id
    # The target court hears of it, and so do the supervising command center and those above it.
    missed_rooms = {event.room for event in found["events"]["deadline:missed"]}
    opened_rooms = {event.room for event in found["events"]["escalation:opened"]}
    assert {
        f"court:{TARGET}",
        f"subtree:{SUPERVISOR}",
        f"subtree:{ABOVE}",
        f"request:{request.id}",
    } <= missed_rooms
    assert missed_rooms == opened_rooms


async def test_a_duplicate_due_job_does_nothing(submit, deadline_of, fire, written):
    request = await submit()
    deadline = await deadline_of("file", request_id=request.id)
    assert await fire(deadline, now=deadline.ends_at + timedelta(hours=1)) is FiringOutcome.fired
    # The same job again (its version is now stale), and a job carrying the new version.
    assert await fire(deadline, now=deadline.ends_at + timedelta(hours=2)) is FiringOutcome.stale
    assert await fire(deadline, now=deadline.ends_at, version=deadline.version + 1) is FiringOutcome.closed
    found = await written(deadline.id)
    assert len(found["escalations"]) == 1
    assert len(found["audits"]) == 1
    assert len({e.event_id for e in found["events"]["escalation:opened"]}) == 1


async def test_the_firing_record_stops_a_second_run_of_the_same_version(
    submit, deadline_of, fire, test_db, policy
):
    from assistance.escalations.enums import FiringPurpose
    from assistance.escalations.firing import record_firing

    request = await submit()
    deadline = await deadline_of("file", request_id=request.id)
    now = deadline.ends_at + TICK
    async with test_db.unit_of_work() as s:
        assert await record_firing(
            s, deadline_id=deadline.id, version=deadline.version, purpose=FiringPurpose.due, now=now
        )
    assert await fire(deadline, now=now) is FiringOutcome.duplicate
    assert (await deadline_of("file", request_id=request.id)).state == DeadlineState.pending


async def test_a_met_deadline_never_fires(submit, act, deadline_of, fire, written):
    request = await submit()
    deadline = await deadline_of("file", request_id=request.id)
    await act(request.id, "file", now=deadline.ends_at - timedelta(hours=1))
    for later in (deadline.ends_at, deadline.ends_at + timedelta(days=365)):
        assert await fire(deadline, now=later) in (FiringOutcome.stale, FiringOutcome.closed)
    found = await written(deadline.id)
    assert found["deadline"].state == DeadlineState.met
    assert found["escalations"] == [] and found["audits"] == []


async def test_a_missed_start_issues_a_supervision_order_with_three_working_days(
    request_in_state_for, deadline_of, fire, written, test_db
):
    request = await request_in_state_for("start")  # filed: the start clock runs
    deadline = await deadline_of("start", request_id=request.id)
    assert deadline.due_on == date(2026, 3, 25)
    assert await fire(deadline, now=deadline.ends_at) is FiringOutcome.fired

    found = await written(deadline.id)
    [escalation] = found["escalations"]
    assert escalation.kind == EscalationKind.start_overdue
    async with test_db.unit_of_work(read_only=True) as s:
        order = (
            await s.execute(
                sa.select(SupervisionOrder).where(SupervisionOrder.escalation_id == escalation.id)
            )
        ).scalar_one()
    # Issued on Thursday 2026-03-26 (the day the period ended at 00:00): Fri 27, Mon 30, Tue 31.
    assert order.issued_on == date(2026, 3, 26)
    assert order.due_on == date(2026, 3, 31)
    assert order.ends_at == datetime(2026, 4, 1, tzinfo=SHANGHAI)
    assert (order.issuing_court, order.target_court, order.state) == (
        SUPERVISOR,
        TARGET,
        SupervisionOrderState.open,
    )
    assert escalation.details["supervision_order_id"] == order.id
    [ordered] = {e.event_id: e for e in found["events"]["supervision:ordered"]}.values()
    assert ordered.payload["due_on"] == "2026-03-31"


async def test_a_missed_report_demands_a_progress_report(request_in_state_for, deadline_of, fire, written):
    request = await request_in_state_for("complete")  # in progress: only the report clock runs
    deadline = await deadline_of("report", request_id=request.id)
    assert await fire(deadline, now=deadline.ends_at) is FiringOutcome.fired
    found = await written(deadline.id)
    assert [e.kind for e in found["escalations"]] == [EscalationKind.report_overdue]
    demanded = found["events"]["progress_report:demanded"]
    assert {e.room for e in demanded} >= {f"court:{TARGET}", f"request:{request.id}"}
    assert demanded[0].payload["court"] == TARGET


async def test_an_unanswered_supplement_request_deems_the_request_withdrawn(
    request_in_state_for, act, deadline_of, fire, written, test_db
):
    request = await request_in_state_for("supplement")  # awaiting the requester's materials
    deadline = await deadline_of("supplement", request_id=request.id)
    assert await fire(deadline, now=deadline.ends_at) is FiringOutcome.fired

    found = await written(deadline.id)
    assert found["deadline"].state == DeadlineState.missed
    [escalation] = found["escalations"]
    assert escalation.kind == EscalationKind.supplement_overdue
    assert escalation.details["court"] == REQUESTER  # the requester had to act
    async with test_db.unit_of_work(read_only=True) as s:
        stored = await s.get(AssistanceRequest, request.id, populate_existing=True)
    assert stored.status == RequestStatus.withdrawn
    assert stored.closed_at is not None


async def test_a_case_past_six_months_is_flagged_for_take_over_by_the_superior_court(
    make_case, deadline_of, fire, written
):
    record = await make_case(REQUESTER)
    deadline = await deadline_of("case", case_id=record.case.id)
    assert await fire(deadline, now=deadline.ends_at - TICK) is FiringOutcome.not_due
    assert await fire(deadline, now=deadline.ends_at) is FiringOutcome.fired

    found = await written(deadline.id)
    [escalation] = found["escalations"]
    assert escalation.kind == EscalationKind.case_overdue
    assert escalation.subject_type == "case" and escalation.case_id == record.case.id
    assert escalation.target_court == REQUESTER
    assert escalation.supervising_court == SUPERVISOR  # 330106's superior: 杭州市中级人民法院
    assert escalation.details["options"] == ["take_over", "reassign"]
    assert found["audits"][0].subject_type == "case"
    assert {e.room for e in found["events"]["escalation:opened"]} >= {
        f"court:{REQUESTER}",
        f"subtree:{SUPERVISOR}",
    }


async def test_every_request_past_its_deadline_gets_exactly_one_escalation(
    submit, act, deadline_of, fire, test_db
):
    requests = [await submit() for _ in range(4)]
    met = requests[0]
    await act(met.id, "file")
    deadlines = [await deadline_of("file", request_id=r.id) for r in requests]
    end = deadlines[0].ends_at
    # Jobs at every instant around the end, several times over; only the unmet ones ever escalate.
    for now in (end - timedelta(days=1), end - TICK, end, end + TICK, end + timedelta(days=3)):
        for deadline in deadlines:
            await fire(deadline, now=now)
            await fire(deadline, now=now)
    async with test_db.unit_of_work(read_only=True) as s:
        rows = (
            await s.execute(
                sa.select(Escalation.deadline_id, sa.func.count())
                .where(Escalation.deadline_id.in_([d.id for d in deadlines]))
                .group_by(Escalation.deadline_id)
            )
        ).all()
    assert dict(rows) == {d.id: 1 for d in deadlines[1:]}
    assert all(created.created_at >= end for created in await _escalations(test_db, deadlines))


async def _escalations(test_db, deadlines):
    async with test_db.unit_of_work(read_only=True) as s:
        stmt = sa.select(Escalation).where(Escalation.deadline_id.in_([d.id for d in deadlines]))
        return list((await s.execute(stmt)).scalars())


async def test_a_clock_its_request_no_longer_runs_is_cancelled_not_escalated(
    submit, deadline_of, fire, written, test_db
):
    request = await submit()
    deadline = await deadline_of("file", request_id=request.id)
    async with test_db.unit_of_work() as s:
        # A request closed without its clocks (which the request service never does).
        await s.execute(
            sa.update(AssistanceRequest)
            .where(AssistanceRequest.id == request.id)
            .values(status=RequestStatus.completed)
        )
    assert await fire(deadline, now=deadline.ends_at) is FiringOutcome.orphaned
    found = await written(deadline.id)
    assert found["deadline"].state == DeadlineState.cancelled
    assert found["escalations"] == []


async def test_reminder_goes_to_the_acting_court_once_one_working_day_before_the_end(
    submit, deadline_of, fire, test_db
):
    request = await submit()
    deadline = await deadline_of("file", request_id=request.id)
    remind_at = datetime(2026, 3, 17, tzinfo=SHANGHAI)  # the last day (a Tuesday) begins
    assert await fire(deadline, now=remind_at - TICK, reminder=True) is FiringOutcome.not_due
    assert await fire(deadline, now=remind_at, reminder=True) is FiringOutcome.fired
    assert await fire(deadline, now=remind_at + timedelta(hours=1), reminder=True) is FiringOutcome.duplicate
    assert await fire(deadline, now=deadline.ends_at, reminder=True) is FiringOutcome.late
    async with test_db.unit_of_work(read_only=True) as s:
        from command_center.outbox.models import OutboxEvent

        events = list(
            (
                await s.execute(
                    sa.select(OutboxEvent).where(
                        OutboxEvent.name == "deadline:reminder",
                        OutboxEvent.payload["deadline_id"].as_integer() == deadline.id,
                    )
                )
            ).scalars()
        )
        firings = (
            await s.execute(sa.select(sa.func.count()).where(DeadlineFiring.deadline_id == deadline.id))
        ).scalar_one()
    assert sorted(e.room for e in events) == [f"court:{TARGET}", f"request:{request.id}"]
    assert firings == 1
    # A reminder is no escalation.
    assert (await deadline_of("file", request_id=request.id)).state == DeadlineState.pending


async def test_supplement_reminder_goes_to_the_requesting_court(
    request_in_state_for, deadline_of, fire, test_db
):
    request = await request_in_state_for("supplement")
    deadline = await deadline_of("supplement", request_id=request.id)
    assert (
        await fire(deadline, now=deadline.ends_at - timedelta(hours=1), reminder=True) is FiringOutcome.fired
    )
    async with test_db.unit_of_work(read_only=True) as s:
        from command_center.outbox.models import OutboxEvent

        rooms = (
            await s.execute(
                sa.select(OutboxEvent.room).where(
                    OutboxEvent.name == "deadline:reminder",
                    OutboxEvent.payload["deadline_id"].as_integer() == deadline.id,
                )
            )
        ).scalars()
        assert sorted(rooms) == [f"court:{REQUESTER}", f"request:{request.id}"]


def test_reminder_time_counts_working_days_back_from_the_last_day(legal_calendar):
    def at(day: date) -> datetime:
        return datetime.combine(day, datetime.min.time(), tzinfo=SHANGHAI)

    # Lead 1: the last day itself begins.
    assert reminder_at(
        legal_calendar, started_on=date(2026, 3, 10), due_on=date(2026, 3, 17), lead_working_days=1
    ) == at(date(2026, 3, 17))
    # Lead 2 from Monday 2026-03-16: the Friday before (the weekend is skipped).
    assert reminder_at(
        legal_calendar, started_on=date(2026, 3, 1), due_on=date(2026, 3, 16), lead_working_days=2
    ) == at(date(2026, 3, 13))
    # Lead 2 from Thursday 2026-10-08, after the National Day holiday (Oct 1-7): the working day before
    # the 8th is Wednesday 2026-09-30.
    assert reminder_at(
        legal_calendar, started_on=date(2026, 9, 1), due_on=date(2026, 10, 8), lead_working_days=2
    ) == at(date(2026, 9, 30))
    # A period shorter than the lead has no reminder.
    assert (
        reminder_at(
            legal_calendar, started_on=date(2026, 3, 16), due_on=date(2026, 3, 17), lead_working_days=2
        )
        is None
    )
