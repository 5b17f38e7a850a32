"""Which courts' records a caller may see. A security boundary: every read and every room join asks here.

Rules:
- a user sees their own court;
- command staff see their court's whole subtree (a high court's command center supervises every
  court in its province), and the Supreme People's Court's command staff therefore see everything;
- admins see their own court (user, token and calendar administration is authorized separately);
- an API token sees the court it was issued to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from command_center.identity.principal import Principal, Role

if TYPE_CHECKING:
    from command_center.courts.directory import CourtDirectory


@dataclass(frozen=True)
class CourtScope:
    """The set of courts a caller may see: one court, or a court and everything below it."""

    root: str  # the caller's court
    subtree: bool  # True: `root` and every court below it; False: `root` only
    directory: CourtDirectory

    @property
    def everything(self) -> bool:
        """True when the scope holds every court (the SPC's subtree)."""
        return self.subtree and self.root == self.directory.supreme.code

    @property
    def codes(self) -> frozenset[str]:
        """Every visible court code (for `IN` filters; prefer `filter` on large scopes)."""
        if not self.subtree:
            return frozenset({self.root}) if self.root in self.directory else frozenset()
        return self.directory.subtree_codes(self.root)

    @property
    def prefix(self) -> str | None:
        """The code prefix that selects exactly a subtree scope ("" for everything); None for one court."""
        if not self.subtree or self.root not in self.directory:
            return None
        return self.directory.jurisdiction_prefix(self.root)

    def includes(self, court_code: str | None) -> bool:
        """True when the scope holds `court_code` (never for None or an unknown code)."""
        if court_code is None:
            return False
        if not self.subtree:
            return court_code == self.root and court_code in self.directory
        # The directory follows the superior links, which is right even where a code's digits and
        # the court tree disagree (county-level cities administered directly by a province).
        return self.directory.is_within(court_code, self.root)

    def filter(self, column: Any) -> sa.ColumnElement[bool]:
        """A SQL condition on a court-code column that holds exactly the visible courts."""
        if self.everything:
            return sa.true()
        if not self.subtree:
            return column == self.root
        return column.in_(sorted(self.codes))


def court_scope(principal: Principal, directory: CourtDirectory) -> CourtScope:
    """The courts `principal` may see (see the module docstring for the rules)."""
    subtree = principal.kind == "user" and principal.role == Role.command_staff
    return CourtScope(root=principal.court_code, subtree=subtree, directory=directory)


def can_see_request(
    scope: CourtScope, *, requesting_court: str, target_court: str, supervising_court: str | None
) -> bool:
    """An assistance request is visible to the requester's, the target's and the supervisor's scopes."""
    return any(scope.includes(code) for code in (requesting_court, target_court, supervising_court))
