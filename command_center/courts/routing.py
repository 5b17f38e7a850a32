"""Routing: which court does the work at a location, and whose command center supervises it.

Rules (Civil Procedure Law, commissioned-execution article; 法释〔2011〕11号):

- The **target** is the court with territorial jurisdiction over the location: the basic court of the
  county-level division; where the region code has no active basic court (a prefecture-level city
  without counties such as 东莞 441900, a prefecture or province code, or a division that left the
  dataset), the intermediate court of the prefecture (code[:4] + "00"); then the high court of the
  province (code[:2] + "0000").
- The **supervisor** is the lowest court that is a superior of the target and is the requester or one
  of the requester's superiors: the intermediate court when both are in one city, the high court when
  both are in one province, otherwise the SPC. When a superior court commissions a court in its own
  subtree, the requester is that court (杭州市中级人民法院 → 杭州市西湖区人民法院: 杭州中院 supervises);
  when a court commissions one of its own superiors, the supervisor is above the target, never the
  target itself, because the target's superior is who the requester may ask to order the work done.
- **Refused**: a malformed region code (not six ASCII digits), a code that is not a division in the
  directory (an unknown or abolished code is not guessed at: routing a mistyped code to its prefecture
  would send the request to the wrong court), and a location for which the requester itself is the
  court with jurisdiction — a court does not commission itself. A superior court may commission any
  other court in its subtree.

Decisions use only the in-memory `CourtDirectory`: a handful of dict lookups, no query.
"""

from __future__ import annotations

from dataclasses import dataclass

from command_center.courts.dataset import SUPREME_COURT_CODE
from command_center.courts.directory import CourtDirectory, CourtEntry
from command_center.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    target: CourtEntry
    supervisor: CourtEntry


def _refuse(message: str, *, reason: str, region_code: object) -> InvalidInput:
    return InvalidInput(message, details={"field": "region_code", "reason": reason, "value": region_code})


def jurisdiction(directory: CourtDirectory, region_code: str) -> CourtEntry:
    """The active court with territorial jurisdiction over `region_code`; InvalidInput if none."""
    if not (
        isinstance(region_code, str)
        and len(region_code) == 6
        and region_code.isascii()
        and region_code.isdigit()
    ):
        raise _refuse(
            f"The region code {region_code!r} is not a 6-digit GB/T 2260 code.",
            reason="malformed",
            region_code=region_code,
        )
    entry = directory.get(region_code)
    if entry is None or region_code == SUPREME_COURT_CODE:
        raise _refuse(
            f"The region code {region_code} is not an administrative division in the court directory.",
            reason="unknown",
            region_code=region_code,
        )
    if entry.active:
        return entry
    # The division left the dataset: its basic court is inactive, so the prefecture's court (then the
    # province's) has jurisdiction. Codes nest, so the superiors are exactly those prefixes.
    for superior in directory.ancestors(region_code):
        if superior.active and superior.code != SUPREME_COURT_CODE:
            return superior
    raise _refuse(
        f"No active court has jurisdiction over region {region_code}.",
        reason="no_court",
        region_code=region_code,
    )


def route(directory: CourtDirectory, *, from_court: str, region_code: str) -> RoutingDecision:
    """Picks the target and supervising courts for work at `region_code` requested by `from_court`."""
    requester = directory.require(from_court, field="from_court")
    target = jurisdiction(directory, region_code)
    if target.code == requester.code:
        raise _refuse(
            f"Region {region_code} is within the jurisdiction of {requester.name} itself; "
            "a court does not send an assistance request to itself.",
            reason="own_jurisdiction",
            region_code=region_code,
        )
    # The target is never the SPC (000000 is not a location), so it always has a superior.
    supervisor = directory.lowest_common(requester.code, target.superior_code)  # type: ignore[arg-type]
    return RoutingDecision(target=target, supervisor=supervisor)
