"""The wire contract of `/api/v1/cases`: what a court system sends and what it reads back.

Remote court systems depend on these shapes; fields may be added, never renamed or removed.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from assistance.enums import CaseCategory, CasePriority, CaseStatus, DeadlineKind, DeadlineState, PartyKind
from command_center.api import PageQuery, Schema
from command_center.courts.models import CourtRead

MAX_RESPONDENTS = 50
MAX_AMOUNT = 10**15  # fen: ten trillion yuan, far above any claim

PartyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class PartyCreate(Schema):
    name: PartyName = Field(description="full name of the person or organization")
    kind: PartyKind = Field(description="person (resident ID number) or organization (credit code)")
    id_number: str = Field(
        min_length=1,
        max_length=32,
        description="18-character resident ID number (GB 11643) for a person, "
        "unified social credit code (GB 32100) for an organization",
    )


class CaseCreate(Schema):
    case_number: str = Field(
        min_length=1,
        max_length=64,
        description="e.g. (2026)浙0106执1234号; full-width parentheses are accepted and stored as ASCII",
    )
    court: str | None = Field(
        None, pattern=r"^[0-9]{6}$", description="filing court's code; default: the caller's court"
    )
    category: CaseCategory
    applicant: PartyCreate
    respondents: list[PartyCreate] = Field(min_length=1, max_length=MAX_RESPONDENTS)
    amount_claimed: int = Field(ge=0, le=MAX_AMOUNT, strict=True, description="amount claimed in fen")
    filed_on: date = Field(description="date the filing court accepted the case; not in the future")
    officer_id: int | None = Field(None, ge=1, description="the enforcement officer assigned (a user id)")


class PartyRead(Schema):
    id: int
    name: str
    kind: PartyKind
    id_number: str = Field(
        description="in full for the filing court only; masked (3301**********1234) otherwise"
    )


class CaseDeadlineRead(Schema):
    """The case clock; the same fields as a request's deadlines."""

    id: int
    kind: DeadlineKind
    started_on: date = Field(description="the filing date, which the period runs from (not counted)")
    due_on: date = Field(description="the last day of the period, after moving past rest days")
    ends_at: datetime = Field(description="the instant the period is over: 24:00 Asia/Shanghai of due_on")
    state: DeadlineState
    provisional: bool = Field(description="computed for a year without an official holiday schedule")
    rule: str


class CaseRead(Schema):
    id: int
    case_number: str
    court: CourtRead
    category: CaseCategory
    livelihood: bool = Field(description="wages, alimony/support, medical malpractice or work injury")
    status: CaseStatus
    priority: CasePriority
    amount_claimed: int = Field(description="fen")
    amount_recovered: int = Field(description="fen")
    filed_on: date
    officer_id: int | None
    applicant: PartyRead
    respondents: list[PartyRead]
    deadline: CaseDeadlineRead | None = Field(description="the six-month case clock (法释〔2011〕11号)")
    created_at: datetime


class CaseListQuery(PageQuery):
    q: str | None = Field(
        None, min_length=1, max_length=64, description="part of the case number or of a party's name"
    )
    category: CaseCategory | None = None
    livelihood: bool | None = Field(None, description="true: livelihood categories only; false: the others")
    status: CaseStatus | None = None
