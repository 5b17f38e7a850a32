"""The assistance request lifecycle (DESIGN.md §3) as a data table: which action moves a request from
which states to which, who may take it, and which statutory clocks it satisfies.

```
submitted ─route→ routed ─file→ filed ─start→ in_progress ─complete→ completed
   routed/filed/in_progress ─request_supplement→ awaiting_supplement ─supplement→ (back where it was)
   awaiting_supplement ─(30 days, no answer)→ withdrawn (deemed; a system act, see actions.deem_withdrawn)
   routed/filed ─reject(reason)→ rejected ─reroute (command staff)→ routed (new target)
   any open state ─withdraw (requester)→ withdrawn
```

A new request never rests in `submitted`: routing happens in the transaction that stores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from assistance.enums import DeadlineKind, RequestStatus
from command_center.identity.principal import Principal, Role

if TYPE_CHECKING:
    from assistance.requests.models import AssistanceRequest
    from command_center.courts.directory import CourtDirectory

S = RequestStatus
K = DeadlineKind
WORKING_ROLES = frozenset({Role.clerk, Role.officer})  # an API token acts as a clerk of its court


class Party(StrEnum):
    """Who may take an action."""

    target = "target"  # the target court's clerks and officers (its court system's token acts as a clerk)
    requester = "requester"  # the requesting court's clerks and officers (or its court system)
    supervisor = "supervisor"  # command staff whose scope holds the supervising court

    @property
    def description(self) -> str:
        return {
            Party.target: "the target court's clerks and officers (or its court system)",
            Party.requester: "the requesting court's clerks and officers (or its court system)",
            Party.supervisor: "command staff of the supervising court or of a court above it",
        }[self]


@dataclass(frozen=True, slots=True)
class Transition:
    action: str
    sources: frozenset[RequestStatus]
    # None: the request returns to the state it was in when the supplement was requested.
    to: RequestStatus | None
    party: Party
    past_tense: str  # the event is "assistance:<past_tense>", the audit action "assistance.<past_tense>"
    # Pending deadlines this action satisfies (met); every other pending deadline that the new state
    # does not imply is cancelled.
    meets: frozenset[DeadlineKind] = frozenset()
    # True: the clocks the new state implies start afresh on the day of the action.
    starts_clocks: bool = False


TRANSITIONS: dict[str, Transition] = {
    t.action: t
    for t in (
        Transition("file", frozenset({S.routed}), S.filed, Party.target, "filed", meets=frozenset({K.file})),
        Transition(
            "start", frozenset({S.filed}), S.in_progress, Party.target, "started", meets=frozenset({K.start})
        ),
        Transition(
            "complete",
            frozenset({S.in_progress}),
            S.completed,
            Party.target,
            "completed",
            meets=frozenset({K.report}),
        ),
        Transition(
            "request_supplement",
            frozenset({S.routed, S.filed, S.in_progress}),
            S.awaiting_supplement,
            Party.target,
            "supplement_requested",
            starts_clocks=True,
        ),
        Transition(
            "supplement",
            frozenset({S.awaiting_supplement}),
            None,
            Party.requester,
            "supplemented",
            meets=frozenset({K.supplement}),
            starts_clocks=True,
        ),
        Transition("reject", frozenset({S.routed, S.filed}), S.rejected, Party.target, "rejected"),
        Transition(
            "withdraw",
            frozenset({S.routed, S.filed, S.in_progress, S.awaiting_supplement, S.rejected}),
            S.withdrawn,
            Party.requester,
            "withdrawn",
        ),
        Transition(
            "reroute", frozenset({S.rejected}), S.routed, Party.supervisor, "rerouted", starts_clocks=True
        ),
    )
}
ACTIONS: tuple[str, ...] = tuple(TRANSITIONS)


def actions_in_state(status: RequestStatus) -> list[str]:
    """The actions the lifecycle allows from `status`, whoever takes them."""
    return [name for name, t in TRANSITIONS.items() if status in t.sources]


def is_party(
    party: Party, principal: Principal, request: AssistanceRequest, directory: CourtDirectory
) -> bool:
    """True when `principal` is among those who may take `party`'s actions on `request`."""
    if party is Party.target:
        return principal.court_code == request.target_court and principal.role in WORKING_ROLES
    if party is Party.requester:
        return principal.court_code == request.requesting_court and principal.role in WORKING_ROLES
    return (
        principal.kind == "user"
        and principal.role == Role.command_staff
        and directory.is_within(request.supervising_court, principal.court_code)
    )


def allowed_actions(principal: Principal, request: AssistanceRequest, directory: CourtDirectory) -> list[str]:
    """The actions `principal` may take on `request` now (state and role and court)."""
    status = RequestStatus(request.status)
    return [
        name
        for name, t in TRANSITIONS.items()
        if status in t.sources and is_party(t.party, principal, request, directory)
    ]


def next_status(transition: Transition, request: AssistanceRequest) -> RequestStatus:
    """The state `transition` moves `request` to."""
    if transition.to is not None:
        return transition.to
    assert request.status_before_supplement is not None, "a supplement needs the state it interrupted"
    return RequestStatus(request.status_before_supplement)
