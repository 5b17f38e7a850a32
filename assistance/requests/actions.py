"""Taking an action on a request: authorize, check the lifecycle, compare-and-set the version, move the
clocks, audit, and record the event — all in the caller's transaction.

Order of the checks: a caller who cannot see the request gets 404; one who sees it but may not take the
action gets 403 naming who may; a stale `version` is a 409 asking to reload; an action the current
state does not allow is a 409 listing the actions allowed now; invalid action fields are 422.

Concurrency: the state change is `UPDATE … WHERE id = :id AND version = :version`. Two concurrent actions
read the same version; the database lets one update win and the other's update match no row (on
PostgreSQL it waits for the winner's commit and re-checks the condition), which becomes a 409. Deadline
changes happen after that update, so only the winner touches the clocks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from assistance.enums import DeadlineKind, DeadlineState, RequestStatus
from assistance.escalations.supervision import close_settled_orders
from assistance.requests import deadlines as clocks
from assistance.requests.events import record_request_event
from assistance.requests.intake import today_in_china
from assistance.requests.lifecycle import (
    ACTIONS,
    TRANSITIONS,
    Transition,
    actions_in_state,
    allowed_actions,
    is_party,
    next_status,
)
from assistance.requests.materials import normalized_materials, unknown_materials
from assistance.requests.models import AssistanceRequest, Attachment, Deadline
from assistance.requests.queries import SUBJECT_TYPE, get_request, get_visible_request
from assistance.requests.reads import case_number_of
from assistance.requests.schemas import (
    ActionBody,
    CompleteBody,
    RejectBody,
    RequestSupplementBody,
    RerouteBody,
    SupplementBody,
    WithdrawBody,
)
from command_center.audit import service as audit
from command_center.calendar import LegalCalendar
from command_center.courts.directory import CourtDirectory
from command_center.courts.routing import route
from command_center.db import utcnow
from command_center.errors import Conflict, Forbidden, InvalidInput, NotFound
from command_center.identity.principal import Principal

CLOSING_STATES = frozenset({RequestStatus.completed, RequestStatus.withdrawn})
DEEMED_WITHDRAWN = (
    "deemed withdrawn: the requested supplement did not arrive within 30 days "
    "(北京市高级人民法院 implementing opinion, 2011)"
)


def unknown_action(action: str) -> NotFound:
    return NotFound(
        f"There is no action {action!r}; the actions are: {', '.join(ACTIONS)}.",
        details={"action": action, "actions": list(ACTIONS)},
    )


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", details=[{"field": field, "message": message}])


def stale(request: AssistanceRequest) -> Conflict:
    return Conflict(
        "The request changed since you loaded it; reload it and try again.",
        details={"version": request.version, "status": request.status},
        code="stale_version",
    )


async def _compare_and_set(
    session: AsyncSession,
    request: AssistanceRequest,
    *,
    expected_version: int,
    values: dict[str, Any],
    now: datetime,
) -> None:
    """Applies `values` only if the row still has `expected_version`; 409 otherwise."""
    values = {**values, "version": expected_version + 1, "updated_at": now}
    result = await session.execute(
        sa.update(AssistanceRequest)
        .where(AssistanceRequest.id == request.id, AssistanceRequest.version == expected_version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        # Lost the race: re-read the row so the 409 names the version the winner left.
        stmt = sa.select(AssistanceRequest).where(AssistanceRequest.id == request.id)
        current = (await session.execute(stmt.execution_options(populate_existing=True))).scalar_one()
        raise stale(current)
    for name, value in values.items():
        set_committed_value(request, name, value)


async def _result_attachments(session: AsyncSession, request_id: int, ids: list[int]) -> list[int]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    found = set(
        (
            await session.execute(
                sa.select(Attachment.id).where(Attachment.request_id == request_id, Attachment.id.in_(ids))
            )
        ).scalars()
    )
    missing = [i for i in ids if i not in found]
    if missing:
        raise _invalid(
            "result_attachment_ids", f"not attachments of this request: {', '.join(map(str, missing))}"
        )
    return ids


def _reroute_target(
    directory: CourtDirectory, request: AssistanceRequest, data: RerouteBody
) -> tuple[str, str, str]:
    """(target, supervisor, region code) for a reroute; 422 naming the field when impossible."""
    requester = request.requesting_court
    if data.region_code is not None:
        try:
            decision = route(directory, from_court=requester, region_code=data.region_code)
        except InvalidInput as exc:
            raise _invalid("region_code", exc.message) from None
        target, supervisor, region = decision.target.code, decision.supervisor.code, data.region_code
    else:
        assert data.target_court is not None
        entry = directory.get(data.target_court)
        if entry is None or not entry.active or entry.superior_code is None:
            raise _invalid(
                "target_court", f"{data.target_court} is not an active court that can be commissioned"
            )
        if entry.code == requester:
            raise _invalid("target_court", "a court does not send an assistance request to itself")
        target, region = entry.code, request.region_code
        # The routing rule for the supervisor: the lowest superior of the target that is the requester
        # or one of the requester's superiors (command_center/courts/routing.py).
        supervisor = directory.lowest_common(requester, entry.superior_code).code
    if target == request.target_court:
        field = "region_code" if data.region_code is not None else "target_court"
        raise _invalid(field, f"the request was rejected by {target}; choose another court")
    return target, supervisor, region


def _action_values(
    transition: Transition, request: AssistanceRequest, data: ActionBody, *, now: datetime
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The columns an action sets, and what its audit entry records about it."""
    new_status = next_status(transition, request)
    values: dict[str, Any] = {"status": new_status}
    details: dict[str, Any] = {"from": request.status, "to": new_status}
    if new_status in CLOSING_STATES:
        values["closed_at"] = now
    if isinstance(data, CompleteBody):
        values["result_text"] = data.result_text
        details["result_attachment_ids"] = data.result_attachment_ids
    elif isinstance(data, RequestSupplementBody):
        values.update(
            status_before_supplement=request.status, supplement_missing=data.missing, supplement_answer=None
        )
        details["missing"] = data.missing
    elif isinstance(data, SupplementBody):
        unknown = unknown_materials(data.materials)
        if unknown:
            raise _invalid("materials", f"unknown material codes: {', '.join(unknown)}")
        values.update(
            status_before_supplement=None,
            supplement_answer=data.note,
            materials=normalized_materials([*request.materials, *data.materials]),
        )
        details.update(note=data.note, materials=data.materials)
    elif isinstance(data, RejectBody):
        values.update(reject_reason=data.reason, reject_note=data.note)
        details.update(reason=data.reason, note=data.note)
    elif isinstance(data, WithdrawBody):
        values["withdraw_reason"] = data.reason
        details["reason"] = data.reason
    return values, details


