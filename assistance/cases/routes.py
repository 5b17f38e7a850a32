"""`/api/v1/cases`: file an enforcement case, list the cases of the caller's scope, read one case."""

from __future__ import annotations

from assistance.cases import service
from assistance.cases.disclosure import case_read, may_reveal_case_parties
from assistance.cases.schemas import CaseCreate, CaseListQuery, CaseRead
from command_center.api import Call, Page, Router

router = Router(prefix="/api/v1", tags=["cases"])


@router.post(
    "/cases",
    summary="File an enforcement case with its applicant, respondents and six-month case clock "
    "(clerks, officers, admins and court systems of the filing court)",
    body=CaseCreate,
    response=CaseRead,
    status=201,
)
async def create_case(call: Call) -> CaseRead:
    services, principal = call.services, call.user
    async with services.db.unit_of_work() as session:
        case = await service.create_case(
            session,
            principal=principal,
            directory=services.directory,
            calendar=services.calendar,
            data=call.body,
        )
        [record] = await service.records(session, cases=[case])
    return case_read(record, directory=services.directory, reveal=may_reveal_case_parties(principal, case))


@router.get(
    "/cases",
    summary="The cases filed in the caller's court scope, newest first; ID numbers masked",
    query=CaseListQuery,
    response=Page[CaseRead],
)
async def list_cases(call: Call) -> Page[CaseRead]:
    q: CaseListQuery = call.query
    directory = call.services.directory
    async with call.services.db.unit_of_work(read_only=True) as session:
        cases, total = await service.list_cases(
            session,
            principal=call.user,
            directory=directory,
            q=q.q,
            category=q.category,
            livelihood=q.livelihood,
            status=q.status,
            page=q.page,
            page_size=q.page_size,
        )
        found = await service.records(session, cases=cases)
    # List views never show ID numbers in full, not even to the filing court.
    items = [case_read(record, directory=directory, reveal=False) for record in found]
    return Page[CaseRead](items=items, total=total, page=q.page, page_size=q.page_size)


@router.get(
    "/cases/{case_id:int}",
    summary="One case; ID numbers in full for the filing court, masked for every other court that may see it",
    response=CaseRead,
)
async def get_case(call: Call) -> CaseRead:
    principal, directory = call.user, call.services.directory
    async with call.services.db.unit_of_work(read_only=True) as session:
        case = await service.get_visible_case(
            session, principal=principal, directory=directory, case_id=call.path["case_id"]
        )
        [record] = await service.records(session, cases=[case])
    return case_read(record, directory=directory, reveal=may_reveal_case_parties(principal, case))
