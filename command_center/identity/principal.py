"""Who is calling: a signed-in user or a court system with an API token."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    admin = "admin"
    command_staff = "command_staff"
    officer = "officer"
    clerk = "clerk"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "user" or "token"
    id: int  # user id or API token id
    name: str  # username or token name
    court_code: str
    role: Role  # a court system's token acts with the clerk's role in its court
    session_id: int | None = None
    # A session of a user who must set up two-factor sign-in first: it may do nothing else.
    setup_only: bool = False

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"