async def take_action(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    calendar: LegalCalendar,
    request_id: int,
    action: str,
    data: ActionBody,
    now: datetime | None = None,
) -> AssistanceRequest:
    """Moves the request through `action` (see lifecycle.TRANSITIONS), closes and opens its clocks,
    audits `assistance.<past tense>` and records `assistance:<past tense>` for its rooms.

    404 unknown action or invisible request; 403 not the caller's action; 409 stale version or illegal
    transition; 422 invalid fields.
    """
    transition = TRANSITIONS.get(action)
    if transition is None:
        raise unknown_action(action)
    now = (now or utcnow()).astimezone(UTC)
    request = await get_visible_request(
        session, principal=principal, directory=directory, request_id=request_id
    )
    if not is_party(transition.party, principal, request, directory):
        raise Forbidden(
            f"Only {transition.party.description} may {action.replace('_', ' ')} this request.",
            details={"action": action, "allowed_actions": allowed_actions(principal, request, directory)},
        )
    if data.version != request.version:
        raise stale(request)
    status = RequestStatus(request.status)
    if status not in transition.sources:
        in_state = actions_in_state(status)
        raise Conflict(
            f"A request that is {status} cannot take the action {action}. "
            f"Actions allowed now: {', '.join(in_state) or 'none (the request is closed)'}.",
            details={
                "status": status,
                "allowed_actions": allowed_actions(principal, request, directory),
                "actions_in_state": in_state,
            },
            code="illegal_transition",
        )

    values, details = _action_values(transition, request, data, now=now)
    previous_target = None
    if isinstance(data, CompleteBody):
        values["result_attachment_ids"] = await _result_attachments(
            session, request_id, data.result_attachment_ids
        )
    if isinstance(data, RerouteBody):
        target, supervisor, region = _reroute_target(directory, request, data)
        previous_target = request.target_court
        today = today_in_china(now)
        values.update(
            target_court=target,
            supervising_court=supervisor,
            region_code=region,
            routed_on=today,
            reject_reason=None,
            reject_note=None,
        )
        details.update(
            reason=data.reason,
            previous_target_court=previous_target,
            previous_supervising_court=request.supervising_court,
            target_court=target,
            supervising_court=supervisor,
            region_code=region,
        )

    await _compare_and_set(session, request, expected_version=data.version, values=values, now=now)
    await clocks.apply_status_change(
        session,
        calendar=calendar,
        request_id=request_id,
        new_status=RequestStatus(request.status),
        meets=transition.meets,
        starts_clocks=transition.starts_clocks,
        today=today_in_china(now),
        now=now,
    )
    await close_settled_orders(
        session, directory=directory, request=request, action=action, now=now, actor=principal
    )
    await _announce(
        session,
        directory=directory,
        request=request,
        name=f"assistance:{transition.past_tense}",
        previous_target=previous_target,
        now=now,
    )
    await audit.record(
        session,
        action=f"assistance.{transition.past_tense}",
        actor=principal,
        subject_type=SUBJECT_TYPE,
        subject_id=str(request_id),
        details={**details, "version": request.version},
    )
    return request


