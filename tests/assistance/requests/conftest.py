"""Fixtures for assistance request tests: submitting requests and taking actions through the services.

The courts used throughout (routing engine decisions):

    330106 杭州市西湖区人民法院  requests work at region 330102, so
    330102 杭州市上城区人民法院  is the target, and
    330100 杭州市中级人民法院    supervises; above it is
    330000 浙江省高级人民法院; and
    320102 南京市玄武区人民法院 has nothing to do with the request.

Every service call takes an explicit instant (`ROUTED_AT` by default), so no test depends on the clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from assistance.requests import actions, intake
from assistance.requests.lifecycle import TRANSITIONS, Party
from assistance.requests.models import AssistanceRequest
from assistance.requests.queries import get_request
from assistance.requests.schemas import ACTION_BODIES, RequestCreate
from command_center.calendar.periods import SHANGHAI
from command_center.identity.principal import Principal

REQUESTER, TARGET, SUPERVISOR, ABOVE, UNRELATED = "330106", "330102", "330100", "330000", "320102"
ROUTED_AT = datetime(2026, 3, 10, 10, 0, tzinfo=SHANGHAI)  # a Tuesday

# Valid action fields (besides the version) for each action.
ACTION_FIELDS: dict[str, dict[str, Any]] = {
    "file": {},
    "start": {},
    "complete": {"result_text": "已冻结被执行人账户存款人民币50,000元"},
    "request_supplement": {"missing": "请补充协助执行通知书原件"},
    "supplement": {"note": "已补充协助执行通知书", "materials": ["assistance_notice"]},
    "reject": {"reason": "wrong_jurisdiction", "note": "财产不在本院辖区"},
    "withdraw": {"reason": "被执行人已自动履行"},
    "reroute": {"region_code": "330108", "reason": "财产实际位于滨江区"},
}
# The shortest path of actions from a new (routed) request to a state where `action` is allowed.
PATH_TO: dict[str, list[str]] = {
    "file": [],
    "start": ["file"],
    "complete": ["file", "start"],
    "request_supplement": [],
    "supplement": ["request_supplement"],
    "reject": [],
    "withdraw": [],
    "reroute": ["reject"],
}


def request_body(case_record: Any, **overrides: Any) -> dict[str, Any]:
    """A valid `POST /api/v1/assistance-requests` body for the first respondent of `case_record`."""
    body: dict[str, Any] = {
        "case_id": case_record.case.id,
        "matter_type": "freeze_deposits",
        "subject_id": case_record.respondents[0].id,
        "location": {"region_code": TARGET, "address": "杭州市上城区解放路100号 中国银行杭州分行"},
        "urgency": "normal",
        "description": "冻结被执行人在该行的存款",
        "materials": ["ruling", "assistance_notice"],
    }
    body.update(overrides)
    return body


@pytest.fixture
def actor_for(principal_of: Callable[..., Principal]) -> Callable[[str], Principal]:
    """A principal who may take `action` on a request between the standard courts."""

    def build(action: str) -> Principal:
        party = TRANSITIONS[action].party
        if party is Party.target:
            return principal_of(TARGET, "officer")
        if party is Party.requester:
            return principal_of(REQUESTER, "clerk")
        return principal_of(SUPERVISOR, "command_staff")

    return build


@pytest.fixture
def submit(
    test_db: Any, court_directory: Any, legal_calendar: Any, principal_of: Any, make_case: Any
) -> Callable[..., Awaitable[AssistanceRequest]]:
    """Submits a request through `intake.create_request` (default: a freeze at 330102 by 330106's clerk)."""

    async def run(
        *,
        case: Any = None,
        principal: Principal | None = None,
        now: datetime = ROUTED_AT,
        idempotency_key: str | None = None,
        **overrides: Any,
    ) -> AssistanceRequest:
        case = case or await make_case(REQUESTER)
        data = RequestCreate.model_validate(request_body(case, **overrides))
        async with test_db.unit_of_work() as s:
            submission = await intake.create_request(
                s,
                principal=principal or principal_of(REQUESTER, "clerk"),
                directory=court_directory,
                calendar=legal_calendar,
                data=data,
                idempotency_key=idempotency_key,
                now=now,
            )
            return submission.request

    return run


@pytest.fixture
def act(
    test_db: Any, court_directory: Any, legal_calendar: Any, actor_for: Any
) -> Callable[..., Awaitable[AssistanceRequest]]:
    """Takes `action` on request `request_id` through `actions.take_action` with the current version
    (unless `version=` is given) and the standard fields (overridable)."""

    async def run(
        request_id: int,
        action: str,
        *,
        principal: Principal | None = None,
        now: datetime = ROUTED_AT,
        version: int | None = None,
        **fields: Any,
    ) -> AssistanceRequest:
        async with test_db.unit_of_work() as s:
            if version is None:
                current = await get_request(s, request_id=request_id)
                assert current is not None
                version = current.version
            body = ACTION_BODIES[action].model_validate(
                {**ACTION_FIELDS[action], **fields, "version": version}
            )
            return await actions.take_action(
                s,
                principal=principal or actor_for(action),
                directory=court_directory,
                calendar=legal_calendar,
                request_id=request_id,
                action=action,
                data=body,
                now=now,
            )

    return run


@pytest.fixture
def request_in_state_for(submit: Any, act: Any) -> Callable[..., Awaitable[AssistanceRequest]]:
    """A new request moved to a state where `action` is allowed."""

    async def run(action: str, **submit_kw: Any) -> AssistanceRequest:
        request = await submit(**submit_kw)
        assert request.id is not None
        for step in PATH_TO[action]:
            request = await act(request.id, step)
        return request

    return run
