"""The wire contract of `/api/v1/escalations`: fields may be added, never renamed or removed."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from assistance.escalations.enums import EscalationKind, EscalationState, SupervisionOrderState
from assistance.requests.attachments import AttachmentRead
from assistance.requests.timeline import TimelineEntryRead
from command_center.api import PageQuery, Schema
from command_center.db import as_utc

UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]
ResolutionNote = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class EscalationListQuery(PageQuery):
    state: EscalationState | None = Field(None, description="open or resolved; default: both")
    kind: EscalationKind | None = Field(None, description="which clock ran out")
    court: str | None = Field(
        None,
        pattern=r"^[0-9]{6}$",
        description="only escalations involving this court (target, requester or supervisor)",
    )
    request_id: int | None = Field(None, ge=1, description="only escalations about this assistance request")


class EscalationResolve(Schema):
    note: ResolutionNote = Field(description="what was done: the order followed up, the case taken over, ...")


class SupervisionOrderRead(Schema):
    id: int
    escalation_id: int
    request_id: int
    issuing_court: str = Field(description="the supervising command center's court")
    target_court: str = Field(description="the court ordered to act")
    issued_on: date
    due_on: date = Field(description="the last day to act (a working day)")
    ends_at: UtcDatetime = Field(description="24:00 Asia/Shanghai of due_on, as a UTC instant")
    provisional: bool = Field(description="computed for a year without an official holiday schedule")
    rule: str
    state: SupervisionOrderState
    created_at: UtcDatetime
    overdue_at: UtcDatetime | None = Field(
        None, description="when the order's own deadline passed with the order still open"
    )
    closed_at: UtcDatetime | None


class EscalationRead(Schema):
    id: int
    deadline_id: int
    kind: EscalationKind
    subject_type: str = Field(description='"request" or "case"')
    subject_id: int
    request_id: int | None
    case_id: int
    target_court: str = Field(description="the request's target court, or the case's court")
    requesting_court: str | None = Field(description="the requesting court (requests only)")
    supervising_court: str = Field(description="the court whose command center handles the escalation")
    state: EscalationState
    details: dict[str, Any] = Field(
        description="action taken, legal basis, the court that had to act, the missed deadline"
    )
    created_at: UtcDatetime
    resolved_at: UtcDatetime | None
    resolved_by: str | None
    resolution_note: str | None
    supervision_order: SupervisionOrderRead | None = Field(
        None, description="the supervision order (督办) a missed start issued"
    )


class EscalationBundle(Schema):
    """What the requester takes to the superior court when the target court has not started."""

    request_id: int
    basis: str = Field(description="the rule that lets the requester ask the superior court to order action")
    timeline: list[TimelineEntryRead] = Field(description="the request's record, oldest first")
    attachments: list[AttachmentRead] = Field(description="the request's documents, oldest first")


class EscalationDetail(EscalationRead):
    bundle: EscalationBundle | None = Field(
        None, description="for a missed start: the request's timeline and documents"
    )