async def _announce(
    session: AsyncSession,
    *,
    directory: CourtDirectory,
    request: AssistanceRequest,
    name: str,
    now: datetime,
    previous_target: str | None = None,
    **extra: Any,
) -> None:
    assert request.id is not None
    open_clocks = (await clocks.deadlines_for_requests(session, request_ids=[request.id]))[request.id]
    await record_request_event(
        session,
        directory=directory,
        name=name,
        request=request,
        case_number=await case_number_of(session, case_id=request.case_id),
        previous_target=previous_target,
        overdue=clocks.is_overdue(open_clocks, now=now),
        **extra,
    )


async def deem_withdrawn(
    session: AsyncSession,
    *,
    directory: CourtDirectory,
    request_id: int,
    deadline_id: int,
    now: datetime | None = None,
) -> AssistanceRequest | None:
    """Withdraws a request whose supplement deadline has ended unanswered: the deadline becomes missed, the
    request `withdrawn` (closed); audits `assistance.withdrawn` by "system" and records
    `assistance:withdrawn` with `deemed: true`.

    A system act for the deadline job, safe to run twice: returns None and changes nothing when the
    deadline is not this request's pending supplement deadline, has not ended at `now`, or the request
    is no longer awaiting the supplement (it was answered or withdrawn meanwhile).
    """
    now = (now or utcnow()).astimezone(UTC)
    # Lock the request first (PostgreSQL), as the actions do by their version update, so a supplement
    # arriving at the same moment either wins before this or sees the new version.
    request = await get_request(session, request_id=request_id, for_update=True)
    deadline = await session.get(Deadline, deadline_id, populate_existing=True)
    if (
        request is None
        or deadline is None
        or deadline.subject_type != clocks.SUBJECT_TYPE
        or deadline.subject_id != request_id
        or deadline.kind != DeadlineKind.supplement
        or deadline.state != DeadlineState.pending
        or request.status != RequestStatus.awaiting_supplement
        or deadline.ends_at > now
    ):
        return None
    if await clocks.mark_missed(session, deadline_id=deadline_id, version=deadline.version, now=now) is None:
        return None
    try:
        await _compare_and_set(
            session,
            request,
            expected_version=request.version,
            values={
                "status": RequestStatus.withdrawn,
                "status_before_supplement": None,
                "withdraw_reason": DEEMED_WITHDRAWN,
                "closed_at": now,
            },
            now=now,
        )
    except Conflict:
        return None
    await clocks.apply_status_change(
        session,
        calendar=None,  # type: ignore[arg-type]  # a closing state starts no clock
        request_id=request_id,
        new_status=RequestStatus.withdrawn,
        meets=frozenset(),
        starts_clocks=False,
        today=today_in_china(now),
        now=now,
    )
    await _announce(
        session, directory=directory, request=request, name="assistance:withdrawn", now=now, deemed=True
    )
    await audit.record(
        session,
        action="assistance.withdrawn",
        actor_label="system",
        court_code=request.supervising_court,
        subject_type=SUBJECT_TYPE,
        subject_id=str(request_id),
        details={
            "from": RequestStatus.awaiting_supplement,
            "to": RequestStatus.withdrawn,
            "deemed": True,
            "deadline_id": deadline_id,
            "reason": DEEMED_WITHDRAWN,
            "version": request.version,
        },
    )
    return request
