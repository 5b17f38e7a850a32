"""The documents a requesting court sends with each kind of assistance matter (a data table).

The receiving court acts on the requesting court's instruments, so a request is accepted only with the
instruments its matter needs (最高人民法院关于委托执行若干问题的规定, 法释〔2011〕11号; 最高人民法院关于严格规范执行
事项委托工作的管理办法（试行）, 法发〔2017〕27号): a freeze, deduction or seal needs the ruling and the
notice to the bank or registry that must assist; a renewal also needs the ruling being renewed; serving
documents needs the documents. Any other known material may be sent as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from assistance.enums import MatterType
from command_center.calendar import LegalCalendar, add_months


@dataclass(frozen=True, slots=True)
class Names:
    """A term in Chinese (the legal name, what remote court systems read) and in English (for pages)."""

    zh: str
    en: str


# Material codes and their names, as the web form and remote court systems show them.
MATERIALS: dict[str, Names] = {
    "ruling": Names("执行裁定书", "Enforcement ruling"),
    "assistance_notice": Names("协助执行通知书", "Notice of assistance in enforcement"),
    "officer_credentials": Names("执行公务证件", "Enforcement officer's credentials"),
    "commission_letter": Names("委托执行函", "Letter of commission"),
    "judgment": Names("生效法律文书", "Effective legal instrument"),
    "freeze_ruling_previous": Names("原冻结裁定书", "Previous freezing ruling"),
    "property_clue": Names("财产线索材料", "Property leads"),
    "service_documents": Names("送达文书", "Documents to serve"),
    "detention_decision": Names("拘留决定书", "Detention decision"),
    "summons_warrant": Names("拘传票", "Summons warrant"),
}


@dataclass(frozen=True, slots=True)
class MatterRule:
    """What a matter type needs: its names, the required materials, and whether it renews a freeze."""

    names: Names
    required: tuple[str, ...]
    renews_freeze: bool = False


MATTERS: dict[MatterType, MatterRule] = {
    MatterType.investigate_property: MatterRule(
        Names("调查被执行人财产", "Investigate property"), ("commission_letter", "judgment")
    ),
    MatterType.freeze_deposits: MatterRule(
        Names("冻结存款", "Freeze deposits"), ("ruling", "assistance_notice")
    ),
    MatterType.renew_freeze: MatterRule(
        Names("续行冻结", "Renew a freeze"),
        ("ruling", "assistance_notice", "freeze_ruling_previous"),
        renews_freeze=True,
    ),
    # The ruling here is the release ruling (解除冻结裁定); the notice tells the bank to lift the freeze.
    MatterType.release_freeze: MatterRule(
        Names("解除冻结", "Release a freeze"), ("ruling", "assistance_notice")
    ),
    MatterType.deduct_deposits: MatterRule(
        Names("扣划存款", "Deduct deposits"), ("ruling", "assistance_notice", "judgment")
    ),
    # Registries (market regulation, real estate, vehicles) assist on the same notice.
    MatterType.freeze_equity: MatterRule(Names("冻结股权", "Freeze equity"), ("ruling", "assistance_notice")),
    MatterType.seal_real_estate: MatterRule(
        Names("查封不动产", "Seal real estate"), ("ruling", "assistance_notice")
    ),
    MatterType.seize_vehicle: MatterRule(
        Names("扣押车辆", "Seize a vehicle"), ("ruling", "assistance_notice")
    ),
    MatterType.serve_documents: MatterRule(
        Names("送达法律文书", "Serve legal documents"), ("commission_letter", "service_documents")
    ),
    MatterType.locate_person: MatterRule(
        Names("查找被执行人", "Locate the respondent"), ("commission_letter", "judgment")
    ),
    MatterType.control_person: MatterRule(
        Names("控制被执行人", "Take the respondent into custody"), ("commission_letter", "detention_decision")
    ),
}

assert set(MATTERS) == set(MatterType), "every matter type needs a row in MATTERS"
assert all(code in MATERIALS for rule in MATTERS.values() for code in rule.required)


def material_names(code: str) -> Names:
    """The names of a material code (the code itself in both languages for an unknown one)."""
    return MATERIALS.get(code) or Names(code, code)


def unknown_materials(codes: Iterable[str]) -> list[str]:
    """The codes that are not materials, in the order given."""
    return [code for code in codes if code not in MATERIALS]


def missing_materials(matter: MatterType, codes: Iterable[str]) -> list[str]:
    """The required materials of `matter` that `codes` lacks, in the table's order."""
    given = set(codes)
    return [code for code in MATTERS[matter].required if code not in given]


def normalized_materials(codes: Iterable[str]) -> list[str]:
    """The codes without duplicates, in the order first given."""
    return list(dict.fromkeys(codes))


def freeze_needs_urgency(calendar: LegalCalendar, *, today: date, expires_on: date) -> bool:
    """True when a freeze expiring on `expires_on` has less than one month left on `today`.

    DESIGN.md §3 (preservation): a freeze or seal with less than a month left must be renewed before
    it lapses, so such a renewal is urgent. The month is counted by Civil Code art. 202 (the
    corresponding day of the next month); moving that day past rest days (art. 203) only ever makes
    the month longer, which errs on the side of urgency.
    """
    return add_months(calendar, today, 1).deadline > expires_on
