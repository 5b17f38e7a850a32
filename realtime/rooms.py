"""Which socket.io rooms a caller may be in. A security boundary: every join, resume and presence query
asks `may_join` first, and nothing else decides.

Rooms (named by the outbox writers, see command_center.outbox):
- `court:<code>`    events of requests a court sent, received or supervises. A user or court system
                    may join its own court's room; command staff any court's room within their scope.
- `subtree:<code>`  events about every court below `<code>`: command staff only, for a court within
                    their scope (their own command center's subtree, or a part of it).
- `request:<id>`    one request's events and thread: whoever may see the request (the requesting,
                    target and supervising courts' scopes, `visibility.can_see_request`).
- `campaign:<id>`   one campaign's progress: whoever may see the campaign (the creator court's scope
                    and the courts it notified, `assistance.campaigns.service.can_see`).
- `user:<id>`       one user's own notifications: that user only.

Anything else (an unknown kind, a malformed id, an unknown court) is refused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from command_center.errors import NotFound
from command_center.identity.principal import Principal, Role
from command_center.identity.visibility import court_scope

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from command_center.courts.directory import CourtDirectory

ROOM_PATTERN = re.compile(r"^(court|subtree|request|campaign|user):([0-9]{1,12})$")
COURT_CODE = re.compile(r"^[0-9]{6}$")
MAX_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Room:
    kind: str  # court, subtree, request, campaign, user
    key: str  # the court code or the numeric id

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.key}"


def parse_room(name: object) -> Room | None:
    """The room named `name`, or None when it is not a well-formed room name."""
    if not isinstance(name, str):
        return None
    match = ROOM_PATTERN.match(name)
    if match is None:
        return None
    kind, key = match.groups()
    if kind in ("court", "subtree"):
        return Room(kind, key) if COURT_CODE.match(key) else None
    # Ids in canonical form ("request:5", never "request:05": that would be another socket.io room)
    # and within the database's integer range.
    if key.startswith("0") or int(key) > MAX_ID:
        return None
    return Room(kind, key)


def automatic_rooms(principal: Principal) -> list[str]:
    """The rooms a client enters on connect: its court, its subtree (command staff), itself (users)."""
    rooms = [f"court:{principal.court_code}"]
    if is_command_staff(principal):
        rooms.append(f"subtree:{principal.court_code}")
    if principal.kind == "user":
        rooms.append(f"user:{principal.id}")
    return rooms


def is_command_staff(principal: Principal) -> bool:
    return principal.kind == "user" and principal.role == Role.command_staff


async def may_join(session: AsyncSession, principal: Principal, directory: CourtDirectory, room: str) -> bool:
    """True when `principal` may be in `room` (see the module docstring); reads, never writes."""
    return (await refusal(session, principal, directory, room)) is None


async def refusal(
    session: AsyncSession, principal: Principal, directory: CourtDirectory, room: str
) -> str | None:
    """Why `principal` may not be in `room`, or None when it may (`may_join` with a reason)."""
    parsed = parse_room(room)
    if parsed is None:
        return "not a room name: use court:<code>, subtree:<code>, request:<id>, campaign:<id> or user:<id>"
    scope = court_scope(principal, directory)
    if parsed.kind == "court":
        if parsed.key == principal.court_code and parsed.key in directory:
            return None
        if is_command_staff(principal) and scope.includes(parsed.key):
            return None
        return "this court's room is outside your court's scope"
    if parsed.kind == "subtree":
        if is_command_staff(principal) and scope.includes(parsed.key):
            return None
        return "subtree rooms are for command staff of that court or a court above it"
    if parsed.kind == "user":
        if principal.kind == "user" and parsed.key == str(principal.id):
            return None
        return "a user's room is for that user only"
    if parsed.kind == "request":
        return await _request_refusal(session, principal, directory, int(parsed.key))
    return await _campaign_refusal(session, principal, directory, int(parsed.key))


async def _request_refusal(
    session: AsyncSession, principal: Principal, directory: CourtDirectory, request_id: int
) -> str | None:
    get_visible_request = _visible_request_lookup()
    try:
        await get_visible_request(session, principal=principal, directory=directory, request_id=request_id)
    except NotFound:
        # The same answer for "no such request" and "not yours": a refusal must not reveal which.
        return "no such request visible to your court"
    return None


def _visible_request_lookup():  # type: ignore[no-untyped-def]
    """The assistance service's visibility-checked lookup (it raises NotFound for invisible requests)."""
    try:
        from assistance.requests.service import get_visible_request
    except ImportError:
        from assistance.requests.messages import get_visible_request
    return get_visible_request


async def _campaign_refusal(
    session: AsyncSession, principal: Principal, directory: CourtDirectory, campaign_id: int
) -> str | None:
    try:
        from assistance.campaigns.service import get_visible
    except ImportError:
        return "campaigns are not available"
    try:
        # Visible to the creator court's scope and to the courts the campaign notified.
        await get_visible(session, campaign_id=campaign_id, principal=principal, directory=directory)
    except NotFound:
        return "no such campaign visible to your court"
    return None
