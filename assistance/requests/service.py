"""The public interface of assistance requests, for routes, other domains and scheduler jobs.

- intake:   `create_request`, `replay_submission`
- actions:  `take_action`, `deem_withdrawn` (the supplement deadline's system act)
- reading:  `get_request`, `get_visible_request`, `request_unit_of_work`, `request_read`,
            `list_requests`, `count_requests`
- clocks:   `implied_pending_kinds`, `pending_deadlines`, `list_deadlines`, `due_deadlines`, `mark_missed`
"""

from __future__ import annotations

from assistance.requests.actions import deem_withdrawn, take_action
from assistance.requests.deadlines import (
    due_deadlines,
    implied_pending_kinds,
    list_deadlines,
    mark_missed,
    pending_deadlines,
)
from assistance.requests.intake import Submission, create_request, replay_submission
from assistance.requests.lifecycle import ACTIONS, TRANSITIONS, allowed_actions
from assistance.requests.queries import (
    RequestHidden,
    count_requests,
    get_request,
    get_visible_request,
    is_visible,
    list_requests,
    request_unit_of_work,
)
from assistance.requests.reads import request_read

__all__ = [
    "ACTIONS",
    "TRANSITIONS",
    "RequestHidden",
    "Submission",
    "allowed_actions",
    "count_requests",
    "create_request",
    "deem_withdrawn",
    "due_deadlines",
    "get_request",
    "get_visible_request",
    "implied_pending_kinds",
    "is_visible",
    "list_deadlines",
    "list_requests",
    "mark_missed",
    "pending_deadlines",
    "replay_submission",
    "request_read",
    "request_unit_of_work",
    "take_action",
]
