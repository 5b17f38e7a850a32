"""`/api/v1/escalations`: what missed deadlines set in motion, within the caller's courts."""

from __future__ import annotations

from assistance.escalations import service
from assistance.escalations.schemas import (
    EscalationDetail,
    EscalationListQuery,
    EscalationRead,
    EscalationResolve,
)
from command_center.api import Call, Page, Router

router = Router(prefix="/api/v1", tags=["escalations"])


@router.get(
    "/escalations",
    summary="Escalations of missed deadlines in the caller's courts (command staff: their subtree), newest first",
    query=EscalationListQuery,
    response=Page[EscalationRead],
)
async def list_escalations(call: Call) -> Page[EscalationRead]:
    q: EscalationListQuery = call.query
    async with call.services.db.unit_of_work(read_only=True) as session:
        found, total = await service.list_visible(
            session,
            principal=call.user,
            directory=call.services.directory,
            state=q.state,
            kind=q.kind,
            court=q.court,
            request_id=q.request_id,
            page=q.page,
            page_size=q.page_size,
        )
        items = await service.reads(session, escalations=found)
    return Page[EscalationRead](items=items, total=total, page=q.page, page_size=q.page_size)


@router.get(
    "/escalations/{escalation_id:int}",
    summary="One escalation with its supervision order; for a missed start, the bundle (timeline and "
    "documents) the requester takes to the superior court",
    response=EscalationDetail,
)
async def get_escalation(call: Call) -> EscalationDetail:
    async with call.services.db.unit_of_work(read_only=True) as session:
        escalation = await service.get_visible(
            session,
            principal=call.user,
            directory=call.services.directory,
            escalation_id=call.path["escalation_id"],
        )
        return await service.detail(session, escalation=escalation)


@router.post(
    "/escalations/{escalation_id:int}/resolve",
    summary="Resolve an open escalation and close its supervision order (command staff over the "
    "supervising court)",
    body=EscalationResolve,
    response=EscalationRead,
)
async def resolve_escalation(call: Call) -> EscalationRead:
    async with call.services.db.unit_of_work() as session:
        escalation = await service.resolve(
            session,
            principal=call.user,
            directory=call.services.directory,
            escalation_id=call.path["escalation_id"],
            note=call.body.note,
        )
        [read] = await service.reads(session, escalations=[escalation])
    return read
