"""Made-up identities for demo data: every one passes the checks a new case must pass."""

from __future__ import annotations

import random
from datetime import date

import pytest

from assistance.cases.identities import (
    make_case_number,
    make_credit_code,
    make_resident_id,
    organization_code,
    random_credit_code,
    random_organization_name,
    random_person_name,
    random_resident_id,
)
from assistance.cases.validation import credit_code_problem, parse_case_number, resident_id_problem

TODAY = date(2026, 6, 15)


def test_a_resident_id_is_built_from_region_birth_and_sequence_with_its_check_digit() -> None:
    # The example of GB 11643-1999 itself.
    assert make_resident_id("110105", date(1949, 12, 31), 2) == "11010519491231002X"


def test_an_organization_code_carries_its_gb_11714_check() -> None:
    # GB 11714: weights 3 7 9 10 5 8 4 2; 12345678 weighs 201, 201 mod 11 = 3, check 11 - 3 = 8.
    assert organization_code(12345678) == "123456788"
    assert organization_code(0) == "000000000"  # 11 - 0 = 11 is written 0
    code = make_credit_code("350100", 12345678)
    assert code[:17] == "91350100123456788" and credit_code_problem(code) is None


def test_many_random_identities_are_all_valid_and_repeat_with_the_seed() -> None:
    rng = random.Random(20260315)
    ids = [random_resident_id(rng, region="330106") for _ in range(2000)]
    codes = [random_credit_code(rng, region="440304") for _ in range(2000)]
    assert all(resident_id_problem(v, today=TODAY) is None for v in ids)
    assert all(credit_code_problem(v) is None for v in codes)
    assert any(v.endswith("X") for v in ids)
    again = random.Random(20260315)
    assert [random_resident_id(again, region="330106") for _ in range(3)] == ids[:3]


def test_names_look_like_names() -> None:
    rng = random.Random(1)
    assert all(2 <= len(random_person_name(rng)) <= 3 for _ in range(100))
    assert random_organization_name(rng, place="杭州").startswith("杭州")
    assert random_organization_name(rng, place="杭州").endswith("有限公司")


def test_a_made_case_number_parses_back() -> None:
    number = make_case_number("浙0106", 2026, 1234, "执恢")
    parsed = parse_case_number(number)
    assert number == "(2026)浙0106执恢1234号" and parsed is not None and parsed.text == number


@pytest.mark.parametrize("bad", [("3301", date(1990, 1, 1), 1), ("330106", date(1990, 1, 1), 1000)])
def test_bad_parts_are_refused(bad) -> None:
    with pytest.raises(ValueError):
        make_resident_id(*bad)
