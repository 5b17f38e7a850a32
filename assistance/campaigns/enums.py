"""The vocabulary of campaigns."""

from __future__ import annotations

from enum import StrEnum


class CampaignStatus(StrEnum):
    draft = "draft"  # defined, not yet sent to the courts
    dispatching = "dispatching"  # the dispatch job is walking the matching cases
    active = "active"  # every matching case has its task; the courts are working them
    cancelled = "cancelled"
    completed = "completed"  # the window has ended and the final report is stored

    @property
    def is_closed(self) -> bool:
        return self in (CampaignStatus.cancelled, CampaignStatus.completed)


class TaskState(StrEnum):
    open = "open"
    concluded = "concluded"  # the case left `open` (concluded or terminated) after the task was created


class ReportFormat(StrEnum):
    json = "json"
    csv = "csv"
