"""Actions on a request: the lifecycle table, who may act, the optimistic lock, and the clocks each
action closes and opens."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from assistance.enums import DeadlineKind, DeadlineState, RejectReason, RequestStatus
from assistance.requests import actions
from assistance.requests.deadlines import implied_pending_kinds, list_deadlines, pending_deadlines
from assistance.requests.lifecycle import ACTIONS, TRANSITIONS, actions_in_state
from assistance.requests.models import Attachment
from assistance.requests.schemas import FileBody
from command_center.audit.models import AuditEntry
from command_center.calendar.periods import SHANGHAI
from command_center.errors import Conflict, Forbidden, InvalidInput, NotFound
from command_center.outbox.models import OutboxEvent
from tests.assistance.requests.conftest import ABOVE, REQUESTER, SUPERVISOR, TARGET, UNRELATED

K = DeadlineKind
LATER = datetime(2026, 3, 20, 10, tzinfo=SHANGHAI)


async def _pending(session: Any, request_id: int) -> dict[DeadlineKind, Any]:
    return {
        DeadlineKind(d.kind): d
        for d in await pending_deadlines(session, subject_type="request", subject_id=request_id)
    }


async def _states(session: Any, request_id: int) -> list[tuple[str, str]]:
    rows = await list_deadlines(session, subject_type="request", subject_id=request_id)
    return [(DeadlineKind(d.kind).value, DeadlineState(d.state).value) for d in rows]


async def test_request_is_filed_started_and_completed_by_the_target_court(
    submit: Any, act: Any, session: Any
) -> None:
    request = await submit()
    filed = await act(request.id, "file")
    assert (filed.status, filed.version) == (RequestStatus.filed, 2)
    assert set(await _pending(session, request.id)) == {K.start, K.report}

    started = await act(request.id, "start")
    assert (started.status, started.version) == (RequestStatus.in_progress, 3)
    assert set(await _pending(session, request.id)) == {K.report}

    completed = await act(request.id, "complete", result_text="已冻结存款人民币50,000元")
    assert (completed.status, completed.version) == (RequestStatus.completed, 4)
    assert completed.result_text == "已冻结存款人民币50,000元"
    assert completed.closed_at is not None
    assert await _pending(session, request.id) == {}
    assert await _states(session, request.id) == [
        ("file", "met"),
        ("report", "met"),
        ("start", "met"),
    ]


async def test_each_action_is_audited_and_announced(submit: Any, act: Any, session: Any) -> None:
    request = await submit()
    await act(request.id, "file")
    await act(request.id, "start")
    await act(request.id, "request_supplement")
    await act(request.id, "supplement")
    await act(request.id, "complete")

    actions_audited = (
        (
            await session.execute(
                sa.select(AuditEntry.action)
                .where(
                    AuditEntry.subject_type == "assistance_request", AuditEntry.subject_id == str(request.id)
                )
                .order_by(AuditEntry.seq)
            )
        )
        .scalars()
        .all()
    )
    assert actions_audited == [
        "assistance.submitted",
        "assistance.filed",
        "assistance.started",
        "assistance.supplement_requested",
        "assistance.supplemented",
        "assistance.completed",
    ]
    events = (
        await session.execute(
            sa.select(OutboxEvent.name, OutboxEvent.payload)
            .where(OutboxEvent.room == f"request:{request.id}")
            .order_by(OutboxEvent.seq)
        )
    ).all()
    assert [name for name, _ in events] == [
        "assistance:routed",
        "assistance:filed",
        "assistance:started",
        "assistance:supplement_requested",
        "assistance:supplemented",
        "assistance:completed",
    ]
    assert [payload["version"] for _, payload in events] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("status_before", ["routed", "filed", "in_progress"])
async def test_supplement_returns_the_request_where_it_was_and_restarts_its_clocks(
    status_before: str, submit: Any, act: Any, session: Any
) -> None:
    request = await submit()
    for step in {"routed": [], "filed": ["file"], "in_progress": ["file", "start"]}[status_before]:
        await act(request.id, step)

    waiting = await act(request.id, "request_supplement", missing="缺少协助执行通知书")
    assert waiting.status == RequestStatus.awaiting_supplement
    assert waiting.status_before_supplement == status_before
    assert waiting.supplement_missing == "缺少协助执行通知书"
    pending = await _pending(session, request.id)
    assert set(pending) == {K.supplement}
    # 30 days from the request for materials (2026-03-10): 04-09, a Thursday.
    assert pending[K.supplement].due_on == date(2026, 4, 9)

    back = await act(request.id, "supplement", now=LATER, materials=["property_clue"])
    assert back.status == status_before
    assert back.status_before_supplement is None
    assert "property_clue" in back.materials
    pending = await _pending(session, request.id)
    assert set(pending) == implied_pending_kinds(RequestStatus(status_before))
    # The statutory clocks run again from the day the materials arrived (2026-03-20).
    assert {d.started_on for d in pending.values()} == {date(2026, 3, 20)}
    if K.report in pending:
        assert pending[K.report].due_on == date(2026, 4, 20)  # 03-20 + 30 days = 04-19, a Sunday


async def test_rejected_request_is_rerouted_by_the_supervising_command_staff(
    submit: Any, act: Any, session: Any, principal_of: Any
) -> None:
    request = await submit()
    rejected = await act(request.id, "reject", reason="wrong_jurisdiction", note="财产在滨江区")
    assert rejected.status == RequestStatus.rejected
    assert rejected.reject_reason == RejectReason.wrong_jurisdiction
    assert await _pending(session, request.id) == {}

    rerouted = await act(
        request.id,
        "reroute",
        principal=principal_of(SUPERVISOR, "command_staff"),
        now=LATER,
        region_code="330108",
        reason="改由滨江区法院办理",
    )
    assert rerouted.status == RequestStatus.routed
    assert (rerouted.target_court, rerouted.supervising_court, rerouted.region_code) == (
        "330108",
        SUPERVISOR,
        "330108",
    )
    assert rerouted.routed_on == date(2026, 3, 20)
    assert rerouted.reject_reason is None
    pending = await _pending(session, request.id)
    assert set(pending) == {K.file, K.start, K.report}
    assert {d.started_on for d in pending.values()} == {date(2026, 3, 20)}
    event = (
        await session.execute(
            sa.select(OutboxEvent).where(
                OutboxEvent.room == f"request:{request.id}", OutboxEvent.name == "assistance:rerouted"
            )
        )
    ).scalar_one()
    assert event.payload["previous_target_court"] == TARGET
    rooms = set(
        (
            await session.execute(sa.select(OutboxEvent.room).where(OutboxEvent.event_id == event.event_id))
        ).scalars()
    )
    assert {f"court:{TARGET}", "court:330108", f"court:{REQUESTER}", f"court:{SUPERVISOR}"} <= rooms


async def test_reroute_by_target_court_code_recomputes_the_supervisor(
    submit: Any, act: Any, principal_of: Any
) -> None:
    request = await submit()
    await act(request.id, "reject")
    rerouted = await act(
        request.id,
        "reroute",
        principal=principal_of(ABOVE, "command_staff"),
        region_code=None,
        target_court="330206",
        reason="财产在宁波",
    )
    assert (rerouted.target_court, rerouted.supervising_court) == ("330206", ABOVE)
    assert rerouted.region_code == TARGET  # the location stays; only the court changes


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"region_code": TARGET}, "region_code"),  # the court that rejected it
        ({"region_code": REQUESTER}, "region_code"),  # the requester itself
        ({"region_code": "999999"}, "region_code"),
        ({"region_code": None, "target_court": "000000"}, "target_court"),
        ({"region_code": None, "target_court": REQUESTER}, "target_court"),
    ],
)
async def test_reroute_to_an_impossible_court_is_refused(
    fields: dict[str, Any], field: str, submit: Any, act: Any, principal_of: Any
) -> None:
    request = await submit()
    await act(request.id, "reject")
    with pytest.raises(InvalidInput) as caught:
        await act(request.id, "reroute", principal=principal_of(SUPERVISOR, "command_staff"), **fields)
    assert caught.value.details[0]["field"] == field


@pytest.mark.parametrize(
    ("court", "role"),
    [
        (REQUESTER, "command_staff"),
        (TARGET, "command_staff"),
        (SUPERVISOR, "officer"),
        (SUPERVISOR, "clerk"),
        (REQUESTER, "clerk"),
        (TARGET, "officer"),
    ],
)
async def test_reroute_is_refused_to_all_but_the_supervising_command_staff(
    court: str, role: str, submit: Any, act: Any, principal_of: Any
) -> None:
    request = await submit()
    await act(request.id, "reject")
    with pytest.raises(Forbidden) as caught:
        await act(request.id, "reroute", principal=principal_of(court, role))
    assert "command staff" in caught.value.message


async def test_unrelated_court_cannot_see_the_request_to_act_on_it(
    submit: Any, act: Any, principal_of: Any
) -> None:
    request = await submit()
    with pytest.raises(NotFound):
        await act(request.id, "file", principal=principal_of(UNRELATED, "officer"))
    with pytest.raises(NotFound):
        await act(request.id, "file", principal=principal_of(ABOVE, "clerk"))


async def test_requesting_court_may_not_take_the_target_courts_actions(
    submit: Any, act: Any, principal_of: Any
) -> None:
    request = await submit()
    with pytest.raises(Forbidden) as caught:
        await act(request.id, "file", principal=principal_of(REQUESTER, "officer"))
    assert "target court" in caught.value.message
    assert caught.value.details["allowed_actions"] == ["withdraw"]


async def test_court_system_token_of_the_target_court_acts_as_its_clerk(
    submit: Any, act: Any, principal_of: Any
) -> None:
    request = await submit()
    filed = await act(request.id, "file", principal=principal_of(TARGET, kind="token"))
    assert filed.status == RequestStatus.filed


@pytest.mark.parametrize("action", ACTIONS)
async def test_illegal_transition_is_a_conflict_listing_the_actions_allowed_now(
    action: str, submit: Any, act: Any, actor_for: Any
) -> None:
    request = await submit()
    await act(request.id, "file")
    await act(request.id, "start")
    await act(request.id, "complete")  # completed: nothing is allowed any more
    with pytest.raises(Conflict) as caught:
        await act(request.id, action, principal=actor_for(action))
    assert caught.value.details["status"] == "completed"
    assert caught.value.details["allowed_actions"] == []
    assert "none" in caught.value.message


async def test_illegal_transition_names_the_actions_allowed_for_the_state(submit: Any, act: Any) -> None:
    request = await submit()
    await act(request.id, "file")
    with pytest.raises(Conflict) as caught:
        await act(request.id, "complete")
    assert caught.value.code == "illegal_transition"
    assert caught.value.details["status"] == "filed"
    assert caught.value.details["allowed_actions"] == ["start", "request_supplement", "reject"]
    assert "start, request_supplement, reject, withdraw" in caught.value.message


async def test_stale_version_is_a_conflict_that_names_the_current_version(submit: Any, act: Any) -> None:
    request = await submit()
    await act(request.id, "file")
    with pytest.raises(Conflict) as caught:
        await act(request.id, "start", version=1)
    assert caught.value.code == "stale_version"
    assert caught.value.details["version"] == 2
    assert "reload" in caught.value.message


async def test_unknown_action_is_not_found_listing_the_actions(
    submit: Any, test_db: Any, court_directory: Any, legal_calendar: Any, actor_for: Any
) -> None:
    request = await submit()
    async with test_db.unit_of_work() as s:
        with pytest.raises(NotFound) as caught:
            await actions.take_action(
                s,
                principal=actor_for("file"),
                directory=court_directory,
                calendar=legal_calendar,
                request_id=request.id,
                action="approve",
                data=FileBody(version=1),
            )
    assert caught.value.details["actions"] == list(ACTIONS)


async def test_withdrawal_cancels_the_pending_clocks(submit: Any, act: Any, session: Any) -> None:
    request = await submit()
    await act(request.id, "file")
    withdrawn = await act(request.id, "withdraw", reason="已和解")
    assert withdrawn.status == RequestStatus.withdrawn
    assert withdrawn.withdraw_reason == "已和解"
    assert await _states(session, request.id) == [
        ("file", "met"),
        ("report", "cancelled"),
        ("start", "cancelled"),
    ]


async def test_rejected_request_may_be_withdrawn_by_the_requester(submit: Any, act: Any) -> None:
    request = await submit()
    await act(request.id, "reject", reason="materials_invalid")
    assert (await act(request.id, "withdraw")).status == RequestStatus.withdrawn


async def test_completion_refers_only_to_attachments_of_the_request(
    submit: Any, act: Any, session: Any
) -> None:
    request = await submit()
    other = await submit()
    await act(request.id, "file")
    await act(request.id, "start")
    foreign = Attachment(
        request_id=other.id,
        purpose="result",
        filename="回执.pdf",
        content_type="application/pdf",
        size=10,
        sha256="0" * 64,
        uploaded_by="user:x",
        uploaded_court=TARGET,
    )
    own = Attachment(
        request_id=request.id,
        purpose="result",
        filename="冻结回执.pdf",
        content_type="application/pdf",
        size=10,
        sha256="1" * 64,
        uploaded_by="user:x",
        uploaded_court=TARGET,
    )
    session.add_all([foreign, own])
    await session.commit()

    with pytest.raises(InvalidInput) as caught:
        await act(request.id, "complete", result_attachment_ids=[own.id, foreign.id])
    assert caught.value.details[0]["field"] == "result_attachment_ids"
    completed = await act(request.id, "complete", result_attachment_ids=[own.id])
    assert completed.result_attachment_ids == [own.id]


def test_lifecycle_table_matches_the_design() -> None:
    S = RequestStatus
    table = {name: (sorted(t.sources), t.to, t.party.value) for name, t in TRANSITIONS.items()}
    assert table == {
        "file": ([S.routed], S.filed, "target"),
        "start": ([S.filed], S.in_progress, "target"),
        "complete": ([S.in_progress], S.completed, "target"),
        "request_supplement": (sorted([S.routed, S.filed, S.in_progress]), S.awaiting_supplement, "target"),
        "supplement": ([S.awaiting_supplement], None, "requester"),
        "reject": (sorted([S.routed, S.filed]), S.rejected, "target"),
        "withdraw": (
            sorted([S.routed, S.filed, S.in_progress, S.awaiting_supplement, S.rejected]),
            S.withdrawn,
            "requester",
        ),
        "reroute": ([S.rejected], S.routed, "supervisor"),
    }
    assert actions_in_state(S.completed) == actions_in_state(S.withdrawn) == []
