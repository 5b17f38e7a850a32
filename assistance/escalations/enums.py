"""The vocabulary of escalations, deadline firings and supervision orders."""

from __future__ import annotations

from enum import StrEnum


class EscalationKind(StrEnum):
    """What ran out: one kind per statutory clock (DESIGN.md §3)."""

    file_overdue = "file_overdue"  # 法释〔2011〕11号: file within 7 days of receipt
    start_overdue = "start_overdue"  # Civil Procedure Law, commissioned execution: start within 15 days
    report_overdue = "report_overdue"  # same article: not finished in 30 days → report progress
    supplement_overdue = "supplement_overdue"  # Beijing High Court opinion (2011): unanswered → withdrawn
    case_overdue = "case_overdue"  # 法释〔2011〕11号: 6 months → take-over or reassignment


class EscalationState(StrEnum):
    open = "open"
    resolved = "resolved"


class FiringPurpose(StrEnum):
    """Why a deadline job ran: the reminder before the end, or the end itself."""

    reminder = "reminder"
    due = "due"


class SupervisionOrderState(StrEnum):
    open = "open"
    closed = "closed"
