"""`/api/v1/courts` (the directory), `/api/v1/routing/preview` (where a request would go) and
`/api/v1/regions/suggest` (which county an address names)."""

from __future__ import annotations

from command_center.api import Call, Page, Router
from command_center.courts import service
from command_center.courts.models import (
    CourtListQuery,
    CourtRead,
    RoutingPreviewQuery,
    RoutingPreviewRead,
)
from command_center.courts.regions import RegionSuggestion, RegionSuggestQuery, suggest_region
from command_center.courts.routing import route
from command_center.errors import NotFound

router = Router(prefix="/api/v1", tags=["courts"])


@router.get(
    "/courts",
    summary="List active courts by code; search by Chinese name, code or case prefix",
    query=CourtListQuery,
    response=Page[CourtRead],
    auth=True,
)
async def list_courts(call: Call) -> Page[CourtRead]:
    q: CourtListQuery = call.query
    async with call.services.db.unit_of_work() as session:
        courts, total = await service.list_courts(
            session, q=q.q, level=q.level, region=q.region, page=q.page, page_size=q.page_size
        )
        items = [CourtRead.model_validate(court) for court in courts]
    return Page[CourtRead](items=items, total=total, page=q.page, page_size=q.page_size)


@router.get("/courts/{code}", summary="One court by its code", response=CourtRead, auth=True)
async def get_court(call: Call) -> CourtRead:
    code = call.path["code"]
    async with call.services.db.unit_of_work() as session:
        court = await service.get(session, code=code)
        if court is None:
            raise NotFound(f"No court with code {code!r} in the court directory.", details={"code": code})
        return CourtRead.model_validate(court)


@router.get(
    "/routing/preview",
    summary="Which court would handle work at a location, and which court would supervise it",
    query=RoutingPreviewQuery,
    response=RoutingPreviewRead,
    auth=True,
    extra_responses={404: "no such court in the directory"},
)
async def preview_routing(call: Call) -> RoutingPreviewRead:
    q: RoutingPreviewQuery = call.query
    decision = route(
        call.services.directory, from_court=q.from_court or call.user.court_code, region_code=q.region
    )
    return RoutingPreviewRead(
        target=CourtRead.model_validate(decision.target),
        supervisor=CourtRead.model_validate(decision.supervisor),
    )


@router.get(
    "/regions/suggest",
    summary="The province, city and county a free-text address names (full or short names), "
    "as court codes for the region picker; null where the address does not tell",
    query=RegionSuggestQuery,
    response=RegionSuggestion,
    auth=True,
)
async def suggest_regions(call: Call) -> RegionSuggestion:
    q: RegionSuggestQuery = call.query
    return suggest_region(call.services.directory, q.address)
