"""Request and response schemas of `/api/v1/campaigns`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import ConfigDict, Field, StringConstraints

from assistance.campaigns.enums import CampaignStatus, ReportFormat
from assistance.enums import LIVELIHOOD_CATEGORIES, CaseCategory
from command_center.api import PageQuery, Schema

RegionPrefix = Annotated[str, StringConstraints(pattern=r"^[0-9]{2}(?:[0-9]{2}){0,2}$")]
CourtCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
MAX_AMOUNT_FEN = 10**15


class CampaignCriteria(Schema):
    """Which cases a campaign reaches: open cases matching every criterion given (an empty list: any)."""

    categories: list[CaseCategory] = Field(
        default_factory=list,
        max_length=len(CaseCategory),
        description="case categories (empty: every category)",
    )
    livelihood: bool = Field(
        False,
        description='the "livelihood" preset: adds wages, alimony_support, medical_malpractice and work_injury',
    )
    region_prefixes: list[RegionPrefix] = Field(
        default_factory=list,
        max_length=100,
        description="GB/T 2260 code prefixes (2, 4 or 6 digits) of the courts reached, within the creator's subtree",
    )
    court_codes: list[CourtCode] = Field(
        default_factory=list, max_length=500, description="courts reached, within the creator's subtree"
    )
    filed_before: date | None = Field(None, description="only cases filed before this day")
    min_amount: int | None = Field(
        None, ge=0, le=MAX_AMOUNT_FEN, description="only cases claiming at least this amount, in fen"
    )

    def effective_categories(self) -> frozenset[CaseCategory]:
        """The categories reached; empty means every category."""
        chosen = set(self.categories)
        if self.livelihood:
            chosen |= LIVELIHOOD_CATEGORIES
        return frozenset() if chosen >= set(CaseCategory) else frozenset(chosen)


class CampaignCreate(Schema):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    window_start: date = Field(description="first day of the campaign (Asia/Shanghai)")
    window_end: date = Field(description="last day of the campaign (Asia/Shanghai)")
    criteria: CampaignCriteria = Field(default_factory=CampaignCriteria)


class CampaignListQuery(PageQuery):
    status: CampaignStatus | None = Field(None, description="only campaigns in this status")


class CampaignProgress(Schema):
    campaign_id: int
    status: CampaignStatus
    total: int = Field(description="matching cases when the dispatch started")
    done: int = Field(description="cases whose task is committed")
    percent: float = Field(description="done / total, 0 to 100")
    job_id: str | None = Field(description="id of the dispatch job currently responsible")
    started_at: datetime | None
    finished_at: datetime | None


class CampaignRead(Schema):
    id: int
    name: str
    creator_court: str
    creator_court_name: str | None
    created_by: str
    window_start: date
    window_end: date
    criteria: CampaignCriteria
    target_courts: list[str] | None = Field(description="the courts the criteria reach (null: every court)")
    status: CampaignStatus
    progress: CampaignProgress
    closed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    version: int


class CourtCaseCount(Schema):
    court_code: str
    court_name: str | None
    cases: int


class CampaignPreviewRead(Schema):
    campaign_id: int
    total: int = Field(description="open cases matching the criteria now")
    courts: list[CourtCaseCount]


class ReportFigures(Schema):
    tasks: int
    concluded: int = Field(description="tasks whose case has left `open` (concluded or terminated)")
    amount_recovered: int = Field(
        description="recovered on the campaign's cases since their task was created, fen"
    )
    overdue: int = Field(
        description="open tasks whose case has a missed deadline, or all open tasks once the window has ended"
    )


class CourtReportRow(ReportFigures):
    court_code: str
    court_name: str | None


class CampaignReportRead(Schema):
    campaign_id: int
    campaign_name: str
    report_date: date
    generated_at: datetime
    live: bool = Field(description="true: computed now, not a stored daily report")
    totals: ReportFigures
    courts: list[CourtReportRow]


class CampaignReportQuery(Schema):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    format: ReportFormat = Field(ReportFormat.json, description="json, or csv (UTF-8 with BOM, for Excel)")
    report_date: date | None = Field(
        None, alias="date", description="the stored daily report of this day; default: the latest one"
    )
