"""`/api/v1/assistance-requests/{id}/messages`, `/attachments` and `/timeline`: following a request.

Every endpoint answers 404 for a request the caller's court may not see, exactly as for one that
does not exist; the attempt is audited as denied (`request_unit_of_work`).
"""

from __future__ import annotations

import logging

from starlette.responses import FileResponse

from assistance.requests import attachments, messages, timeline
from assistance.requests.attachments import AttachmentRead, AttachmentStore, attachment_read
from assistance.requests.messages import (
    MarkReadBody,
    MessagePageRead,
    MessagePost,
    MessagesQuery,
    ReadMarkRead,
    RequestMessageRead,
)
from assistance.requests.queries import request_unit_of_work
from assistance.requests.timeline import TimelineEntryRead, timeline_entry
from command_center.api import Call, Page, PageQuery, Router

log = logging.getLogger(__name__)
router = Router(prefix="/api/v1", tags=["assistance request threads"])
BASE = "/assistance-requests/{id:int}"


@router.get(
    BASE + "/messages",
    summary="Read a request's thread, oldest first, after a message id; with each court's read mark",
    query=MessagesQuery,
    response=MessagePageRead,
)
async def list_request_messages(call: Call) -> MessagePageRead:
    q: MessagesQuery = call.query
    async with request_unit_of_work(call.services, call.user, read_only=True) as session:
        thread = await messages.list_messages(
            session,
            principal=call.user,
            directory=call.services.directory,
            request_id=call.path["id"],
            after_id=q.after_id,
            page_size=q.page_size,
        )
        items = [RequestMessageRead.model_validate(m) for m in thread.items]
    return MessagePageRead(
        items=items,
        total=thread.total,
        page=thread.page,
        page_size=thread.page_size,
        next_after_id=thread.next_after_id,
        read=thread.read,
    )


@router.post(
    BASE + "/messages",
    summary="Post a message to a request's thread (courts that may see the request)",
    body=MessagePost,
    response=RequestMessageRead,
    status=201,
)
async def post_request_message(call: Call) -> RequestMessageRead:
    body: MessagePost = call.body
    async with request_unit_of_work(call.services, call.user) as session:
        message = await messages.post_message(
            session,
            principal=call.user,
            directory=call.services.directory,
            request_id=call.path["id"],
            body=body.body,
        )
        return RequestMessageRead.model_validate(message)


@router.post(
    BASE + "/messages/read",
    summary="Record how far the caller's court has read the thread (never moves backwards)",
    body=MarkReadBody,
    response=ReadMarkRead,
)
async def mark_request_thread_read(call: Call) -> ReadMarkRead:
    body: MarkReadBody = call.body
    async with request_unit_of_work(call.services, call.user) as session:
        mark = await messages.mark_read(
            session,
            principal=call.user,
            directory=call.services.directory,
            request_id=call.path["id"],
            last_message_id=body.last_message_id,
        )
    return ReadMarkRead(
        request_id=mark.request_id,
        court=mark.court,
        last_message_id=mark.last_message_id,
        read_at=mark.read_at,
    )


@router.post(
    BASE + "/attachments",
    summary="Upload a document (multipart/form-data: file, purpose = material|supplement|result|other); "
    "PDF, JPEG, PNG or OFD, judged by content; requesting and target court only",
    response=AttachmentRead,
    status=201,
    raw_body={
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "purpose"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "purpose": {"type": "string", "enum": ["material", "supplement", "result", "other"]},
                },
            }
        }
    },
    extra_responses={413: "File larger than the upload limit"},
)
async def upload_request_attachment(call: Call) -> AttachmentRead:
    services, request_id = call.services, call.path["id"]
    store = AttachmentStore.from_settings(services.settings)
    # Authorized before the body is read: bytes from a caller who may not upload never reach the disk.
    async with request_unit_of_work(services, call.user, read_only=True) as session:
        await attachments.ensure_may_upload(
            session, principal=call.user, directory=services.directory, request_id=request_id
        )
    staged = await attachments.receive_upload(
        content_type=call.request.headers.get("content-type"),
        content_length=call.request.headers.get("content-length"),
        stream=call.request.stream(),
        store=store,
        max_bytes=services.settings.max_upload_bytes,
    )
    try:
        async with request_unit_of_work(services, call.user) as session:
            attachment = await attachments.add_attachment(
                session,
                principal=call.user,
                directory=services.directory,
                request_id=request_id,
                upload=staged,
                store=store,
            )
            return attachment_read(attachment)
    finally:
        staged.discard()  # only still there when the unit of work failed before the move


@router.get(
    BASE + "/attachments",
    summary="List a request's documents, oldest first",
    query=PageQuery,
    response=Page[AttachmentRead],
)
async def list_request_attachments(call: Call) -> Page[AttachmentRead]:
    q: PageQuery = call.query
    async with request_unit_of_work(call.services, call.user, read_only=True) as session:
        rows, total = await attachments.list_attachments(
            session,
            principal=call.user,
            directory=call.services.directory,
            request_id=call.path["id"],
            page=q.page,
            page_size=q.page_size,
        )
        items = [attachment_read(a) for a in rows]
    return Page[AttachmentRead](items=items, total=total, page=q.page, page_size=q.page_size)


@router.get(
    BASE + "/attachments/{attachment_id:int}",
    summary="Download a document (courts that may see the request)",
    raw_response=tuple(attachments.EXTENSIONS),  # the type found in the file's bytes
)
async def download_request_attachment(call: Call) -> FileResponse:
    async with request_unit_of_work(call.services, call.user, read_only=True) as session:
        attachment = await attachments.get_attachment(
            session,
            principal=call.user,
            directory=call.services.directory,
            request_id=call.path["id"],
            attachment_id=call.path["attachment_id"],
        )
    path = AttachmentStore.from_settings(call.services.settings).path_for(attachment.sha256)
    if not path.is_file():
        log.error(
            "attachment %s of request %s: file %s is missing", attachment.id, attachment.request_id, path
        )
        raise RuntimeError("an attachment's file is missing from the store")
    return FileResponse(
        path,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": attachments.content_disposition(attachment.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@router.get(
    BASE + "/timeline",
    summary="A request's history from the audit chain, oldest first",
    response=list[TimelineEntryRead],
)
async def request_timeline(call: Call) -> list[TimelineEntryRead]:
    async with request_unit_of_work(call.services, call.user, read_only=True) as session:
        entries = await timeline.list_timeline(
            session,
            principal=call.user,
            directory=call.services.directory,
            request_id=call.path["id"],
        )
        return [timeline_entry(e) for e in entries]
