"""Who hears that a video session opened, went live or ended, and what they hear. A security boundary.

`session_rooms` picks the Socket.IO rooms: the host court's room and the subtree rooms of the host court
and of every court above it (their command centers watch their subtrees). Everyone who may be in those
rooms may see the session (`service._may_see`: the host court is within their scope); no other court's
room is ever named. Invitees hear of the session in their own user rooms (`video:invited`).

Payloads carry no personal data: ids, the host court, the state and times only (no topic, no names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from command_center.outbox.service import record_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from command_center.courts.directory import CourtDirectory
    from realtime.video.models import VideoSession

OPENED = "video:opened"  # created (state "scheduled") or gone live (state "live")
ENDED = "video:ended"


def session_rooms(directory: CourtDirectory, host_court: str) -> list[str]:
    """court:<host>, subtree:<host> and subtree:<each superior of the host>; empty for an unknown court."""
    if host_court not in directory:
        return []
    lineage = [host_court, *(superior.code for superior in directory.ancestors(host_court))]
    return [f"court:{host_court}", *(f"subtree:{code}" for code in lineage)]


def session_payload(video: VideoSession) -> dict[str, Any]:
    """What the host court's command chain hears about a session."""
    return {
        "session_id": video.id,
        "state": video.state,
        "host_court": video.host_court,
        "created_at": video.created_at,
        "started_at": video.started_at,
        "ended_at": video.ended_at,
    }


async def record_session_event(
    session: AsyncSession, *, directory: CourtDirectory, video: VideoSession, name: str
) -> None:
    """Writes `video:opened` or `video:ended` about `video` to the host court's command chain (outbox)."""
    if name not in (OPENED, ENDED):
        raise ValueError(f"not a video session event: {name!r}")
    await record_event(
        session, name=name, rooms=session_rooms(directory, video.host_court), payload=session_payload(video)
    )
