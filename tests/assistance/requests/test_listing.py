"""The list views (incoming, outgoing, supervised), their filters, stable paging, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import pytest

from assistance.requests import queries
from assistance.requests.export import check_export_size, csv_chunks
from assistance.requests.schemas import RequestFilter
from command_center.calendar.periods import SHANGHAI
from command_center.db import utcnow
from command_center.errors import InvalidInput
from tests.assistance.requests.conftest import ABOVE, REQUESTER, SUPERVISOR, TARGET, UNRELATED

BASE = "/api/v1/assistance-requests"
LONG_AGO = datetime(2026, 1, 5, 10, tzinfo=SHANGHAI)  # every clock from then has long ended


@pytest.fixture
async def spread(submit: Any, act: Any, make_case: Any, principal_of: Any) -> dict[str, Any]:
    """Requests from 330106: two freezes at 330102 (one overdue, one filed), a search at 330108, one
    across the province to 330206, and one from 330102 back to 330106."""
    recent = utcnow()
    overdue = await submit(now=LONG_AGO)
    filed = await submit(now=recent)
    await act(filed.id, "file", now=recent)
    search = await submit(
        now=recent,
        matter_type="investigate_property",
        materials=["commission_letter", "judgment"],
        location={"region_code": "330108", "address": "滨江区江南大道1号"},
    )
    ningbo = await submit(now=recent, location={"region_code": "330206", "address": "北仑区新碶街道"})
    reverse = await submit(
        case=await make_case(TARGET),
        principal=principal_of(TARGET),
        now=recent,
        location={"region_code": REQUESTER, "address": "西湖区文三路1号"},
    )
    return {"overdue": overdue, "filed": filed, "search": search, "ningbo": ningbo, "reverse": reverse}


async def _ids(session: Any, principal: Any, directory: Any, **filters: Any) -> list[int]:
    items, total = await queries.list_requests(
        session, principal=principal, directory=directory, filters=RequestFilter(**filters), page_size=200
    )
    assert total == len(items)
    return [item.id for item in items]


async def test_views_select_by_the_callers_role_in_the_request(
    spread: dict[str, Any], session: Any, court_directory: Any, principal_of: Any
) -> None:
    s = spread
    requester, target = principal_of(REQUESTER), principal_of(TARGET)
    assert await _ids(session, requester, court_directory, view="outgoing") == sorted(
        [s["overdue"].id, s["filed"].id, s["search"].id, s["ningbo"].id], reverse=True
    )
    assert await _ids(session, requester, court_directory, view="incoming") == [s["reverse"].id]
    assert await _ids(session, target, court_directory) == [
        s["filed"].id,
        s["overdue"].id,
    ]  # default: incoming
    assert await _ids(session, target, court_directory, view="outgoing") == [s["reverse"].id]
    supervisor = principal_of(SUPERVISOR, "command_staff")
    assert await _ids(session, supervisor, court_directory, view="supervised") == sorted(
        [s["overdue"].id, s["filed"].id, s["search"].id, s["reverse"].id], reverse=True
    )
    # Command staff of the high court see their whole subtree: the Ningbo request too.
    province = principal_of(ABOVE, "command_staff")
    assert s["ningbo"].id in await _ids(session, province, court_directory, view="supervised")
    assert (
        await _ids(session, principal_of(UNRELATED, "command_staff"), court_directory, view="supervised")
        == []
    )


async def test_filters_narrow_a_view(
    spread: dict[str, Any], session: Any, court_directory: Any, principal_of: Any
) -> None:
    s, requester = spread, principal_of(REQUESTER)

    async def ids(**filters: Any) -> list[int]:
        return await _ids(session, requester, court_directory, view="outgoing", **filters)

    assert await ids(status="filed") == [s["filed"].id]
    assert await ids(status="filed,routed") == sorted(
        [s["overdue"].id, s["filed"].id, s["search"].id, s["ningbo"].id], reverse=True
    )
    assert await ids(matter="investigate_property") == [s["search"].id]
    assert await ids(region="330108") == [s["search"].id]
    assert await ids(region="3302") == [s["ningbo"].id]
    assert await ids(overdue=True) == [s["overdue"].id]
    assert s["overdue"].id not in await ids(overdue=False)
    # A number finds the request with that id, and any whose case number contains it.
    by_id = await ids(q=str(s["search"].id))
    assert s["search"].id in by_id
    items, _ = await queries.list_requests(
        session, principal=requester, directory=court_directory, filters=RequestFilter(view="outgoing")
    )
    assert set(by_id) == {
        item.id for item in items if item.id == s["search"].id or str(s["search"].id) in item.case_number
    }
    case_number = next(item.case_number for item in items if item.id == s["ningbo"].id)
    assert await ids(q=case_number) == [s["ningbo"].id]


async def test_an_unknown_status_filter_is_a_422_naming_it(
    session: Any, court_directory: Any, principal_of: Any
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await _ids(session, principal_of(REQUESTER), court_directory, status="routed,lost")
    assert caught.value.details[0]["field"] == "status"


async def test_pages_are_stable_and_newest_first(
    submit: Any, session: Any, court_directory: Any, principal_of: Any
) -> None:
    made = [await submit() for _ in range(5)]
    target = principal_of(TARGET)
    pages = []
    for page in (1, 2, 3):
        items, total = await queries.list_requests(
            session,
            principal=target,
            directory=court_directory,
            filters=RequestFilter(),
            page=page,
            page_size=2,
        )
        assert total == 5
        pages.append([item.id for item in items])
    assert pages == [[made[4].id, made[3].id], [made[2].id, made[1].id], [made[0].id]]


async def test_list_items_mask_the_subject_even_for_the_filing_court(
    submit: Any, make_case: Any, session: Any, court_directory: Any, principal_of: Any
) -> None:
    case = await make_case(REQUESTER)
    await submit(case=case)
    items, _ = await queries.list_requests(
        session,
        principal=principal_of(REQUESTER),
        directory=court_directory,
        filters=RequestFilter(view="outgoing"),
    )
    full = case.respondents[0].id_number
    assert items[0].subject.id_number == full[:4] + "*" * 10 + full[-4:]


async def test_list_over_http_pages_and_flags_overdue(
    spread: dict[str, Any], client: Any, make_token: Any
) -> None:
    headers = {"Authorization": f"Bearer {await make_token(REQUESTER)}"}
    response = await client.get(BASE, params={"view": "outgoing", "page_size": 3}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["total"], body["page"], body["page_size"], len(body["items"])) == (4, 1, 3, 3)
    overdue = await client.get(BASE, params={"view": "outgoing", "overdue": "true"}, headers=headers)
    [item] = overdue.json()["items"]
    assert item["id"] == spread["overdue"].id
    assert item["overdue"] is True
    assert item["next_deadline"]["kind"] == "file"
    assert (await client.get(BASE, params={"view": "sideways"}, headers=headers)).status_code == 422


async def test_csv_export_has_a_bom_a_header_and_masked_id_numbers(
    spread: dict[str, Any], client: Any, make_token: Any
) -> None:
    headers = {"Authorization": f"Bearer {await make_token(REQUESTER)}"}
    # The list's own query string works: paging is ignored, the export holds the whole view.
    params = {"view": "outgoing", "page": 2, "page_size": 1}
    response = await client.get(f"{BASE}/export.csv", params=params, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text[1:])))
    assert [int(row["id"]) for row in rows] == sorted(
        [r.id for k, r in spread.items() if k != "reverse"], reverse=True
    )
    assert all("**********" in row["subject_id_number"] for row in rows)
    assert {row["overdue"] for row in rows} == {"yes", "no"}
    assert rows[0]["requesting_court_name"] == "杭州市西湖区人民法院"


async def test_export_refuses_a_view_larger_than_the_cap(
    submit: Any, session: Any, court_directory: Any, principal_of: Any
) -> None:
    for _ in range(3):
        await submit()
    with pytest.raises(InvalidInput) as caught:
        await check_export_size(
            session,
            principal=principal_of(TARGET),
            directory=court_directory,
            filters=RequestFilter(),
            now=utcnow(),
            max_rows=2,
        )
    assert caught.value.code == "export_too_large"
    assert caught.value.details == {"rows": 3, "max_rows": 2}


async def test_export_streams_every_row_in_batches(
    submit: Any, test_db: Any, court_directory: Any, principal_of: Any
) -> None:
    made = [await submit() for _ in range(5)]
    chunks = [
        chunk
        async for chunk in csv_chunks(
            test_db,
            principal=principal_of(TARGET),
            directory=court_directory,
            filters=RequestFilter(),
            now=utcnow() + timedelta(days=1),
            batch_size=2,
        )
    ]
    assert len(chunks) == 1 + 3  # header, then batches of 2, 2, 1
    rows = list(csv.reader(io.StringIO("".join(chunks)[1:])))
    assert [int(row[0]) for row in rows[1:]] == [r.id for r in reversed(made)]
