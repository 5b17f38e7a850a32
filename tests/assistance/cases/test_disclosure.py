"""Who reads a party's ID number in full: a security boundary, tested as a table of callers."""

from __future__ import annotations

from datetime import date

import pytest

from assistance.cases.disclosure import masked_id_number, may_reveal_case_parties, party_read
from assistance.cases.models import CaseParty, EnforcementCase
from assistance.enums import CaseCategory, PartyKind, PartyRole
from command_center.identity.principal import Principal, Role

CASE = EnforcementCase(
    id=1,
    case_number="(2026)浙0106执1号",
    court_code="330106",
    category=CaseCategory.wages,
    amount_claimed=1,
    filed_on=date(2026, 3, 2),
    created_by="user:clerk",
)
PERSON = CaseParty(id=7, case_id=1, role=PartyRole.respondent, name="王五", kind=PartyKind.person,
                   id_number="11010519491231002X")  # fmt: skip
ORGANIZATION = CaseParty(id=8, case_id=1, role=PartyRole.applicant, name="某公司", kind=PartyKind.organization,
                         id_number="91350100M000100Y43")  # fmt: skip


def caller(court: str, role: Role = Role.clerk, kind: str = "user") -> Principal:
    return Principal(kind=kind, id=1, name="someone", court_code=court, role=role)


@pytest.mark.parametrize(
    ("principal", "reveal"),
    [
        *((caller("330106", role), True) for role in Role),  # every role of the filing court
        (caller("330106", kind="token"), True),  # the filing court's own system
        (caller("330100", Role.command_staff), False),  # the supervising intermediate court
        (caller("330000", Role.command_staff), False),
        (caller("000000", Role.command_staff), False),
        (caller("330105"), False),
        (caller("110105", Role.officer), False),  # e.g. a request's target court, for the case itself
        (caller("110105", kind="token"), False),
    ],
)
def test_only_the_filing_court_reads_id_numbers_in_full(principal: Principal, reveal: bool) -> None:
    assert may_reveal_case_parties(principal, CASE) is reveal


def test_a_revealed_party_reads_in_full_and_a_masked_one_keeps_four_characters_each_end() -> None:
    assert party_read(PERSON, reveal=True).id_number == "11010519491231002X"
    assert party_read(PERSON, reveal=False).model_dump() == {
        "id": 7, "name": "王五", "kind": PartyKind.person, "id_number": "1101**********002X"
    }  # fmt: skip
    assert party_read(ORGANIZATION, reveal=False).id_number == "9135**********0Y43"
    assert masked_id_number(ORGANIZATION) == "9135**********0Y43"
