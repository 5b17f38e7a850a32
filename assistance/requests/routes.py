"""`/api/v1/assistance-requests`: submit, list, export, read, and act on assistance requests.

Remote court systems use the same endpoints with `Authorization: Bearer <API token>`.
"""

from __future__ import annotations

from typing import Any

from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response, StreamingResponse

from assistance.requests import actions
from assistance.requests.export import EXPORT_MAX_ROWS, check_export_size, csv_chunks
from assistance.requests.intake_batch import Intake, queue_for
from assistance.requests.lifecycle import ACTIONS, TRANSITIONS
from assistance.requests.materials import MATERIALS, MATTERS
from assistance.requests.queries import get_visible_request, list_requests, request_unit_of_work
from assistance.requests.reads import material_read, request_read
from assistance.requests.schemas import (
    ACTION_BODIES,
    MatterRead,
    MattersRead,
    RequestCreate,
    RequestFilter,
    RequestListItem,
    RequestListQuery,
    RequestRead,
)
from command_center.api import Call, Handler, Page, Router, json_response
from command_center.db import utcnow

router = Router(prefix="/api/v1", tags=["assistance requests"])
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Sub-resources of a request served by other routes (its thread, attachments and timeline).
_SUB_RESOURCES = ("messages", "attachments", "timeline")


class UnknownActionConvertor(Convertor[str]):
    """A path segment that is neither an action nor a sub-resource (so it never shadows their routes)."""

    regex = "(?!(?:" + "|".join((*ACTIONS, *_SUB_RESOURCES)) + ")$)[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("unknown_action", UnknownActionConvertor())


@router.get(
    "/assistance-matters",
    summary="The matter types and the materials each needs (codes with their Chinese and English names)",
    response=MattersRead,
)
async def list_matters(call: Call) -> MattersRead:
    return MattersRead(
        matters=[
            MatterRead(
                matter_type=matter,
                name=rule.names.zh,
                name_en=rule.names.en,
                required_materials=[material_read(code) for code in rule.required],
                needs_freeze_expiry=rule.renews_freeze,
            )
            for matter, rule in MATTERS.items()
        ],
        materials=[material_read(code) for code in MATERIALS],
    )


@router.post(
    "/assistance-requests",
    summary="Submit an assistance request on a case of the caller's court; it is routed at once. "
    "Send an Idempotency-Key header to make retries safe: a retry with the same key and body answers "
    "201 with the original request (header Idempotent-Replayed: true); another body with that key is a 409",
    body=RequestCreate,
    response=RequestRead,
    status=201,
)
async def submit_request(call: Call) -> Response:
    services, principal, data = call.services, call.user, call.body
    key = call.request.headers.get(IDEMPOTENCY_HEADER)
    # Concurrent submissions share a transaction (intake_batch); each is answered after it committed.
    submission = await queue_for(services.db, services.extras).submit(
        Intake(
            principal=principal,
            data=data,
            idempotency_key=key,
            directory=services.directory,
            calendar=services.calendar,
        )
    )
    read = submission.read
    headers = {"Location": f"/api/v1/assistance-requests/{read.id}"}
    if submission.replayed:
        headers["Idempotent-Replayed"] = "true"
    return json_response(read, status=submission.status, headers=headers)


@router.get(
    "/assistance-requests",
    summary="A list view, newest first: incoming (the caller's courts are the target), outgoing (the "
    "requester) or supervised (the supervisor); ID numbers masked",
    query=RequestListQuery,
    response=Page[RequestListItem],
)
async def list_assistance_requests(call: Call) -> Page[RequestListItem]:
    q: RequestListQuery = call.query
    async with call.services.db.unit_of_work(read_only=True) as session:
        items, total = await list_requests(
            session,
            principal=call.user,
            directory=call.services.directory,
            filters=q,
            page=q.page,
            page_size=q.page_size,
        )
    return Page[RequestListItem](items=items, total=total, page=q.page, page_size=q.page_size)


@router.get(
    "/assistance-requests/export.csv",
    summary=f"A list view as CSV (UTF-8 with BOM, ID numbers masked, at most {EXPORT_MAX_ROWS:,} rows); "
    "takes the list's filters (page and page_size are ignored: the export holds the whole view)",
    query=RequestListQuery,
    raw_response="text/csv",
)
async def export_assistance_requests(call: Call) -> Response:
    services, principal = call.services, call.user
    filters = RequestFilter.model_validate(call.query.model_dump(exclude={"page", "page_size"}))
    now = utcnow()
    async with services.db.unit_of_work(read_only=True) as session:
        await check_export_size(
            session, principal=principal, directory=services.directory, filters=filters, now=now
        )
    chunks = csv_chunks(
        services.db, principal=principal, directory=services.directory, filters=filters, now=now
    )
    filename = f"assistance-requests-{filters.view}-{now:%Y%m%d}.csv"
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
    )


@router.get(
    "/assistance-requests/{id:int}",
    summary="One request with its deadlines and the actions the caller may take now",
    response=RequestRead,
)
async def get_assistance_request(call: Call) -> RequestRead:
    services, principal = call.services, call.user
    async with request_unit_of_work(services, principal, read_only=True) as session:
        request = await get_visible_request(
            session, principal=principal, directory=services.directory, request_id=call.path["id"]
        )
        return await request_read(session, request=request, principal=principal, directory=services.directory)


_ACTION_SUMMARIES = {
    "file": "Target court: file the matter (clock: 7 days from routing)",
    "start": "Target court: start handling (clock: 15 days from routing)",
    "complete": "Target court: complete with the result text and result documents",
    "request_supplement": "Target court: ask the requesting court for missing materials (30 days to answer)",
    "supplement": "Requesting court: supply the materials asked for; the request returns where it was",
    "reject": "Target court: reject (wrong_jurisdiction, not_assistance_matter, materials_invalid)",
    "withdraw": "Requesting court: withdraw the request",
    "reroute": "Supervising command staff: send a rejected request to another court",
}


def _action_handler(action: str) -> Handler:
    async def handler(call: Call) -> RequestRead:
        services, principal = call.services, call.user
        async with request_unit_of_work(services, principal) as session:
            request = await actions.take_action(
                session,
                principal=principal,
                directory=services.directory,
                calendar=services.calendar,
                request_id=call.path["id"],
                action=action,
                data=call.body,
            )
            return await request_read(
                session, request=request, principal=principal, directory=services.directory
            )

    handler.__name__ = f"{action}_assistance_request"
    return handler


for _action in TRANSITIONS:
    router.post(
        f"/assistance-requests/{{id:int}}/{_action}",
        summary=f"{_ACTION_SUMMARIES[_action]}; body: the version last read (a stale one is a 409)",
        body=ACTION_BODIES[_action],
        response=RequestRead,
    )(_action_handler(_action))


@router.post(
    "/assistance-requests/{id:int}/{action:unknown_action}",
    summary=f"Any other action: 404 listing the actions ({', '.join(ACTIONS)})",
)
async def unknown_assistance_action(call: Call) -> Any:
    raise actions.unknown_action(call.path["action"])
