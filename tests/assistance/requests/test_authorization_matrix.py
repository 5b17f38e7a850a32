"""The authorization matrix: every request endpoint and action × every role × every court's relation to
the request, against the table below (HTTP status codes).

Courts (see conftest): requesting 330106 → target 330102, supervised by 330100; above it 330000;
unrelated 320102. A court system's token acts as a clerk of its court. Each action is tried on a request
in a state where the lifecycle allows it, so the table shows authorization alone: 404 where the caller
may not see the request, 403 where they see it but the action is someone else's.
"""

from __future__ import annotations

from typing import Any

from tests.assistance.requests.conftest import (
    ABOVE,
    ACTION_FIELDS,
    REQUESTER,
    SUPERVISOR,
    TARGET,
    UNRELATED,
    request_body,
)

BASE = "/api/v1/assistance-requests"
ROLES = ("admin", "command_staff", "officer", "clerk", "token")
PLACES = (REQUESTER, TARGET, SUPERVISOR, ABOVE, UNRELATED)

_ALL_OK = {role: (200, 200, 200, 200, 200) for role in ROLES}
# The target court's clerks, officers and court system work the request.
_TARGET_WORK = {
    #                requesting target supervising above unrelated
    "admin": (403, 403, 403, 404, 404),
    "command_staff": (403, 403, 403, 403, 404),
    "officer": (403, 200, 403, 404, 404),
    "clerk": (403, 200, 403, 404, 404),
    "token": (403, 200, 403, 404, 404),
}
# The requesting court's clerks, officers and court system answer and withdraw.
_REQUESTER_WORK = {
    "admin": (403, 403, 403, 404, 404),
    "command_staff": (403, 403, 403, 403, 404),
    "officer": (200, 403, 403, 404, 404),
    "clerk": (200, 403, 403, 404, 404),
    "token": (200, 403, 403, 404, 404),
}

EXPECTED: dict[str, dict[str, tuple[int, ...]]] = {
    "submit": {
        #                requesting target supervising above unrelated
        "admin": (403, 403, 403, 403, 403),
        "command_staff": (403, 403, 403, 403, 403),
        "officer": (201, 403, 403, 403, 403),
        "clerk": (201, 403, 403, 403, 403),
        "token": (201, 403, 403, 403, 403),
    },
    "list": _ALL_OK,
    "export": _ALL_OK,
    "read": {
        "admin": (200, 200, 200, 404, 404),
        "command_staff": (200, 200, 200, 200, 404),
        "officer": (200, 200, 200, 404, 404),
        "clerk": (200, 200, 200, 404, 404),
        "token": (200, 200, 200, 404, 404),
    },
    "file": _TARGET_WORK,
    "start": _TARGET_WORK,
    "complete": _TARGET_WORK,
    "request_supplement": _TARGET_WORK,
    "reject": _TARGET_WORK,
    "supplement": _REQUESTER_WORK,
    "withdraw": _REQUESTER_WORK,
    "reroute": {
        "admin": (403, 403, 403, 404, 404),
        "command_staff": (403, 403, 200, 200, 404),
        "officer": (403, 403, 403, 404, 404),
        "clerk": (403, 403, 403, 404, 404),
        "token": (403, 403, 403, 404, 404),
    },
}


async def _callers(make_user: Any, login: Any, make_token: Any, client: Any) -> dict[tuple[str, str], Any]:
    callers: dict[tuple[str, str], Any] = {}
    for place in PLACES:
        for role in ROLES[:4]:
            callers[(role, place)] = (await login(await make_user(role, place)), {})
        callers[("token", place)] = (client, {"Authorization": f"Bearer {await make_token(place)}"})
    return callers


async def test_every_endpoint_for_every_role_and_court_matches_the_table(
    client: Any, make_user: Any, login: Any, make_token: Any, make_case: Any, request_in_state_for: Any
) -> None:
    callers = await _callers(make_user, login, make_token, client)
    case = await make_case(REQUESTER)
    mismatches = []
    for endpoint, table in EXPECTED.items():
        request = None
        for role, codes in table.items():
            for place, expected in zip(PLACES, codes, strict=True):
                if request is None:
                    request = await request_in_state_for(endpoint if endpoint in ACTION_FIELDS else "file")
                http, headers = callers[(role, place)]
                url = f"{BASE}/{request.id}"
                if endpoint == "submit":
                    response = await http.post(BASE, json=request_body(case), headers=headers)
                elif endpoint == "list":
                    response = await http.get(BASE, params={"view": "outgoing"}, headers=headers)
                elif endpoint == "export":
                    response = await http.get(f"{BASE}/export.csv", headers=headers)
                elif endpoint == "read":
                    response = await http.get(url, headers=headers)
                else:
                    body = {**ACTION_FIELDS[endpoint], "version": request.version}
                    response = await http.post(f"{url}/{endpoint}", json=body, headers=headers)
                    if response.status_code == 200:
                        request = None  # the action moved it on: the next caller gets a fresh one
                if response.status_code != expected:
                    mismatches.append(
                        (endpoint, role, place, expected, response.status_code, response.text[:200])
                    )
    assert mismatches == []
