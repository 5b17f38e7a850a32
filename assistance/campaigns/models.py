"""Campaign tables: the campaign with its dispatch progress, its tasks, court notices and daily reports."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from assistance.campaigns.enums import CampaignStatus, TaskState
from command_center.db import UtcDateTime, as_utc, enum_type, utcnow  # noqa: F401 (as_utc re-exported)


def _timestamp(*, nullable: bool = True) -> sa.Column:
    return sa.Column(UtcDateTime(), nullable=nullable)


class Campaign(SQLModel, table=True):
    """A campaign and the state of its dispatch; the database is the only record of its progress.

    Dispatch walks the matching cases in case-id order. `checkpoint` is the last case id whose task
    is committed and `done` counts the cases up to it, both advanced in the batch's own transaction,
    so a dispatch that dies resumes after `checkpoint` without counting anything twice.
    `dispatch_job_id` is the fencing token: a dispatch job whose id is no longer this one stops.
    """

    __tablename__ = "campaign"
    __table_args__ = (
        # The reconciler's sweep finds campaigns by status; lists page by creator court, newest first.
        sa.Index("ix_campaign_status", "status"),
        sa.Index("ix_campaign_creator_court_id", "creator_court", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    creator_court: str = Field(sa_column=sa.Column(sa.String(6), sa.ForeignKey("court.code"), nullable=False))
    # The creating user's id (with `created_by`, the label the audit chain uses for them).
    creator_user_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    created_by: str = Field(sa_column=sa.Column(sa.String(80), nullable=False))  # principal label
    window_start: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    window_end: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    # As the creator gave them: categories, livelihood, region_prefixes, court_codes, filed_before, min_amount.
    criteria: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    # The criteria resolved against the court directory when the campaign was created: every court
    # whose cases it reaches, sorted; NULL when it reaches every court.
    target_courts: list[str] | None = Field(default=None, sa_column=sa.Column(sa.JSON, nullable=True))
    status: CampaignStatus = Field(
        default=CampaignStatus.draft,
        sa_column=sa.Column(enum_type(CampaignStatus, "campaign_status"), nullable=False),
    )
    total: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, default=0))
    done: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, default=0))
    checkpoint: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, default=0))
    # The highest case id when the dispatch started: cases filed later are not part of that dispatch.
    last_case_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer, nullable=True))
    dispatch_job_id: str | None = Field(default=None, sa_column=sa.Column(sa.String(100), nullable=True))
    dispatch_attempt: int = Field(default=0, sa_column=sa.Column(sa.Integer, nullable=False, default=0))
    # Written by every batch; a dispatching campaign whose heartbeat is old has lost its job.
    dispatch_heartbeat_at: datetime | None = Field(default=None, sa_column=_timestamp())
    dispatch_started_at: datetime | None = Field(default=None, sa_column=_timestamp())
    dispatch_finished_at: datetime | None = Field(default=None, sa_column=_timestamp())
    closed_at: datetime | None = Field(default=None, sa_column=_timestamp())
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))
    version: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False, default=1))


class CampaignTask(SQLModel, table=True):
    """One case's task in a campaign; the unique constraint makes a re-run of dispatch add nothing."""

    __tablename__ = "campaign_task"
    __table_args__ = (
        sa.UniqueConstraint("campaign_id", "case_id", name="uq_campaign_task_campaign_case"),
        # The daily report groups a campaign's tasks by court.
        sa.Index("ix_campaign_task_campaign_court", "campaign_id", "court_code"),
        sa.Index("ix_campaign_task_case", "case_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("campaign.id"), nullable=False))
    case_id: int = Field(
        sa_column=sa.Column(sa.Integer, sa.ForeignKey("enforcement_case.id"), nullable=False)
    )
    court_code: str = Field(sa_column=sa.Column(sa.String(6), nullable=False))
    state: TaskState = Field(
        default=TaskState.open,
        sa_column=sa.Column(enum_type(TaskState, "campaign_task_state"), nullable=False),
    )
    # What the case had recovered when its task was created: the report counts recoveries since then.
    amount_recovered_at_start: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))


class CampaignCourtNotice(SQLModel, table=True):
    """That a court was told about a campaign; the primary key makes it once per court."""

    __tablename__ = "campaign_court_notice"

    campaign_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("campaign.id"), primary_key=True))
    court_code: str = Field(sa_column=sa.Column(sa.String(6), sa.ForeignKey("court.code"), primary_key=True))
    notified_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))


class CampaignReport(SQLModel, table=True):
    """A campaign's situation report for one day (Asia/Shanghai), stored once."""

    __tablename__ = "campaign_report"
    __table_args__ = (sa.UniqueConstraint("campaign_id", "report_date", name="uq_campaign_report_day"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(sa_column=sa.Column(sa.Integer, sa.ForeignKey("campaign.id"), nullable=False))
    report_date: date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp(nullable=False))
