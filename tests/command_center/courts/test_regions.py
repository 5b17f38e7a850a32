"""Address-to-region suggestion: the matcher over the whole directory, and `GET /api/v1/regions/suggest`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from command_center.courts.dataset import generate_courts
from command_center.courts.directory import CourtDirectory
from command_center.courts.regions import short_name, suggest_region

Login = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture(scope="module")
def directory() -> CourtDirectory:
    return CourtDirectory(generate_courts())


@pytest.mark.parametrize(
    ("name", "short"),
    [
        ("浙江省", "浙江"),
        ("广西壮族自治区", "广西"),
        ("新疆维吾尔自治区", "新疆"),
        ("内蒙古自治区", "内蒙古"),
        ("延边朝鲜族自治州", "延边"),
        ("恩施土家族苗族自治州", "恩施"),
        ("浦东新区", "浦东"),
        ("西湖区", "西湖"),
        ("丰县", None),  # one character is no name
    ],
)
def test_short_names_drop_the_administrative_suffix(name: str, short: str | None) -> None:
    assert short_name(name) == short


def _codes(directory: CourtDirectory, address: str) -> tuple[str | None, str | None, str | None]:
    found = suggest_region(directory, address)
    return tuple(ref.code if ref else None for ref in (found.province, found.city, found.county))  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("浙江省杭州市西湖区文三路90号", ("330000", "330100", "330106")),
        ("杭州西湖文三路90号", ("330000", "330100", "330106")),  # short names
        ("杭州市 西湖区 文三路", ("330000", "330100", "330106")),  # spaces do not matter
        ("南昌市西湖区", ("360000", "360100", "360103")),  # the other 西湖区
        ("北京市朝阳区建国路1号", ("110000", "110100", "110105")),  # a municipality's district
        ("吉林市船营区某路", ("220000", "220200", "220204")),  # 吉林 the city, not only the province
        ("延边州延吉市", ("220000", "222400", "222401")),
        ("江苏省丰县人民路", ("320000", "320300", "320321")),  # a two-character county with context
        ("余杭区某街道", ("330000", "330100", "330110")),  # a unique district alone
        ("杭州市某路1号", ("330000", "330100", None)),  # the city only
        ("广东省东莞市南城街道", ("440000", "441900", None)),  # a city without counties
        ("浙江", ("330000", None, None)),
    ],
)
def test_an_address_suggests_its_province_city_and_county(
    directory: CourtDirectory, address: str, expected: tuple[str | None, ...]
) -> None:
    assert _codes(directory, address) == expected


@pytest.mark.parametrize(
    "address",
    [
        "西湖区文三路",  # 杭州 or 南昌: no guess
        "丰县人民路",  # two characters alone could be anything
        "火星基地一号",
        "123 Main Street",
    ],
)
def test_an_address_that_does_not_tell_suggests_nothing(directory: CourtDirectory, address: str) -> None:
    assert _codes(directory, address) == (None, None, None)


def test_a_tie_between_two_counties_of_one_city_suggests_the_city(directory: CourtDirectory) -> None:
    # 鼓楼区 is a district of 南京 (320106) and of 徐州 (320302): in 江苏 both fit.
    assert _codes(directory, "江苏省鼓楼区") == ("320000", None, None)


def test_the_suggestion_names_the_divisions_and_their_courts(directory: CourtDirectory) -> None:
    found = suggest_region(directory, "浙江省杭州市西湖区文三路90号")
    assert found.county is not None and found.county.name == "西湖区"
    assert found.county.court_name == "杭州市西湖区人民法院"
    assert found.matched == ["浙江省", "杭州市", "西湖区"]


@pytest.fixture
async def clerk(make_user: Callable[..., Awaitable[Any]], login: Login) -> httpx.AsyncClient:
    return await login(await make_user("clerk", "330106"))


async def test_the_endpoint_suggests_a_county_for_a_typed_address(clerk: httpx.AsyncClient) -> None:
    response = await clerk.get("/api/v1/regions/suggest", params={"address": "杭州西湖文三路90号"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["province"] == {"code": "330000", "name": "浙江省", "court_name": "浙江省高级人民法院"}
    assert body["city"]["code"] == "330100" and body["county"]["code"] == "330106"
    assert body["matched"] == ["杭州", "西湖"]


async def test_the_endpoint_answers_no_match_with_nulls(clerk: httpx.AsyncClient) -> None:
    body = (await clerk.get("/api/v1/regions/suggest", params={"address": "火星基地"})).json()
    assert body == {"province": None, "city": None, "county": None, "matched": []}


async def test_the_endpoint_needs_sign_in_and_a_sensible_address(
    client: httpx.AsyncClient, clerk: httpx.AsyncClient
) -> None:
    assert (await client.get("/api/v1/regions/suggest", params={"address": "杭州"})).status_code == 401
    empty = await clerk.get("/api/v1/regions/suggest", params={"address": ""})
    assert empty.status_code == 422 and empty.json()["error"]["details"][0]["field"] == "address"
    assert (await clerk.get("/api/v1/regions/suggest", params={"address": "路" * 301})).status_code == 422
