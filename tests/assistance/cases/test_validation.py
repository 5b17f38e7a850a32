"""Case numbers, resident ID numbers and credit codes: what a new case must carry, checked field by field."""

from __future__ import annotations

from datetime import date

import pytest

from assistance.cases.schemas import CaseCreate
from assistance.cases.validation import (
    case_number_problem,
    check_new_case,
    credit_code_problem,
    normalize_case_number,
    parse_case_number,
    resident_id_problem,
)
from command_center.courts.dataset import generate_courts
from command_center.courts.directory import CourtDirectory
from command_center.errors import InvalidInput

TODAY = date(2026, 6, 15)


@pytest.fixture(scope="module")
def directory() -> CourtDirectory:
    return CourtDirectory(generate_courts())


@pytest.fixture(scope="module")
def xihu(directory: CourtDirectory):
    return directory.require("330106")  # 杭州市西湖区人民法院, 浙0106


def gb11643_check(first17: str) -> str:
    """GB 11643-1999 §7, written as the standard does: Σ aᵢ·Wᵢ with Wᵢ = 2^(i-1) mod 11, counting
    positions from the right (the check digit is position 1), and the check a₁ with Σ ≡ 1 (mod 11)."""
    total = sum(int(a) * pow(2, 18 - i, 11) for i, a in enumerate(first17, start=1))
    a1 = (12 - total % 11) % 11
    return "X" if a1 == 10 else str(a1)


def resident_id(first17: str) -> str:
    return first17 + gb11643_check(first17)


# --- case numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "(2026)浙0106执1234号",
        "(2026)浙0106执1号",
        "(1990)浙0106执99999号",
        "(2027)浙0106执1号",  # next year: numbers of cases received around New Year
        *(f"(2026)浙0106{word}12号" for word in ("执恢", "执保", "执异", "执复", "执监", "执协")),
    ],
)
def test_well_formed_enforcement_case_numbers_of_the_filing_court_are_accepted(number: str, xihu) -> None:
    assert case_number_problem(number, court=xihu, today=TODAY) is None


def test_full_width_parentheses_are_accepted_and_normalized_to_ascii(xihu) -> None:
    assert case_number_problem("（2026）浙0106执1234号", court=xihu, today=TODAY) is None
    assert normalize_case_number(" （2026）浙0106执1234号 ") == "(2026)浙0106执1234号"


def test_a_serial_with_leading_zeros_is_stored_without_them() -> None:
    parsed = parse_case_number("(2026)浙0106执0012号")
    assert parsed is not None and parsed.text == "(2026)浙0106执12号"


def test_the_court_abbreviation_must_be_the_filing_courts(directory: CourtDirectory, xihu) -> None:
    problem = case_number_problem("(2026)浙0105执1234号", court=xihu, today=TODAY)
    assert problem is not None and "浙0105" in problem and "浙0106" in problem
    # The intermediate court above files under its own abbreviation, 浙01.
    hangzhou = directory.require("330100")
    assert case_number_problem("(2026)浙01执5号", court=hangzhou, today=TODAY) is None
    assert case_number_problem("(2026)浙0106执5号", court=hangzhou, today=TODAY) is not None
    spc = directory.require("000000")
    assert case_number_problem("(2026)最高法执监3号", court=spc, today=TODAY) is None


@pytest.mark.parametrize(
    "number",
    [
        "2026浙0106执1234号",  # no parentheses
        "(2026)浙0106执1234",  # no 号
        "(26)浙0106执1234号",  # two-digit year
        "(2026)执1234号",  # no court abbreviation
        "(2026)浙0106执号",  # no serial
        "(2026)浙0106执12a4号",
        "[2026]浙0106执1234号",
        "",
    ],
)
def test_malformed_case_numbers_are_refused_with_the_expected_shape(number: str, xihu) -> None:
    problem = case_number_problem(number, court=xihu, today=TODAY)
    assert problem is not None and "(2026)浙0106执1234号" in problem


@pytest.mark.parametrize(
    ("number", "word"), [("(2026)浙0106民初1234号", "民初"), ("(2026)浙0106执执1号", "执执")]
)
def test_other_case_types_are_refused_as_not_enforcement_cases(number: str, word: str, xihu) -> None:
    problem = case_number_problem(number, court=xihu, today=TODAY)
    assert problem is not None and f"word {word} is not an enforcement case type" in problem


@pytest.mark.parametrize("year", [1989, 2028, 2999])
def test_the_year_must_lie_between_1990_and_next_year(year: int, xihu) -> None:
    problem = case_number_problem(f"({year})浙0106执1号", court=xihu, today=TODAY)
    assert problem is not None and "2027" in problem


def test_serial_zero_is_refused(xihu) -> None:
    problem = case_number_problem("(2026)浙0106执0号", court=xihu, today=TODAY)
    assert problem == "the serial number must be at least 1"


# --- resident ID numbers --------------------------------------------------------------------------


def test_the_standards_own_example_with_an_x_check_digit_is_valid() -> None:
    assert gb11643_check("11010519491231002") == "X"
    assert resident_id_problem("11010519491231002X", today=TODAY) is None


@pytest.mark.parametrize(
    "first17", ["33010619900101123", "44030419851231001", "11010120000229555", "65010219570704876"]
)
def test_computed_resident_id_numbers_are_valid(first17: str) -> None:
    assert resident_id_problem(resident_id(first17), today=TODAY) is None


