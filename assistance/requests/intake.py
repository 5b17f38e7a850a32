"""Submitting an assistance request: pre-flight checks, routing, clocks, audit and event in one transaction.

Every check runs before anything is written, and each failure names its field (422): the case (it must
exist and be open), the subject (one of the case's respondents), the materials the matter needs, the
location (the routing engine refuses unknown regions and the requester's own jurisdiction), and for a
renewal the current freeze's expiry. Only the filing court's clerks, officers and court system may
submit (403 otherwise).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached

from assistance.cases import service as cases
from assistance.cases.models import CaseParty, EnforcementCase
from assistance.cases.validation import Problems
from assistance.enums import CaseStatus, MatterType, PartyRole, RequestStatus, Urgency
from assistance.requests import deadlines as clocks
from assistance.requests.events import event_payload, request_rooms
from assistance.requests.lifecycle import WORKING_ROLES
from assistance.requests.materials import (
    MATTERS,
    freeze_needs_urgency,
    missing_materials,
    normalized_materials,
    unknown_materials,
)
from assistance.requests.models import AssistanceRequest
from assistance.requests.queries import SUBJECT_TYPE, get_request
from assistance.requests.schemas import RequestCreate
from command_center import idempotency
from command_center.audit import service as audit
from command_center.calendar import LegalCalendar
from command_center.calendar.periods import SHANGHAI
from command_center.courts.directory import CourtDirectory
from command_center.courts.routing import RoutingDecision, route
from command_center.db import insert_returning_ids, utcnow
from command_center.errors import Forbidden, InvalidInput
from command_center.identity.principal import Principal
from command_center.outbox import service as outbox

RESOURCE_TYPE = "assistance_request"
CREATED = 201
_REQUEST = AssistanceRequest.__table__
# The columns a new request leaves empty (they are filled by later actions).
_UNSET_COLUMNS: dict[str, Any] = dict.fromkeys(
    (
        "status_before_supplement",
        "supplement_missing",
        "supplement_answer",
        "reject_reason",
        "reject_note",
        "withdraw_reason",
        "result_text",
        "result_attachment_ids",
        "closed_at",
    )
)


@dataclass(frozen=True, slots=True)
class Submission:
    """The outcome of a submission: the request, and whether it is an earlier one replayed for a retry."""

    request: AssistanceRequest
    replayed: bool
    status: int = CREATED


def today_in_china(now: datetime) -> date:
    """The date in Asia/Shanghai at instant `now`."""
    return now.astimezone(SHANGHAI).date()


def authorize(principal: Principal) -> None:
    """Forbidden unless `principal` is among those who submit requests for their court."""
    if principal.role not in WORKING_ROLES:
        raise Forbidden(
            "Assistance requests are submitted by the clerks and officers of the court that filed the case "
            "(or by its court system); command staff and administrators do not submit them.",
            details={"who": "the filing court's clerks and officers"},
        )


async def _check_case(session: AsyncSession, *, principal: Principal, case_id: int) -> EnforcementCase:
    return _checked_case(await cases.get_case(session, case_id=case_id), principal=principal, case_id=case_id)


def _checked_case(case: EnforcementCase | None, *, principal: Principal, case_id: int) -> EnforcementCase:
    if case is None:
        raise InvalidInput(
            f"case_id: no enforcement case with id {case_id}",
            details=[{"field": "case_id", "message": f"no enforcement case with id {case_id}"}],
        )
    if case.court_code != principal.court_code:
        # The requesting court is the caller's court, and only the court that filed a case asks for
        # assistance on it.
        raise Forbidden(
            "Only the court that filed the case may request assistance on it.",
            details={"field": "case_id"},
        )
    if case.status != CaseStatus.open:
        raise InvalidInput(
            f"case_id: the case is {case.status}; assistance is requested on open cases only",
            details=[{"field": "case_id", "message": f"the case is {case.status}"}],
        )
    return case


def _route(
    problems: Problems, directory: CourtDirectory, *, from_court: str, region_code: str
) -> RoutingDecision | None:
    try:
        return route(directory, from_court=from_court, region_code=region_code)
    except InvalidInput as exc:
        problems.add("location.region_code", exc.message)
        return None


def _check_materials(problems: Problems, data: RequestCreate) -> list[str]:
    materials = normalized_materials(data.materials)
    unknown = unknown_materials(materials)
    if unknown:
        problems.add("materials", f"unknown material codes: {', '.join(unknown)}")
    missing = missing_materials(data.matter_type, materials)
    if missing:
        problems.add(
            "materials",
            f"a {data.matter_type} request needs {', '.join(MATTERS[data.matter_type].required)}; "
            f"missing: {', '.join(missing)}",
        )
    return materials


def _check_freeze(
    problems: Problems, calendar: LegalCalendar, data: RequestCreate, *, today: date
) -> Urgency:
    """The urgency to store: a renewal whose freeze has less than a month left is urgent."""
    urgency = Urgency(data.urgency)
    expires = data.current_freeze_expires_on
    if not MATTERS[data.matter_type].renews_freeze:
        if expires is not None:
            problems.add(
                "current_freeze_expires_on", "only a renew_freeze request gives the current freeze's expiry"
            )
        return urgency
    if expires is None:
        problems.add(
            "current_freeze_expires_on", "a renew_freeze request must give the current freeze's expiry"
        )
        return urgency
    if expires < today:
        problems.add(
            "current_freeze_expires_on",
            f"the freeze expired on {expires.isoformat()}; an expired freeze cannot be renewed — "
            "request a new freeze (freeze_deposits) instead",
        )
        return urgency
    if freeze_needs_urgency(calendar, today=today, expires_on=expires):
        return Urgency.urgent
    return urgency


async def _replay(
    session: AsyncSession, *, principal: Principal, key: str, body_hash: str
) -> Submission | None:
    record = await idempotency.lookup(
        session, principal=principal, key=key, body_hash=body_hash, resource_type=RESOURCE_TYPE
    )
    if record is None:
        return None
    request = await get_request(session, request_id=record.resource_id)
    assert request is not None, "an idempotency record outlived its request"
    return Submission(request=request, replayed=True, status=record.status)


async def replay_submission(
    session: AsyncSession, *, principal: Principal, data: RequestCreate, idempotency_key: str
) -> Submission | None:
    """The earlier submission stored under this caller's key and body, or None; 409 for another body."""
    key = idempotency.check_key(idempotency_key)
    return await _replay(session, principal=principal, key=key, body_hash=idempotency.request_hash(data))


