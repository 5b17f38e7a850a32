"""Who reads a party's ID number in full. A security boundary: every read of a case party goes through here.

Rules (issue "Enforcement cases"; DESIGN.md §3):
- the filing court (any of its users, or its court system's token) reads its parties' ID numbers in
  full on a single case;
- list views are masked for everyone, the filing court included;
- every other court that may see the case (its superiors' command centers, courts working a request on
  it) reads them masked, e.g. 3301**********1234. The target court of an assistance request reads its
  own subject's ID number in full: the request's read model calls `party_read(subject, reveal=True)`
  after deciding that itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assistance.cases.models import CaseParty, EnforcementCase
from assistance.cases.schemas import CaseDeadlineRead, CaseRead, PartyRead
from assistance.enums import CaseCategory, PartyKind
from command_center.courts.models import CourtRead
from command_center.masking import mask_credit_code, mask_id_number

if TYPE_CHECKING:
    from assistance.cases.service import CaseRecord
    from command_center.courts.directory import CourtDirectory
    from command_center.identity.principal import Principal


def may_reveal_case_parties(principal: Principal, case: EnforcementCase) -> bool:
    """True when `principal` may read the case's ID numbers in full: a user or token of the filing court."""
    return principal.court_code == case.court_code


def masked_id_number(party: CaseParty) -> str:
    """The party's ID number as everyone but the filing court reads it."""
    if PartyKind(party.kind) is PartyKind.organization:
        return mask_credit_code(party.id_number)
    return mask_id_number(party.id_number)


def party_read(party: CaseParty, *, reveal: bool) -> PartyRead:
    """The party as a reader sees it: the ID number in full only when `reveal` is True."""
    assert party.id is not None
    return PartyRead(
        id=party.id,
        name=party.name,
        kind=party.kind,
        id_number=party.id_number if reveal else masked_id_number(party),
    )


def case_read(record: CaseRecord, *, directory: CourtDirectory, reveal: bool) -> CaseRead:
    """The case as a reader sees it; pass `reveal=may_reveal_case_parties(...)` on a single case and
    `reveal=False` in every list view."""
    case, deadline = record.case, record.deadline
    assert case.id is not None
    return CaseRead(
        id=case.id,
        case_number=case.case_number,
        court=CourtRead.model_validate(directory.require(case.court_code)),
        category=case.category,
        livelihood=CaseCategory(case.category).is_livelihood,
        status=case.status,
        priority=case.priority,
        amount_claimed=case.amount_claimed,
        amount_recovered=case.amount_recovered,
        filed_on=case.filed_on,
        officer_id=case.officer_id,
        applicant=party_read(record.applicant, reveal=reveal),
        respondents=[party_read(p, reveal=reveal) for p in record.respondents],
        deadline=None if deadline is None else CaseDeadlineRead.model_validate(deadline),
        created_at=case.created_at,
    )
