"""The vocabulary of enforcement cases and assistance requests."""

from __future__ import annotations

from enum import StrEnum


class CaseCategory(StrEnum):
    wages = "wages"
    alimony_support = "alimony_support"
    medical_malpractice = "medical_malpractice"
    work_injury = "work_injury"
    commercial = "commercial"
    loan = "loan"
    other = "other"

    @property
    def is_livelihood(self) -> bool:
        return self in LIVELIHOOD_CATEGORIES


# "Livelihood" cases (涉民生案件): the yearly pre-Spring-Festival drive gives them priority.
LIVELIHOOD_CATEGORIES = frozenset(
    {
        CaseCategory.wages,
        CaseCategory.alimony_support,
        CaseCategory.medical_malpractice,
        CaseCategory.work_injury,
    }
)


class PartyKind(StrEnum):
    person = "person"
    organization = "organization"


class PartyRole(StrEnum):
    applicant = "applicant"
    respondent = "respondent"


class CaseStatus(StrEnum):
    open = "open"
    concluded = "concluded"
    terminated = "terminated"


class CasePriority(StrEnum):
    normal = "normal"
    high = "high"


class MatterType(StrEnum):
    investigate_property = "investigate_property"
    freeze_deposits = "freeze_deposits"
    renew_freeze = "renew_freeze"
    release_freeze = "release_freeze"
    deduct_deposits = "deduct_deposits"
    freeze_equity = "freeze_equity"
    seal_real_estate = "seal_real_estate"
    seize_vehicle = "seize_vehicle"
    serve_documents = "serve_documents"
    locate_person = "locate_person"
    control_person = "control_person"


class Urgency(StrEnum):
    normal = "normal"
    urgent = "urgent"


class RequestStatus(StrEnum):
    submitted = "submitted"
    routed = "routed"
    filed = "filed"
    in_progress = "in_progress"
    awaiting_supplement = "awaiting_supplement"
    completed = "completed"
    rejected = "rejected"
    withdrawn = "withdrawn"

    @property
    def is_open(self) -> bool:
        return self not in CLOSED_STATUSES


CLOSED_STATUSES = frozenset({RequestStatus.completed, RequestStatus.withdrawn})


class RejectReason(StrEnum):
    wrong_jurisdiction = "wrong_jurisdiction"
    not_assistance_matter = "not_assistance_matter"
    materials_invalid = "materials_invalid"


class DeadlineKind(StrEnum):
    file = "file"
    start = "start"
    report = "report"
    supplement = "supplement"
    case = "case"


class DeadlineState(StrEnum):
    pending = "pending"
    met = "met"
    missed = "missed"
    cancelled = "cancelled"


class AttachmentPurpose(StrEnum):
    material = "material"
    supplement = "supplement"
    result = "result"
    other = "other"
