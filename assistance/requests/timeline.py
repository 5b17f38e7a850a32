"""A request's timeline, read from the audit chain: every action, message and document, oldest first.

The audit chain is the record of what happened, so the timeline cannot disagree with it. Details
were masked when each entry was written; they are shown as stored. Refused look-ups by courts that may
not see the request (`access.denied`) stay in the chain for administrators but are not part of the
request's history, and would show the parties who else had tried to read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import Field

from assistance.requests.queries import SUBJECT_TYPE, get_visible_request
from command_center.api import Schema
from command_center.audit import service as audit

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from command_center.audit.models import AuditEntry
    from command_center.courts.directory import CourtDirectory
    from command_center.identity.principal import Principal


HIDDEN_ACTIONS = frozenset({"access.denied"})


class TimelineEntryRead(Schema):
    at: datetime
    actor: str = Field(description='who acted: "user:<username>", "token:<name>" or "system"')
    court: str | None = Field(description="the actor's court code")
    action: str = Field(description='e.g. "assistance.routed", "assistance.message_posted"')
    outcome: str = Field(description="success, failure or denied")
    details: dict[str, Any] = Field(description="what the act changed, personal data masked")


def timeline_entry(entry: AuditEntry) -> TimelineEntryRead:
    """The timeline's view of one audit entry."""
    return TimelineEntryRead(
        at=entry.at,
        actor=entry.actor,
        court=entry.actor_court,
        action=entry.action,
        outcome=entry.outcome,
        details=entry.details,
    )


async def list_timeline(
    session: AsyncSession, *, principal: Principal, directory: CourtDirectory, request_id: int
) -> list[AuditEntry]:
    """The audit entries about a request the caller may see, in chain order (oldest first), without
    refused look-ups."""
    await get_visible_request(session, principal=principal, directory=directory, request_id=request_id)
    entries = await audit.list_for_subject(session, subject_type=SUBJECT_TYPE, subject_id=str(request_id))
    return [entry for entry in entries if entry.action not in HIDDEN_ACTIONS]
