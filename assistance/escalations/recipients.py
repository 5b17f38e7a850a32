"""Who hears about a deadline reminder or an escalation. A security boundary.

Escalations about a request go to the rooms of the request itself (`assistance.requests.events`):
the requesting, target and supervising courts, the subtree rooms of each and of every court above them
(their command centers), and the request's room — never a court that cannot see the request.
Escalations about a case go to the case's court and the subtree rooms of it and its superiors.
A reminder goes only to the court that has to act, and to the request's room.

Payloads carry ids, codes, kinds and dates only: no party names, ID numbers, addresses or free text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistance.cases.service import case_rooms
from assistance.enums import DeadlineKind
from assistance.requests.events import involved_courts, request_rooms

if TYPE_CHECKING:
    from assistance.cases.models import EnforcementCase
    from assistance.requests.models import AssistanceRequest
    from command_center.courts.directory import CourtDirectory


def acting_court(kind: DeadlineKind | str, *, request: AssistanceRequest) -> str:
    """The court a request's clock binds: the requester for a supplement, the target court otherwise."""
    if DeadlineKind(kind) is DeadlineKind.supplement:
        return request.requesting_court
    return request.target_court


def request_escalation_rooms(directory: CourtDirectory, *, request: AssistanceRequest) -> list[str]:
    """The rooms that hear of an escalation (or missed deadline) on `request`."""
    assert request.id is not None
    return request_rooms(directory, request_id=request.id, courts=involved_courts(request))


def case_escalation_rooms(directory: CourtDirectory, *, case: EnforcementCase) -> list[str]:
    """The rooms that hear of an escalation on `case`: its court and the subtrees above it."""
    return case_rooms(directory, case.court_code)


def request_reminder_rooms(kind: DeadlineKind | str, *, request: AssistanceRequest) -> list[str]:
    """The rooms a reminder about `request` goes to: the court that must act, and the request's room."""
    return [f"court:{acting_court(kind, request=request)}", f"request:{request.id}"]


def case_reminder_rooms(*, case: EnforcementCase) -> list[str]:
    """The room a reminder about a case's six-month clock goes to: the case's court."""
    return [f"court:{case.court_code}"]
