"""A request's thread: messages between the requesting court, the target court and the supervisors.

Anyone whose court may see the request may read and post (the requester's, the target's and the
supervisor's scopes). Each court keeps one read mark per thread (read receipts per court), which only
ever moves forward. Posting is audited without the message text; the live event carries the text
masked, so ID numbers, accounts and phone numbers never leave the database in the clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, Field, field_validator

from assistance.requests.models import AssistanceRequest, MessageRead, RequestMessage
from assistance.requests.queries import SUBJECT_TYPE, get_visible_request
from command_center.api import Schema
from command_center.audit import service as audit
from command_center.audit.models import as_utc
from command_center.db import utcnow
from command_center.errors import InvalidInput
from command_center.identity.models import User
from command_center.masking import mask_text
from command_center.outbox.service import record_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from command_center.courts.directory import CourtDirectory
    from command_center.identity.principal import Principal

MAX_BODY_LENGTH = 4000
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_MESSAGE = RequestMessage.__table__
_READ = MessageRead.__table__

UtcDatetime = Annotated[datetime, AfterValidator(as_utc)]


# --- schemas -------------------------------------------------------------------------------------


def clean_body(value: str) -> str:
    """The message text as stored: trimmed, 1..4000 characters, no NUL (PostgreSQL text refuses it)."""
    text = value.strip()
    if not text:
        raise ValueError("a message may not be empty")
    if len(text) > MAX_BODY_LENGTH:
        raise ValueError(
            f"a message may have at most {MAX_BODY_LENGTH} characters (this one has {len(text)})"
        )
    if "\x00" in text:
        raise ValueError("a message may not contain NUL characters")
    return text


class MessagePost(Schema):
    body: str = Field(description=f"the message, 1 to {MAX_BODY_LENGTH} characters after trimming")

    @field_validator("body")
    @classmethod
    def _clean(cls, value: str) -> str:
        return clean_body(value)


class MessagesQuery(Schema):
    after_id: int | None = Field(None, ge=0, description="return messages with a larger id (a cursor)")
    page_size: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="messages per page")


class MarkReadBody(Schema):
    last_message_id: int = Field(ge=1, description="the newest message the caller's court has read")


class RequestMessageRead(Schema):
    id: int
    request_id: int
    author: str
    author_name: str
    author_court: str
    body: str
    created_at: UtcDatetime


class MessagePageRead(Schema):
    """A page of a thread, oldest first, with how far each court has read it."""

    items: list[RequestMessageRead]
    total: int = Field(description="messages in the whole thread")
    page: int = Field(description="1-based page number of this slice at this page size")
    page_size: int
    next_after_id: int | None = Field(description="cursor for the next page; null on the last page")
    read: dict[str, int] = Field(description="court code -> id of the last message that court has read")


class ReadMarkRead(Schema):
    request_id: int
    court: str
    last_message_id: int
    read_at: UtcDatetime


# --- service -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageThread:
    items: list[RequestMessage]
    total: int
    page: int
    page_size: int
    next_after_id: int | None
    read: dict[str, int]


@dataclass(frozen=True, slots=True)
class ReadMark:
    request_id: int
    court: str
    last_message_id: int
    read_at: datetime
    advanced: bool  # False when the mark was already at or past the message named


def thread_rooms(request: AssistanceRequest) -> list[str]:
    """Who hears about a thread: its own room and the rooms of the three courts on the request.

    Narrower than a lifecycle event (no subtree rooms): command staff above the supervisor follow a
    thread by joining its request room, instead of every message reaching every command center up to
    the Supreme People's Court.
    """
    return [
        f"request:{request.id}",
        f"court:{request.requesting_court}",
        f"court:{request.target_court}",
        f"court:{request.supervising_court}",
    ]


async def _author_name(session: AsyncSession, principal: Principal) -> str:
    if principal.kind == "user":
        name = await session.scalar(sa.select(User.display_name).where(User.id == principal.id))
        if name:
            return name
    return principal.name


async def post_message(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    request_id: int,
    body: str,
) -> RequestMessage:
    """Adds a message to the thread; audits `assistance.message_posted` (no text) and emits
    `assistance:message_posted` (text masked) to the request's and its three courts' rooms."""
    try:
        text = clean_body(body)
    except ValueError as exc:
        raise InvalidInput(f"body: {exc}", details=[{"field": "body", "message": str(exc)}]) from None
    request = await get_visible_request(
        session, principal=principal, directory=directory, request_id=request_id
    )
    message = RequestMessage(
        request_id=request_id,
        author=principal.label[:80],  # the column's length; a token's name may be longer
        author_name=(await _author_name(session, principal))[:100],
        author_court=principal.court_code,
        body=text,
        created_at=utcnow(),
    )
    session.add(message)
    await session.flush()
    await record_event(
        session,
        name="assistance:message_posted",
        rooms=thread_rooms(request),
        payload={
            "request_id": request_id,
            "message_id": message.id,
            "author_court": message.author_court,
            "author_name": message.author_name,
            "body": mask_text(message.body),
            "created_at": message.created_at,
        },
    )
    # Last: the audit head stays locked until commit.
    await audit.record(
        session,
        action="assistance.message_posted",
        actor=principal,
        subject_type=SUBJECT_TYPE,
        subject_id=str(request_id),
        details={"message_id": message.id, "length": len(message.body)},
    )
    return message


async def list_messages(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    request_id: int,
    after_id: int | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> MessageThread:
    """Reads one page of the thread after the cursor, oldest first, and every court's read mark."""
    await get_visible_request(session, principal=principal, directory=directory, request_id=request_id)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    in_thread = _MESSAGE.c.request_id == request_id
    stmt = sa.select(RequestMessage).where(in_thread).order_by(_MESSAGE.c.id).limit(page_size)
    if after_id is not None:
        stmt = stmt.where(_MESSAGE.c.id > after_id)
    items = list((await session.execute(stmt)).scalars().all())
    counts = sa.select(
        sa.func.count(),
        sa.func.count().filter(_MESSAGE.c.id <= (after_id or 0)),
    ).where(in_thread)
    total, before = (await session.execute(counts)).one()
    marks = await session.execute(
        sa.select(_READ.c.court_code, _READ.c.last_read_message_id).where(_READ.c.request_id == request_id)
    )
    more = before + len(items) < total
    return MessageThread(
        items=items,
        total=total,
        page=before // page_size + 1,
        page_size=page_size,
        next_after_id=items[-1].id if items and more else None,
        read={row.court_code: row.last_read_message_id for row in marks},
    )


