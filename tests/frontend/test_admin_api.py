"""The admin page's API: users of a court, calendar years, and who may do what (SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from command_center.audit.models import AuditEntry

PASSWORD = "a-long-enough-password"
YEAR_2031 = {
    "year": 2031,
    "holidays": {
        "2031-01-01": "元旦",
        "2031-10-01": "国庆节",
        "2031-10-02": "国庆节",
        "2031-10-03": "国庆节",
    },
    "workdays": {"2031-09-28": "国庆节"},
    "source": "国务院办公厅关于2031年部分节假日安排的通知",
}


async def audit_actions(services: Any, subject_type: str, subject_id: str) -> list[tuple[str, str, str]]:
    async with services.db.unit_of_work() as s:
        entries = await s.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject_type == subject_type, AuditEntry.subject_id == subject_id)
            .order_by(AuditEntry.seq)
        )
        return [(e.action, e.actor, e.outcome) for e in entries]


# --- listing -------------------------------------------------------------------------------------


async def test_a_court_admin_lists_the_users_of_their_court_only(login: Any, make_user: Any) -> None:
    admin = await make_user("admin", "330106")
    clerk = await make_user("clerk", "330106", display_name="西湖书记员")
    await make_user("clerk", "330105")
    browser = await login(admin)
    page = (await browser.get("/api/v1/users")).json()
    assert {u["username"] for u in page["items"]} == {admin.username, clerk.username}
    assert page["total"] == 2 and page["page"] == 1
    listed = next(u for u in page["items"] if u["id"] == clerk.id)
    assert listed == {
        "id": clerk.id,
        "username": clerk.username,
        "display_name": "西湖书记员",
        "role": "clerk",
        "court_code": "330106",
        "court_name": "杭州市西湖区人民法院",
        "active": True,
        "is_demo": False,
        "created_at": listed["created_at"],
    }
    assert listed["created_at"].endswith(("+00:00", "Z"))
    assert "password_hash" not in listed

    other = await browser.get("/api/v1/users", params={"court_code": "330105"})
    assert other.status_code == 403


async def test_an_spc_admin_lists_every_court_or_one(login: Any, make_user: Any) -> None:
    spc = await login(await make_user("admin", "000000"))
    xihu = await make_user("officer", "330106")
    gongshu = await make_user("clerk", "330105")
    everyone = {u["id"] for u in (await spc.get("/api/v1/users", params={"page_size": 200})).json()["items"]}
    assert {xihu.id, gongshu.id} <= everyone
    one = (await spc.get("/api/v1/users", params={"court_code": "330105"})).json()
    assert [u["id"] for u in one["items"]] == [gongshu.id]


async def test_users_filter_by_name_role_and_status_and_page(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "330106"))
    for n in range(3):
        await make_user("clerk", "330106", username=f"zhang_{n}", display_name=f"张三{n}")
    await make_user("officer", "330106", username="li_si", display_name="李四")
    by_name = (await browser.get("/api/v1/users", params={"q": "张三"})).json()
    assert [u["username"] for u in by_name["items"]] == ["zhang_0", "zhang_1", "zhang_2"]
    assert (await browser.get("/api/v1/users", params={"q": "ZHANG_1"})).json()["total"] == 1
    assert (await browser.get("/api/v1/users", params={"q": "%"})).json()["total"] == 0  # no wildcards
    officers = (await browser.get("/api/v1/users", params={"role": "officer"})).json()
    assert [u["username"] for u in officers["items"]] == ["li_si"]
    second = (await browser.get("/api/v1/users", params={"q": "zhang", "page": 2, "page_size": 2})).json()
    assert (second["total"], [u["username"] for u in second["items"]]) == (3, ["zhang_2"])
    assert (await browser.get("/api/v1/users", params={"active": "false"})).json()["total"] == 0


@pytest.mark.parametrize("role", ["clerk", "officer", "command_staff"])
async def test_only_admins_see_users(login: Any, make_user: Any, role: str) -> None:
    browser = await login(await make_user(role, "000000"))
    response = await browser.get("/api/v1/users")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


async def test_a_court_system_token_may_not_administer_users(client: Any, make_token: Any) -> None:
    token = await make_token("330106")
    response = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


async def test_users_need_a_session(client: Any) -> None:
    assert (await client.get("/api/v1/users")).status_code == 401


# --- creating ------------------------------------------------------------------------------------


async def test_a_court_admin_adds_a_user_to_their_court(
    login: Any, make_user: Any, services: Any, client: Any
) -> None:
    admin = await make_user("admin", "330106")
    browser = await login(admin)
    response = await browser.post(
        "/api/v1/users",
        json={"username": "Wang.Wu", "password": PASSWORD, "role": "officer", "display_name": "王五"},
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["username"], created["court_code"], created["role"]) == ("wang.wu", "330106", "officer")
    assert await audit_actions(services, "user", str(created["id"])) == [
        ("identity.user_created", f"user:{admin.username}", "success")
    ]
    signed_in = await client.post("/api/v1/session", json={"username": "wang.wu", "password": PASSWORD})
    assert signed_in.status_code == 200


async def test_a_court_admin_may_not_add_a_user_elsewhere(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "330106"))
    response = await browser.post(
        "/api/v1/users",
        json={"username": "intruder", "password": PASSWORD, "role": "admin", "court_code": "000000"},
    )
    assert response.status_code == 403


async def test_an_spc_admin_adds_a_user_to_any_court(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "000000"))
    response = await browser.post(
        "/api/v1/users",
        json={"username": "gz_admin", "password": PASSWORD, "role": "admin", "court_code": "440106"},
    )
    assert response.status_code == 201
    assert response.json()["court_name"] == "广州市天河区人民法院"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"username": "ab", "password": PASSWORD, "role": "clerk"}, 422, "username"),
        ({"username": "short_pw", "password": "123", "role": "clerk"}, 422, "password"),
        ({"username": "bad_role", "password": PASSWORD, "role": "judge"}, 422, "role"),
        ({"username": "no_court", "password": PASSWORD, "role": "clerk", "court_code": "999999"}, 403, None),
        ({"username": "extra", "password": PASSWORD, "role": "clerk", "is_demo": True}, 422, "is_demo"),
    ],
)
async def test_an_invalid_user_is_refused_with_the_field_named(
    login: Any, make_user: Any, body: dict, status: int, field: str | None
) -> None:
    browser = await login(await make_user("admin", "330106"))
    response = await browser.post("/api/v1/users", json=body)
    assert response.status_code == status, response.text
    if field:
        assert response.json()["error"]["details"][0]["field"] == field


async def test_an_unknown_court_is_a_field_error_for_the_spc_admin(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "000000"))
    response = await browser.post(
        "/api/v1/users",
        json={"username": "nowhere", "password": PASSWORD, "role": "clerk", "court_code": "999999"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "court_code"


async def test_a_taken_username_is_409_in_any_letter_case(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "330106"))
    await make_user("clerk", "330106", username="taken_name")
    response = await browser.post(
        "/api/v1/users", json={"username": "Taken_Name", "password": PASSWORD, "role": "clerk"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["details"] == [{"field": "username"}]


async def test_creating_a_user_needs_the_csrf_header(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "330106"))
    del browser.headers["X-CSRF-Token"]
    response = await browser.post(
        "/api/v1/users", json={"username": "csrf_less", "password": PASSWORD, "role": "clerk"}
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "csrf_failed"


# --- deactivating --------------------------------------------------------------------------------


async def test_deactivating_a_user_ends_their_sessions_and_refuses_sign_in(
    login: Any, make_user: Any, services: Any, client: Any
) -> None:
    admin = await make_user("admin", "330106")
    officer = await make_user("officer", "330106")
    officer_browser = await login(officer)
    browser = await login(admin)
    response = await browser.post(f"/api/v1/users/{officer.id}/deactivate")
    assert response.status_code == 200 and response.json()["active"] is False
    assert (await officer_browser.get("/api/v1/me")).status_code == 401
    refused = await client.post(
        "/api/v1/session", json={"username": officer.username, "password": "correct-horse-battery"}
    )
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "account_disabled"

    again = await browser.post(f"/api/v1/users/{officer.id}/deactivate")
    assert again.status_code == 200
    actions = [a for a, _, _ in await audit_actions(services, "user", str(officer.id))]
    assert actions.count("identity.user_deactivated") == 1  # idempotent: audited once
    inactive = (await browser.get("/api/v1/users", params={"active": "false"})).json()["items"]
    assert [u["id"] for u in inactive] == [officer.id]


async def test_an_admin_may_not_deactivate_themselves(login: Any, make_user: Any) -> None:
    admin = await make_user("admin", "330106")
    browser = await login(admin)
    response = await browser.post(f"/api/v1/users/{admin.id}/deactivate")
    assert response.status_code == 409
    assert (await browser.get("/api/v1/me")).status_code == 200


async def test_deactivation_is_scoped_to_the_admins_court(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "330106"))
    elsewhere = await make_user("clerk", "330105")
    assert (await browser.post(f"/api/v1/users/{elsewhere.id}/deactivate")).status_code == 403
    assert (await browser.post("/api/v1/users/987654/deactivate")).status_code == 404
    spc = await login(await make_user("admin", "000000"))
    assert (await spc.post(f"/api/v1/users/{elsewhere.id}/deactivate")).status_code == 200


# --- calendar years ------------------------------------------------------------------------------


async def test_the_calendar_years_list_the_packages_years(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("clerk", "330106"))
    response = await browser.get("/api/v1/calendar/years")
    assert response.status_code == 200
    body = response.json()
    years = {y["year"]: y for y in body["years"]}
    assert years[2025]["origin"] == "package" and years[2025]["source"].startswith("chinesecalendar")
    assert years[2025]["holidays"] > 20 and years[2025]["loaded_at"] is None
    assert body["package_version"] in years[2025]["source"]
    assert [y["year"] for y in body["years"]] == sorted(years)


async def test_an_spc_admin_loads_a_year_and_periods_use_it_at_once(
    login: Any, make_user: Any, services: Any
) -> None:
    admin = await make_user("admin", "000000")
    browser = await login(admin)
    period = {"start": "2031-09-24", "days": 7}  # ends on 2031-10-01, National Day once 2031 is loaded
    before = (await browser.get("/api/v1/periods", params=period)).json()
    assert before["provisional"] is True and before["skipped"] == []

    response = await browser.post("/api/v1/calendar/years", json=YEAR_2031)
    assert response.status_code == 200, response.text
    assert response.json()["year"] == 2031 and response.json()["workdays"] == YEAR_2031["workdays"]

    after = (await browser.get("/api/v1/periods", params=period)).json()
    assert after["provisional"] is False
    assert after["skipped"][:3] == ["2031-10-01", "2031-10-02", "2031-10-03"]

    listed = {y["year"]: y for y in (await browser.get("/api/v1/calendar/years")).json()["years"]}
    assert listed[2031]["origin"] == "loaded" and listed[2031]["replaces_package"] is False
    assert listed[2031]["holidays"] == 4 and listed[2031]["loaded_at"].endswith(("+00:00", "Z"))
    assert await audit_actions(services, "calendar_year", "2031") == [
        ("calendar.loaded", f"user:{admin.username}", "success")
    ]


async def test_a_loaded_year_replaces_the_packages_year(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "000000"))
    corrected = {"year": 2025, "holidays": {"2025-01-01": "元旦"}, "workdays": {}, "source": "更正通知"}
    assert (await browser.post("/api/v1/calendar/years", json=corrected)).status_code == 200
    listed = {y["year"]: y for y in (await browser.get("/api/v1/calendar/years")).json()["years"]}
    assert (listed[2025]["origin"], listed[2025]["replaces_package"], listed[2025]["holidays"]) == (
        "loaded",
        True,
        1,
    )


@pytest.mark.parametrize(
    ("role", "court"), [("admin", "330106"), ("admin", "330000"), ("command_staff", "000000")]
)
async def test_only_an_spc_admin_loads_a_year(login: Any, make_user: Any, role: str, court: str) -> None:
    browser = await login(await make_user(role, court))
    response = await browser.post("/api/v1/calendar/years", json=YEAR_2031)
    assert response.status_code == 403


async def test_an_invalid_year_is_refused_with_every_problem(login: Any, make_user: Any) -> None:
    browser = await login(await make_user("admin", "000000"))
    bad = {**YEAR_2031, "holidays": {"2030-12-31": "元旦"}, "workdays": {"2031-09-29": "国庆节"}}
    response = await browser.post("/api/v1/calendar/years", json=bad)
    assert response.status_code == 422
    problems = response.json()["error"]["details"]
    assert any("not in 2031" in p for p in problems) and any("not a weekend day" in p for p in problems)
    assert (await browser.post("/api/v1/calendar/years", json={"year": 2031})).status_code == 422
