"""The wire contract of `/api/v1/assistance-requests`: what a court system sends and what it reads back.

Remote court systems depend on these shapes; fields may be added, never renamed or removed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from assistance.cases.schemas import PartyRead
from assistance.enums import DeadlineKind, DeadlineState, MatterType, RejectReason, RequestStatus, Urgency
from command_center.api import PageQuery, Schema
from command_center.courts.models import CourtRead

MAX_MATERIALS = 30


Text300 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Text4000 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
MaterialCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
CourtCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]


# --- intake ----------------------------------------------------------------------------------------


class LocationIn(Schema):
    region_code: str = Field(
        min_length=1,
        max_length=12,
        description="GB/T 2260 code of the county-level division where the work is",
    )
    address: Text300 = Field(description="street address of the bank branch, property or person")


class RequestCreate(Schema):
    case_id: int = Field(ge=1, description="an enforcement case of the caller's court")
    matter_type: MatterType
    subject_id: int = Field(ge=1, description="the id of one of the case's respondents")
    location: LocationIn
    urgency: Urgency = Urgency.normal
    description: str = Field("", max_length=4000, description="what the receiving court is asked to do")
    materials: list[MaterialCode] = Field(
        default_factory=list,
        max_length=MAX_MATERIALS,
        description="material codes sent with the request, e.g. ruling (执行裁定书), assistance_notice (协助执行通知书); "
        "see GET /api/v1/assistance-matters for what each matter needs",
    )
    current_freeze_expires_on: date | None = Field(
        None, description="renew_freeze only: the day the current freeze expires"
    )


# --- actions ---------------------------------------------------------------------------------------


class ActionBody(Schema):
    version: int = Field(ge=1, description="the request's version as last read (optimistic lock)")


class FileBody(ActionBody):
    pass


class StartBody(ActionBody):
    pass


class CompleteBody(ActionBody):
    result_text: Text4000 = Field(description="what was done and found")
    result_attachment_ids: list[int] = Field(
        default_factory=list,
        max_length=50,
        description="attachments of this request that document the result",
    )


class RequestSupplementBody(ActionBody):
    missing: Note = Field(description="which materials are missing or must be corrected")


class SupplementBody(ActionBody):
    note: Note = Field(description="what is being supplied")
    materials: list[MaterialCode] = Field(default_factory=list, max_length=MAX_MATERIALS)


class RejectBody(ActionBody):
    reason: RejectReason
    note: str | None = Field(None, max_length=2000)


class WithdrawBody(ActionBody):
    reason: Note


class RerouteBody(ActionBody):
    region_code: str | None = Field(
        None, min_length=1, max_length=12, description="route by location: the corrected region code"
    )
    target_court: CourtCode | None = Field(None, description="or name the new target court by its code")
    reason: Note

    @model_validator(mode="after")
    def _one_target(self) -> RerouteBody:
        if (self.region_code is None) == (self.target_court is None):
            raise ValueError("give exactly one of region_code and target_court")
        return self


ACTION_BODIES: dict[str, type[ActionBody]] = {
    "file": FileBody,
    "start": StartBody,
    "complete": CompleteBody,
    "request_supplement": RequestSupplementBody,
    "supplement": SupplementBody,
    "reject": RejectBody,
    "withdraw": WithdrawBody,
    "reroute": RerouteBody,
}


# --- reads -----------------------------------------------------------------------------------------


class DeadlineRead(Schema):
    id: int
    kind: DeadlineKind
    started_on: date = Field(description="the day the period runs from (not counted)")
    due_on: date = Field(description="the last day of the period, after moving past rest days")
    ends_at: datetime = Field(description="the instant the period is over: 24:00 Asia/Shanghai of due_on")
    state: DeadlineState
    provisional: bool = Field(description="computed for a year without an official holiday schedule")
    rule: str


class LocationRead(Schema):
    region_code: str
    address: str


class MaterialRead(Schema):
    code: str
    name: str = Field(description="the Chinese name")
    name_en: str = Field(description="the English name, for pages shown in English")


class NextDeadlineRead(Schema):
    kind: DeadlineKind
    due_on: date
    ends_at: datetime
    state: DeadlineState


class RequestRead(Schema):
    id: int
    status: RequestStatus
    version: int
    case_id: int
    case_number: str
    matter_type: MatterType
    urgency: Urgency
    requesting_court: CourtRead
    target_court: CourtRead
    supervising_court: CourtRead
    subject: PartyRead = Field(
        description="ID number in full for the requesting and target courts; masked for everyone else"
    )
    location: LocationRead
    description: str
    materials: list[MaterialRead]
    current_freeze_expires_on: date | None
    deadlines: list[DeadlineRead] = Field(description="every clock of the request, oldest first")
    overdue: bool = Field(description="a deadline was missed or a pending one has ended")
    allowed_actions: list[str] = Field(description="the actions the caller may take now")
    routed_on: date
    status_before_supplement: RequestStatus | None
    supplement_missing: str | None
    supplement_answer: str | None
    reject_reason: RejectReason | None
    reject_note: str | None
    withdraw_reason: str | None
    result_text: str | None
    result_attachment_ids: list[int]
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class RequestListItem(Schema):
    id: int
    status: RequestStatus
    version: int
    case_id: int
    case_number: str
    matter_type: MatterType
    urgency: Urgency
    requesting_court: CourtRead
    target_court: CourtRead
    supervising_court: CourtRead
    subject: PartyRead = Field(description="ID number always masked in lists")
    location: LocationRead
    next_deadline: NextDeadlineRead | None = Field(description="the earliest pending or missed deadline")
    overdue: bool
    routed_on: date
    created_at: datetime
    updated_at: datetime


View = Literal["incoming", "outgoing", "supervised"]


class RequestFilter(Schema):
    view: View = Field(
        "incoming",
        description="incoming: the caller's courts are the target; outgoing: the requester; "
        "supervised: the supervisor",
    )
    status: str | None = Field(None, max_length=200, description="a status or a comma-separated list")
    matter: str | None = Field(None, max_length=400, description="a matter type or a comma-separated list")
    region: str | None = Field(
        None, pattern=r"^[0-9]{1,6}$", description="region code prefix of the location"
    )
    overdue: bool | None = Field(None, description="true: only requests with a missed or ended deadline")
    q: str | None = Field(
        None, min_length=1, max_length=64, description="part of the case number, or a request id"
    )


class RequestListQuery(RequestFilter, PageQuery):
    pass


class MatterRead(Schema):
    matter_type: MatterType
    name: str = Field(description="the Chinese name")
    name_en: str = Field(description="the English name, for pages shown in English")
    required_materials: list[MaterialRead]
    needs_freeze_expiry: bool


class MattersRead(Schema):
    matters: list[MatterRead]
    materials: list[MaterialRead] = Field(description="every known material code")