@dataclass(slots=True)
class Draft:
    """A submission that passed every check, ready for `write_drafts`: its rows and what its answer needs."""

    principal: Principal
    values: dict[str, Any]  # the assistance_request row, without its id
    case_number: str
    subject: CaseParty
    deadlines: list[dict[str, Any]]  # the deadline rows, without the request's id
    audit_details: dict[str, Any]
    key: str | None = None
    body_hash: str | None = None
    id: int | None = None  # set by write_drafts
    deadline_ids: list[int] = field(default_factory=list)  # set by write_drafts

    def as_request(self) -> AssistanceRequest:
        """The written request as a model instance (not attached to a session)."""
        assert self.id is not None, "the draft is not written yet"
        return AssistanceRequest(id=self.id, **self.values)

    def view(self) -> SimpleNamespace:
        """The written request's attributes, read-only, as the event payload and the read model read a
        request (building a model instance costs more than the rest of a submission's bookkeeping)."""
        assert self.id is not None, "the draft is not written yet"
        return SimpleNamespace(id=self.id, **_UNSET_COLUMNS, **self.values)


def check_submission(
    *,
    principal: Principal,
    directory: CourtDirectory,
    calendar: LegalCalendar,
    data: RequestCreate,
    case: EnforcementCase | None,
    subject: CaseParty | None,
    now: datetime,
    key: str | None = None,
    body_hash: str | None = None,
) -> Draft:
    """The draft of a new request on `case` about `subject` (both as found by id, or None), routed at
    `now`; Forbidden/InvalidInput naming every field that is wrong. Reads and writes nothing."""
    authorize(principal)
    today = today_in_china(now)
    case = _checked_case(case, principal=principal, case_id=data.case_id)
    problems = Problems()
    if subject is None or subject.case_id != case.id or subject.role != PartyRole.respondent:
        problems.add("subject_id", f"party {data.subject_id} is not a respondent of case {case.case_number}")
    materials = _check_materials(problems, data)
    decision = _route(
        problems, directory, from_court=principal.court_code, region_code=data.location.region_code
    )
    urgency = _check_freeze(problems, calendar, data, today=today)
    problems.raise_if_any()
    assert decision is not None and subject is not None and case.id is not None
    values: dict[str, Any] = {
        "case_id": case.id,
        "requesting_court": principal.court_code,
        "target_court": decision.target.code,
        "supervising_court": decision.supervisor.code,
        "matter_type": MatterType(data.matter_type),
        "subject_id": data.subject_id,
        "region_code": data.location.region_code,
        "address": data.location.address,
        "urgency": urgency,
        "description": data.description.strip(),
        "materials": materials,
        "current_freeze_expires_on": data.current_freeze_expires_on,
        # Routing happens in the writing transaction, so a stored request is never left `submitted`.
        "status": RequestStatus.routed,
        "version": 1,
        "created_by": principal.label,
        "created_at": now,
        "updated_at": now,
        "routed_on": today,
    }
    deadlines = [
        clocks.deadline_values(calendar, subject_id=0, kind=kind, start=today)
        for kind in sorted(clocks.implied_pending_kinds(RequestStatus.routed))
    ]
    details = {
        "case_id": case.id,
        "case_number": case.case_number,
        "matter_type": values["matter_type"],
        "urgency": urgency,
        "auto_urgent": urgency != data.urgency,
        "region_code": data.location.region_code,
        "routed": {
            "status": RequestStatus.routed,
            "target_court": decision.target.code,
            "supervising_court": decision.supervisor.code,
            "routed_on": today,
        },
    }
    return Draft(
        principal=principal,
        values=values,
        case_number=case.case_number,
        subject=subject,
        deadlines=deadlines,
        audit_details=details,
        key=key,
        body_hash=body_hash,
    )


