"""Who hears about an assistance request, and what they hear. A security boundary.

`request_rooms` picks the Socket.IO rooms an event about a request goes to: the court rooms of the
requesting, target and supervising courts (and of the previous target on a reroute, so the court that
lost the request sees it leave), the subtree room of each of those courts and of every court above them
(their command centers watch their subtrees), and the request's own room. No other court's room is ever
named: a court that cannot see the request cannot hear of it.

Payloads carry no personal data: no party names, ID numbers, addresses or free text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from assistance.requests.models import AssistanceRequest
from command_center.outbox.service import record_event

if TYPE_CHECKING:
    from command_center.courts.directory import CourtDirectory
    from command_center.outbox.models import OutboxEvent

EVENT_NAMES = (
    "assistance:routed",
    "assistance:filed",
    "assistance:started",
    "assistance:completed",
    "assistance:supplement_requested",
    "assistance:supplemented",
    "assistance:rejected",
    "assistance:withdrawn",
    "assistance:rerouted",
)


def request_rooms(
    directory: CourtDirectory,
    *,
    request_id: int,
    courts: Iterable[str],
) -> list[str]:
    """The rooms for an event about request `request_id` whose involved courts are `courts`:
    court:<c> for each, subtree:<a> for each and each of its superiors, and request:<id>; sorted."""
    rooms = {f"request:{request_id}"}
    for code in set(courts):
        if code not in directory:
            continue
        rooms.add(f"court:{code}")
        rooms.add(f"subtree:{code}")
        rooms.update(f"subtree:{superior.code}" for superior in directory.ancestors(code))
    return sorted(rooms)


def involved_courts(request: AssistanceRequest, *, previous_target: str | None = None) -> list[str]:
    """The courts that hear about `request`: requester, target, supervisor (and the previous target)."""
    courts = [request.requesting_court, request.target_court, request.supervising_court]
    if previous_target:
        courts.append(previous_target)
    return list(dict.fromkeys(courts))


def event_payload(
    request: AssistanceRequest, *, case_number: str, overdue: bool = False, **extra: Any
) -> dict[str, Any]:
    """What every event about a request says, without personal data."""
    return {
        "id": request.id,
        "status": request.status,
        "version": request.version,
        "matter_type": request.matter_type,
        "urgency": request.urgency,
        "requesting_court": request.requesting_court,
        "target_court": request.target_court,
        "supervising_court": request.supervising_court,
        "region_code": request.region_code,
        "case_number": case_number,
        "overdue": overdue,
        **extra,
    }


async def record_request_event(
    session: AsyncSession,
    *,
    directory: CourtDirectory,
    name: str,
    request: AssistanceRequest,
    case_number: str,
    previous_target: str | None = None,
    overdue: bool = False,
    **extra: Any,
) -> list[OutboxEvent]:
    """Writes event `name` about `request` to the outbox for every room that may hear of it."""
    if name not in EVENT_NAMES:
        raise ValueError(f"unknown assistance request event {name!r}")
    assert request.id is not None
    rooms = request_rooms(
        directory, request_id=request.id, courts=involved_courts(request, previous_target=previous_target)
    )
    payload = event_payload(request, case_number=case_number, overdue=overdue, **extra)
    if previous_target:
        payload["previous_target_court"] = previous_target
    return await record_event(session, name=name, rooms=rooms, payload=payload)
