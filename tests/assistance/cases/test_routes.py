"""`/api/v1/cases` over HTTP: the wire contract, who reads ID numbers in full, errors remote systems see."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
import sqlalchemy as sa

from assistance.enums import MatterType, RequestStatus, Urgency
from assistance.requests.models import AssistanceRequest
from command_center.masking import mask_credit_code, mask_id_number

XIHU = "330106"
GONGSHU = "330105"
HANGZHOU = "330100"
CHAOYANG = "110105"
SPC = "000000"

CASE_KEYS = {
    "id", "case_number", "court", "category", "livelihood", "status", "priority", "amount_claimed",
    "amount_recovered", "filed_on", "officer_id", "applicant", "respondents", "deadline", "created_at",
}  # fmt: skip


@pytest.fixture
async def xihu_clerk(make_user, login) -> httpx.AsyncClient:
    return await login(await make_user("clerk", XIHU))


async def test_a_court_system_files_a_case_with_its_token_and_reads_the_contract(
    client: httpx.AsyncClient, make_token, case_body
) -> None:
    token = await make_token(XIHU)
    body = case_body(XIHU, category="wages", respondents=["person", "organization"])
    del body["court"]
    response = await client.post("/api/v1/cases", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 201, response.text
    case = response.json()
    assert set(case) == CASE_KEYS
    assert case["case_number"] == body["case_number"]
    assert case["court"] == {
        "code": XIHU,
        "name": "杭州市西湖区人民法院",
        "level": "basic",
        "superior_code": HANGZHOU,
        "case_prefix": "浙0106",
    }
    assert case["category"] == "wages" and case["livelihood"] is True
    assert (case["status"], case["priority"]) == ("open", "high")
    assert (case["amount_claimed"], case["amount_recovered"]) == (body["amount_claimed"], 0)
    assert case["filed_on"] == "2026-03-02"
    assert set(case["applicant"]) == {"id", "name", "kind", "id_number"}
    # The filing court's own system reads the ID numbers in full.
    assert case["applicant"]["id_number"] == body["applicant"]["id_number"]
    assert [(r["name"], r["kind"], r["id_number"]) for r in case["respondents"]] == [
        (r["name"], r["kind"], r["id_number"]) for r in body["respondents"]
    ]
    assert all(isinstance(r["id"], int) for r in case["respondents"])
    deadline = case["deadline"]
    assert isinstance(deadline.pop("id"), int) and "法释〔2011〕11号" in deadline.pop("rule")
    assert deadline == {
        "kind": "case",
        "started_on": "2026-03-02",
        "due_on": "2026-09-02",
        "state": "pending",
        "provisional": False,
        "ends_at": "2026-09-02T16:00:00Z",  # 24:00 Asia/Shanghai, written in UTC
    }


async def test_id_numbers_are_shown_in_full_to_the_filing_court_only(
    xihu_clerk, make_user, login, case_body
) -> None:
    body = case_body(XIHU, applicant="organization", respondents=["person"])
    created = (await xihu_clerk.post("/api/v1/cases", json=body)).json()
    url = f"/api/v1/cases/{created['id']}"
    person, organization = body["respondents"][0]["id_number"], body["applicant"]["id_number"]

    own = (await xihu_clerk.get(url)).json()
    assert own["respondents"][0]["id_number"] == person and own["applicant"]["id_number"] == organization

    supervisor = await login(await make_user("command_staff", HANGZHOU))
    response = await supervisor.get(url)
    assert response.status_code == 200
    seen = response.json()
    assert seen["respondents"][0]["id_number"] == mask_id_number(person)
    assert seen["respondents"][0]["id_number"] == person[:4] + "*" * 10 + person[-4:]
    assert seen["applicant"]["id_number"] == mask_credit_code(organization)

    neighbour = await login(await make_user("command_staff", GONGSHU))
    response = await neighbour.get(url)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_a_request_target_court_sees_the_case_but_masked(
    xihu_clerk, make_user, login, case_body, services
) -> None:
    created = (await xihu_clerk.post("/api/v1/cases", json=case_body(XIHU))).json()
    target = await login(await make_user("officer", CHAOYANG))
    url = f"/api/v1/cases/{created['id']}"
    assert (await target.get(url)).status_code == 404

    async with services.db.unit_of_work() as session:
        session.add(
            AssistanceRequest(
                case_id=created["id"], requesting_court=XIHU, target_court=CHAOYANG, supervising_court=SPC,
                matter_type=MatterType.locate_person, subject_id=created["respondents"][0]["id"],
                region_code=CHAOYANG, address="朝阳区某街道1号", urgency=Urgency.normal, description="查找被执行人",
                materials=["ruling", "assistance_notice"], status=RequestStatus.routed, created_by="user:clerk",
                routed_on=date(2026, 3, 3),
            )
        )  # fmt: skip
    response = await target.get(url)
    assert response.status_code == 200
    full = created["respondents"][0]["id_number"]
    assert response.json()["respondents"][0]["id_number"] == mask_id_number(full) != full


async def test_list_views_are_masked_even_for_the_filing_court(xihu_clerk, case_body) -> None:
    bodies = [case_body(XIHU, category=c) for c in ("wages", "loan", "work_injury")]
    for body in bodies:
        assert (await xihu_clerk.post("/api/v1/cases", json=body)).status_code == 201

    page = (await xihu_clerk.get("/api/v1/cases", params={"page_size": 2})).json()
    assert (page["total"], page["page"], page["page_size"]) == (3, 1, 2)
    assert [c["case_number"] for c in page["items"]] == [bodies[2]["case_number"], bodies[1]["case_number"]]
    for item, body in zip(page["items"], reversed(bodies), strict=False):
        assert item["applicant"]["id_number"] == mask_credit_code(body["applicant"]["id_number"])
        assert item["respondents"][0]["id_number"] == mask_id_number(body["respondents"][0]["id_number"])

    livelihood = (await xihu_clerk.get("/api/v1/cases", params={"livelihood": "true"})).json()
    assert {c["category"] for c in livelihood["items"]} == {"wages", "work_injury"}
    found = (await xihu_clerk.get("/api/v1/cases", params={"q": bodies[1]["case_number"]})).json()
    assert [c["category"] for c in found["items"]] == ["loan"]


async def test_a_bad_query_parameter_is_a_422(xihu_clerk) -> None:
    for params in ({"category": "tax"}, {"page": "0"}, {"colour": "red"}):
        response = await xihu_clerk.get("/api/v1/cases", params=params)
        assert response.status_code == 422, params


async def test_invalid_bodies_are_422_naming_the_field(xihu_clerk, case_body) -> None:
    cases = [
        ({"respondents": []}, "respondents"),
        ({"respondents": [{"name": "x", "kind": "person", "id_number": "x"}] * 51}, "respondents"),
        ({"amount_claimed": -1}, "amount_claimed"),
        ({"amount_claimed": 10**15 + 1}, "amount_claimed"),
        ({"amount_claimed": 12.5}, "amount_claimed"),
        ({"amount_claimed": "100"}, "amount_claimed"),
        ({"category": "tax"}, "category"),
        ({"filed_on": "2026-02-30"}, "filed_on"),
        ({"applicant": {"name": "", "kind": "person", "id_number": "11010519491231002X"}}, "applicant.name"),
        ({"applicant": {"name": "x", "kind": "robot", "id_number": "11010519491231002X"}}, "applicant.kind"),
        ({"unknown": 1}, "unknown"),
        ({"case_number": "(2026)浙0105执1号"}, "case_number"),
    ]
    for overrides, field in cases:
        response = await xihu_clerk.post("/api/v1/cases", json={**case_body(XIHU), **overrides})
        assert response.status_code == 422, (overrides, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert error["details"][0]["field"] == field, (overrides, error)
        assert error["message"].find(field) >= 0


async def test_a_wrong_check_digit_is_reported_on_the_wire(xihu_clerk, case_body, services) -> None:
    body = case_body(XIHU, respondents=2)
    good = body["respondents"][1]["id_number"]
    body["respondents"][1]["id_number"] = good[:17] + ("0" if good[17] != "0" else "1")
    async with services.db.unit_of_work() as session:
        before = await session.scalar(sa.text("SELECT count(*) FROM enforcement_case"))
    response = await xihu_clerk.post("/api/v1/cases", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        f"respondents[1].id_number: the check digit is wrong (expected {good[17]})"
    )
    async with services.db.unit_of_work() as session:
        assert await session.scalar(sa.text("SELECT count(*) FROM enforcement_case")) == before


async def test_a_duplicate_number_is_a_409_and_another_courts_filing_a_403(
    xihu_clerk, make_user, login, make_token, client, case_body
) -> None:
    body = case_body(XIHU)
    assert (await xihu_clerk.post("/api/v1/cases", json=body)).status_code == 201
    response = await xihu_clerk.post(
        "/api/v1/cases", json={**case_body(XIHU), "case_number": body["case_number"]}
    )
    assert response.status_code == 409
    assert response.json()["error"]["message"] == "a case with this number already exists"

    neighbour = await login(await make_user("clerk", GONGSHU))
    assert (await neighbour.post("/api/v1/cases", json=case_body(XIHU))).status_code == 403
    staff = await login(await make_user("command_staff", XIHU))
    assert (await staff.post("/api/v1/cases", json=case_body(XIHU))).status_code == 403
    token = await make_token(GONGSHU)
    response = await client.post(
        "/api/v1/cases", json=case_body(XIHU), headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 403


async def test_anonymous_callers_are_turned_away(client, case_body) -> None:
    assert (await client.get("/api/v1/cases")).status_code == 401
    assert (await client.post("/api/v1/cases", json=case_body(XIHU))).status_code == 401
    assert (await client.get("/api/v1/cases/1")).status_code == 401


async def test_the_case_routes_are_in_the_openapi_document(client) -> None:
    document = (await client.get("/openapi.json")).json()
    assert {"post", "get"} <= set(document["paths"]["/api/v1/cases"])
    assert "get" in document["paths"]["/api/v1/cases/{case_id}"]