def test_a_wrong_check_digit_is_refused_naming_the_right_one() -> None:
    good = resident_id("33010619900101123")
    wrong = good[:17] + ("0" if good[17] != "0" else "1")
    assert resident_id_problem(wrong, today=TODAY) == f"the check digit is wrong (expected {good[17]})"


def test_an_x_where_a_digit_belongs_is_refused() -> None:
    good = resident_id("33010619900101124")
    assert good[17] != "X"
    assert resident_id_problem(good[:17] + "X", today=TODAY) == (
        f"the check digit is wrong (expected {good[17]})"
    )


@pytest.mark.parametrize(
    ("first17", "reason"),
    [
        ("33010619901301123", "not a birth date"),  # month 13
        ("33010620230229123", "not a birth date"),  # 2023 has no 29 February
        ("44052418800101001", "not plausible"),  # 1880: the standard's example, before any 18-digit ID
        ("33010620270101123", "not plausible"),  # born after today
    ],
)
def test_an_implausible_birth_date_is_refused(first17: str, reason: str) -> None:
    problem = resident_id_problem(resident_id(first17), today=TODAY)
    assert problem is not None and reason in problem


@pytest.mark.parametrize(
    "value", ["3301061990010112", "33010619900101123Y", "3301061990O101123X", "330106199001011234567"]
)
def test_malformed_resident_id_numbers_are_refused(value: str) -> None:
    problem = resident_id_problem(value, today=TODAY)
    assert problem is not None and "18-character resident ID number" in problem


# --- unified social credit codes ------------------------------------------------------------------


def test_a_valid_credit_code_is_accepted() -> None:
    assert credit_code_problem("91350100M000100Y43") is None


def test_a_credit_code_with_a_wrong_check_character_is_refused_naming_the_right_one() -> None:
    assert credit_code_problem("91350100M000100Y44") == "the check character is wrong (expected 3)"


@pytest.mark.parametrize("value", ["91350100M000100Y4", "91350100I000100Y43", "91350100m000100y43x"])
def test_malformed_credit_codes_are_refused(value: str) -> None:
    problem = credit_code_problem(value)
    assert problem is not None and "18-character unified social credit code" in problem


def test_a_resident_id_is_no_credit_code_and_the_message_says_so() -> None:
    problem = credit_code_problem("11010519491231002X")
    assert problem is not None and "not a resident ID number" in problem


def test_a_credit_code_is_no_resident_id_and_the_message_says_so() -> None:
    problem = resident_id_problem("91350100M000100Y43", today=TODAY)
    assert problem is not None and "not a unified social credit code" in problem


# --- a whole new case -----------------------------------------------------------------------------


def body(**overrides) -> dict:
    data = {
        "case_number": "（2026）浙0106执0042号",
        "category": "wages",
        "applicant": {"name": " 李四 ", "kind": "person", "id_number": "11010519491231002x"},
        "respondents": [
            {"name": "杭州某某公司", "kind": "organization", "id_number": "91350100M000100Y43"},
            {"name": "王五", "kind": "person", "id_number": resident_id("33010619900101123")},
        ],
        "amount_claimed": 100,
        "filed_on": "2026-03-02",
    }
    return {**data, **overrides}


def test_a_valid_case_comes_back_normalized(xihu) -> None:
    checked = check_new_case(CaseCreate.model_validate(body()), court=xihu, today=TODAY)
    assert checked.case_number == "(2026)浙0106执42号"
    assert checked.applicant.id_number == "11010519491231002X"
    assert checked.applicant.name == "李四"


def test_every_problem_is_reported_with_its_field_and_the_first_in_the_message(xihu) -> None:
    bad_check = resident_id("33010619900101123")
    wrong = bad_check[:17] + ("0" if bad_check[17] != "0" else "1")
    data = body(
        case_number="(2026)浙0105执1号",
        respondents=[
            {"name": "甲", "kind": "person", "id_number": resident_id("33010619800101001")},
            {"name": "乙", "kind": "person", "id_number": wrong},
            {"name": "丙", "kind": "person", "id_number": "91350100M000100Y43"},
        ],
        filed_on="2026-06-16",
    )
    with pytest.raises(InvalidInput) as caught:
        check_new_case(CaseCreate.model_validate(data), court=xihu, today=TODAY)
    fields = [d["field"] for d in caught.value.details]
    assert fields == ["case_number", "filed_on", "respondents[1].id_number", "respondents[2].id_number"]
    assert caught.value.message.startswith("case_number: the court abbreviation 浙0105")
    assert caught.value.details[2]["message"] == f"the check digit is wrong (expected {bad_check[17]})"


def test_the_same_respondent_twice_or_the_applicant_as_respondent_is_refused(xihu) -> None:
    person = {"name": "王五", "kind": "person", "id_number": resident_id("33010619900101123")}
    data = body(applicant=person, respondents=[person, {**person, "name": "王五 (again)"}])
    with pytest.raises(InvalidInput) as caught:
        check_new_case(CaseCreate.model_validate(data), court=xihu, today=TODAY)
    messages = {d["field"]: d["message"] for d in caught.value.details}
    assert "respondents[0] has the same ID number" in messages["respondents[1].id_number"]
    assert "applicant has the same ID number" in messages["respondents[0].id_number"]