def _dialect_insert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


async def mark_read(
    session: AsyncSession,
    *,
    principal: Principal,
    directory: CourtDirectory,
    request_id: int,
    last_message_id: int,
) -> ReadMark:
    """Moves the caller's court's read mark forward to `last_message_id` (never backwards); emits
    `assistance:thread_read` to the request's room when it moved."""
    await get_visible_request(session, principal=principal, directory=directory, request_id=request_id)
    exists = await session.scalar(
        sa.select(_MESSAGE.c.id).where(_MESSAGE.c.id == last_message_id, _MESSAGE.c.request_id == request_id)
    )
    if exists is None:
        message = f"Message {last_message_id} is not in the thread of request {request_id}."
        raise InvalidInput(message, details=[{"field": "last_message_id", "message": message}])
    court, now = principal.court_code, utcnow()
    insert = _dialect_insert(session)
    stmt = insert(_READ).values(
        request_id=request_id, court_code=court, last_read_message_id=last_message_id, read_at=now
    )
    # One statement, so two readers of the same court racing cannot move the mark backwards: the
    # conditional upsert only ever raises it, and RETURNING yields a row only when it did.
    stmt = stmt.on_conflict_do_update(
        index_elements=[_READ.c.request_id, _READ.c.court_code],
        set_={"last_read_message_id": stmt.excluded.last_read_message_id, "read_at": stmt.excluded.read_at},
        where=_READ.c.last_read_message_id < stmt.excluded.last_read_message_id,
    ).returning(_READ.c.last_read_message_id)
    advanced = (await session.execute(stmt)).first() is not None
    current = (
        await session.execute(
            sa.select(_READ.c.last_read_message_id, _READ.c.read_at).where(
                _READ.c.request_id == request_id, _READ.c.court_code == court
            )
        )
    ).one()
    if advanced:
        await record_event(
            session,
            name="assistance:thread_read",
            rooms=[f"request:{request_id}"],
            payload={
                "request_id": request_id,
                "court": court,
                "last_message_id": current.last_read_message_id,
            },
        )
    return ReadMark(
        request_id=request_id,
        court=court,
        last_message_id=current.last_read_message_id,
        read_at=as_utc(current.read_at),
        advanced=advanced,
    )
