"""Routing: the court with jurisdiction over a location, and the court that supervises the request."""

from __future__ import annotations

import dataclasses

import pytest

from command_center.courts.dataset import generate_courts
from command_center.courts.directory import CourtDirectory
from command_center.courts.routing import RoutingDecision, jurisdiction, route
from command_center.errors import InvalidInput, NotFound


@pytest.fixture(scope="module")
def directory() -> CourtDirectory:
    return CourtDirectory(generate_courts())


def decide(directory: CourtDirectory, from_court: str, region_code: str) -> tuple[str, str]:
    decision = route(directory, from_court=from_court, region_code=region_code)
    return decision.target.code, decision.supervisor.code


def test_same_city_request_is_supervised_by_the_intermediate_court(directory: CourtDirectory) -> None:
    # 杭州市西湖区人民法院 asks 杭州市上城区人民法院.
    assert decide(directory, "330106", "330102") == ("330102", "330100")


def test_same_province_request_is_supervised_by_the_high_court(directory: CourtDirectory) -> None:
    # 杭州市西湖区人民法院 asks a court in 宁波.
    assert decide(directory, "330106", "330203") == ("330203", "330000")


def test_cross_province_request_is_supervised_by_the_supreme_court(directory: CourtDirectory) -> None:
    assert decide(directory, "330106", "110101") == ("110101", "000000")


def test_municipal_district_request_is_supervised_by_the_municipal_intermediate_court(
    directory: CourtDirectory,
) -> None:
    assert decide(directory, "110101", "110108") == ("110108", "110100")
    # 重庆's two county prefixes meet at the high court.
    assert decide(directory, "500103", "500229") == ("500229", "500000")


def test_province_administered_county_is_handled_by_its_basic_court(directory: CourtDirectory) -> None:
    assert decide(directory, "420102", "429004") == ("429004", "420000")
    assert decide(directory, "429005", "429004") == ("429004", "429000")


def test_location_in_a_prefecture_without_counties_goes_to_its_intermediate_court(
    directory: CourtDirectory,
) -> None:
    assert decide(directory, "440106", "441900") == ("441900", "440000")
    assert decide(directory, "330106", "620200") == ("620200", "000000")


def test_prefecture_or_province_code_goes_to_that_level_court(directory: CourtDirectory) -> None:
    assert decide(directory, "330106", "320100") == ("320100", "000000")
    assert decide(directory, "330106", "320000") == ("320000", "000000")


def test_superior_court_may_commission_a_court_in_its_own_subtree(directory: CourtDirectory) -> None:
    # 杭州市中级人民法院 sends work to 西湖区: the requester itself supervises.
    assert decide(directory, "330100", "330106") == ("330106", "330100")
    assert decide(directory, "330000", "330106") == ("330106", "330000")
    assert decide(directory, "000000", "330106") == ("330106", "000000")


def test_request_to_a_superior_is_supervised_above_the_target(directory: CourtDirectory) -> None:
    assert decide(directory, "330106", "330100") == ("330100", "330000")


def test_location_in_the_requester_own_jurisdiction_is_refused(directory: CourtDirectory) -> None:
    with pytest.raises(InvalidInput) as caught:
        route(directory, from_court="330106", region_code="330106")
    assert caught.value.details["field"] == "region_code"
    assert caught.value.details["reason"] == "own_jurisdiction"
    assert "杭州市西湖区人民法院" in caught.value.message
    with pytest.raises(InvalidInput):
        route(directory, from_court="441900", region_code="441900")


@pytest.mark.parametrize("region_code", ["999999", "330199", "710000", "810000", "000000"])
def test_unknown_region_code_is_refused(directory: CourtDirectory, region_code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        route(directory, from_court="330106", region_code=region_code)
    assert caught.value.details == {"field": "region_code", "reason": "unknown", "value": region_code}


@pytest.mark.parametrize("region_code", ["", "33010", "3301060", "33o106", "３３０１０６", " 330106"])
def test_malformed_region_code_is_refused(directory: CourtDirectory, region_code: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        route(directory, from_court="330106", region_code=region_code)
    assert caught.value.details["field"] == "region_code"
    assert caught.value.details["reason"] == "malformed"


def test_unknown_requesting_court_is_not_found(directory: CourtDirectory) -> None:
    with pytest.raises(NotFound) as caught:
        route(directory, from_court="999999", region_code="330106")
    assert caught.value.details["field"] == "from_court"


def test_inactive_basic_court_hands_its_locations_to_the_prefecture_court() -> None:
    seeds = [dataclasses.replace(s, active=False) if s.code == "330106" else s for s in _entries()]
    directory = CourtDirectory(seeds)
    assert jurisdiction(directory, "330106").code == "330100"
    assert decide(directory, "320102", "330106") == ("330100", "000000")


def test_decision_is_immutable(directory: CourtDirectory) -> None:
    decision = route(directory, from_court="330106", region_code="330102")
    assert isinstance(decision, RoutingDecision)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.target = decision.supervisor  # type: ignore[misc]


def test_every_pair_of_a_sample_routes_to_a_common_superior(directory: CourtDirectory) -> None:
    basics = [court.code for court in directory if court.level == "basic"][::97]
    for requester in basics:
        for region in basics:
            if requester == region:
                continue
            decision = route(directory, from_court=requester, region_code=region)
            assert decision.target.code == region
            assert directory.is_within(region, decision.supervisor.code)
            assert directory.is_within(requester, decision.supervisor.code)
            assert decision.supervisor.code != region


def _entries() -> list:
    directory = CourtDirectory(generate_courts())
    return list(directory)
