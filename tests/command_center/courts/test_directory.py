"""The in-memory court directory: lookups, superiors, subtrees."""

from __future__ import annotations

import dataclasses

import pytest

from command_center.courts.dataset import generate_courts
from command_center.courts.directory import CourtDirectory
from command_center.courts.enums import CourtLevel
from command_center.errors import NotFound


@pytest.fixture(scope="module")
def directory() -> CourtDirectory:
    return CourtDirectory(generate_courts())


def test_directory_counts_courts_per_level(directory: CourtDirectory) -> None:
    assert directory.counts_by_level() == {
        CourtLevel.supreme: 1,
        CourtLevel.high: 31,
        CourtLevel.intermediate: 342,
        CourtLevel.basic: 2843,
    }
    assert len(directory) == 3217


def test_get_returns_the_court_or_none(directory: CourtDirectory) -> None:
    assert directory.get("330106").name == "杭州市西湖区人民法院"
    assert directory.get("999999") is None
    assert "330106" in directory and "999999" not in directory


def test_require_names_the_field_of_an_unknown_code(directory: CourtDirectory) -> None:
    with pytest.raises(NotFound) as caught:
        directory.require("999999", field="target_court")
    assert caught.value.details == {"field": "target_court", "value": "999999"}


def test_ancestors_run_from_the_nearest_superior_to_the_supreme_court(directory: CourtDirectory) -> None:
    assert [c.code for c in directory.ancestors("330106")] == ["330100", "330000", "000000"]
    assert directory.ancestors("000000") == ()


def test_children_are_the_courts_directly_below(directory: CourtDirectory) -> None:
    hangzhou = [c.code for c in directory.children("330100")]
    assert "330106" in hangzhou and "330182" in hangzhou
    assert all(code.startswith("3301") for code in hangzhou)
    assert len(directory.children("000000")) == 31
    assert directory.children("330106") == ()


def test_is_within_includes_the_court_itself_and_all_its_subordinates(directory: CourtDirectory) -> None:
    assert directory.is_within("330106", "330106")
    assert directory.is_within("330106", "330100")
    assert directory.is_within("330106", "330000")
    assert directory.is_within("330106", "000000")
    assert not directory.is_within("330100", "330106")
    assert not directory.is_within("330106", "320000")
    assert not directory.is_within("999999", "000000")


def test_subtrees_are_exactly_the_codes_sharing_the_court_prefix(directory: CourtDirectory) -> None:
    all_codes = {court.code for court in directory}
    assert directory.subtree_codes("000000") == all_codes
    for court in directory:
        prefix = directory.jurisdiction_prefix(court.code)
        assert directory.subtree_codes(court.code) == {code for code in all_codes if code.startswith(prefix)}
    assert directory.subtree_codes("999999") == frozenset()


def test_lowest_common_court_of_two_courts(directory: CourtDirectory) -> None:
    assert directory.lowest_common("330106", "330102").code == "330100"
    assert directory.lowest_common("330106", "330282").code == "330000"
    assert directory.lowest_common("330106", "320102").code == "000000"
    assert directory.lowest_common("330100", "330106").code == "330100"


def test_search_finds_courts_by_name_code_or_case_prefix(directory: CourtDirectory) -> None:
    assert [c.code for c in directory.search("西湖区")] == ["330106", "360103", "420112"]  # 东西湖区 too
    assert directory.search("浙0106")[0].code == "330106"
    assert directory.search("3301", limit=3)[0].code == "330100"


def test_a_court_with_an_unknown_superior_is_rejected() -> None:
    seeds = generate_courts()
    broken = [dataclasses.replace(s, superior_code="339900") if s.code == "330106" else s for s in seeds]
    with pytest.raises(ValueError, match="unknown superior"):
        CourtDirectory(broken)


def test_a_directory_without_the_supreme_court_is_rejected() -> None:
    with pytest.raises(ValueError, match="Supreme"):
        CourtDirectory([s for s in generate_courts() if s.code != "000000"])