async def write_drafts(session: AsyncSession, drafts: Sequence[Draft], *, directory: CourtDirectory) -> None:
    """Stores checked drafts in the caller's transaction, in order: the requests (status `routed`,
    version 1), their idempotency keys, their file/start/report clocks, one `assistance:routed` event
    each and one `assistance.submitted` audit entry each. A handful of statements, however many drafts.

    Raises `idempotency.KeyInUse` when a concurrent transaction stored one of the keys first (the
    transaction is then unusable and must roll back).
    """
    if not drafts:
        return
    ids = await insert_returning_ids(session, _REQUEST, [draft.values for draft in drafts])
    for draft, request_id in zip(drafts, ids, strict=True):
        draft.id = request_id
    # Early in the transaction: a concurrent duplicate stops here before taking further locks.
    await idempotency.remember_many(
        session,
        records=[
            {
                "principal": idempotency.principal_scope(draft.principal),
                "key": draft.key,
                "request_hash": draft.body_hash,
                "status": CREATED,
                "resource_type": RESOURCE_TYPE,
                "resource_id": draft.id,
            }
            for draft in drafts
            if draft.key is not None
        ],
    )
    rows = [{**row, "subject_id": draft.id} for draft in drafts for row in draft.deadlines]
    deadline_ids = iter(await clocks.insert_deadlines(session, rows))
    for draft in drafts:
        draft.deadline_ids = [next(deadline_ids) for _ in draft.deadlines]
    await outbox.record_events(
        session,
        [
            outbox.NewEvent(
                name="assistance:routed",
                rooms=request_rooms(
                    directory,
                    request_id=draft.id,  # type: ignore[arg-type]
                    courts=(
                        draft.values["requesting_court"],
                        draft.values["target_court"],
                        draft.values["supervising_court"],
                    ),
                ),
                payload=event_payload(draft.view(), case_number=draft.case_number),  # type: ignore[arg-type]
            )
            for draft in drafts
        ],
    )
    await audit.record_entries(
        session,
        [
            audit.NewEntry(
                action="assistance.submitted",
                actor=draft.principal,
                subject_type=SUBJECT_TYPE,
                subject_id=str(draft.id),
                details=draft.audit_details,
            )
            for draft in drafts
        ],
    )


async def create_request(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    calendar: LegalCalendar,
    data: RequestCreate,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Submission:
    """Stores a new request already routed (status `routed`, version 1) with its file/start/report clocks,
    audits `assistance.submitted` and records `assistance:routed`, all in the caller's transaction.

    With `idempotency_key`: a retry with the same key and body returns the earlier request
    (`replayed=True`, nothing written); the same key with another body is a 409. When a concurrent
    submission stores the same key first, raises `idempotency.KeyInUse`: roll back and call
    `replay_submission` in a new transaction.
    """
    authorize(principal)
    now = (now or utcnow()).astimezone(UTC)
    key = body_hash = None
    if idempotency_key is not None:
        key = idempotency.check_key(idempotency_key)
        body_hash = idempotency.request_hash(data)
        earlier = await _replay(session, principal=principal, key=key, body_hash=body_hash)
        if earlier is not None:
            return earlier

    case = await _check_case(session, principal=principal, case_id=data.case_id)
    subject = await cases.get_respondent(session, case_id=case.id, party_id=data.subject_id)  # type: ignore[arg-type]
    draft = check_submission(
        principal=principal,
        directory=directory,
        calendar=calendar,
        data=data,
        case=case,
        subject=subject,
        now=now,
        key=key,
        body_hash=body_hash,
    )
    await write_drafts(session, [draft], directory=directory)
    request = draft.as_request()
    # Written by a plain insert: enter it into the session as a loaded row, without another query.
    make_transient_to_detached(request)
    session.add(request)
    return Submission(request=request, replayed=False)
