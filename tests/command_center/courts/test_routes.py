"""HTTP: `/api/v1/courts` and `/api/v1/routing/preview`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

Login = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def clerk(make_user: Callable[..., Awaitable[Any]], login: Login) -> httpx.AsyncClient:
    """A signed-in clerk of 杭州市西湖区人民法院."""
    return await login(await make_user("clerk", "330106"))


async def test_courts_require_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/courts", "/api/v1/courts/330106", "/api/v1/routing/preview?region=330102"):
        response = await client.get(path)
        assert response.status_code == 401, path
        assert response.json()["error"]["code"] == "not_authenticated"


async def test_court_list_searches_the_chinese_name(clerk: httpx.AsyncClient) -> None:
    response = await clerk.get("/api/v1/courts", params={"q": "西湖区"})
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3 and body["page"] == 1 and body["page_size"] == 20
    assert body["items"][0] == {
        "code": "330106",
        "name": "杭州市西湖区人民法院",
        "level": "basic",
        "superior_code": "330100",
        "case_prefix": "浙0106",
    }


async def test_court_list_pages_in_code_order(clerk: httpx.AsyncClient) -> None:
    first = (await clerk.get("/api/v1/courts", params={"region": "33", "page_size": 5})).json()
    second = (await clerk.get("/api/v1/courts", params={"region": "33", "page_size": 5, "page": 2})).json()
    codes = [c["code"] for c in first["items"]] + [c["code"] for c in second["items"]]
    assert codes == sorted(codes) and len(set(codes)) == 10
    assert codes[0] == "330000"
    assert first["total"] == second["total"] == 1 + 11 + 90  # 浙江: high, 11 prefectures, 90 counties
    beyond = (await clerk.get("/api/v1/courts", params={"region": "33", "page": 1000})).json()
    assert beyond["items"] == [] and beyond["total"] == first["total"]


async def test_court_list_filters_by_level(clerk: httpx.AsyncClient) -> None:
    body = (await clerk.get("/api/v1/courts", params={"level": "high", "page_size": 200})).json()
    assert body["total"] == 31
    assert {c["level"] for c in body["items"]} == {"high"}
    assert {c["superior_code"] for c in body["items"]} == {"000000"}


async def test_court_list_rejects_bad_filters(clerk: httpx.AsyncClient) -> None:
    for params in ({"level": "district"}, {"region": "3"}, {"region": "33a"}, {"page_size": 1000}):
        response = await clerk.get("/api/v1/courts", params=params)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "invalid_input"


async def test_one_court_by_code(clerk: httpx.AsyncClient) -> None:
    response = await clerk.get("/api/v1/courts/000000")
    assert response.status_code == 200
    assert response.json() == {
        "code": "000000",
        "name": "最高人民法院",
        "level": "supreme",
        "superior_code": None,
        "case_prefix": "最高法",
    }


async def test_unknown_court_is_404_with_a_clear_message(clerk: httpx.AsyncClient) -> None:
    response = await clerk.get("/api/v1/courts/999999")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found" and "999999" in error["message"]


async def test_routing_preview_names_target_and_supervisor(clerk: httpx.AsyncClient) -> None:
    response = await clerk.get("/api/v1/routing/preview", params={"from": "330106", "region": "330102"})
    assert response.status_code == 200
    body = response.json()
    assert body["target"]["name"] == "杭州市上城区人民法院"
    assert body["supervisor"] == {
        "code": "330100",
        "name": "杭州市中级人民法院",
        "level": "intermediate",
        "superior_code": "330000",
        "case_prefix": "浙01",
    }


async def test_routing_preview_defaults_to_the_caller_court(clerk: httpx.AsyncClient) -> None:
    body = (await clerk.get("/api/v1/routing/preview", params={"region": "110101"})).json()
    assert body["target"]["code"] == "110101" and body["supervisor"]["code"] == "000000"


@pytest.mark.parametrize(
    ("region", "reason"),
    [("330106", "own_jurisdiction"), ("999999", "unknown"), ("3301", "malformed")],
)
async def test_routing_preview_refuses_bad_locations_with_422(
    clerk: httpx.AsyncClient, region: str, reason: str
) -> None:
    response = await clerk.get("/api/v1/routing/preview", params={"from": "330106", "region": region})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"]["field"] == "region_code" and error["details"]["reason"] == reason


async def test_routing_preview_from_an_unknown_court_is_404(clerk: httpx.AsyncClient) -> None:
    response = await clerk.get("/api/v1/routing/preview", params={"from": "999999", "region": "330102"})
    assert response.status_code == 404
    assert "999999" in response.json()["error"]["message"]


async def test_routing_preview_is_in_the_api_document(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    parameters = document["paths"]["/api/v1/routing/preview"]["get"]["parameters"]
    assert {p["name"] for p in parameters} == {"from", "region"}
    assert "/api/v1/courts/{code}" in document["paths"]
