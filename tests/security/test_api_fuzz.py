"""Fuzzing the HTTP API from its own `/openapi.json`: no 5xx and no response that breaks its schema.

Every operation gets generated valid (positive) and invalid (negative) requests, once with random path
parameters and once aimed at real records (a case, a request between two courts, its attachment), as
a clerk signed in with a session cookie and CSRF token, and as a court system with an API token.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from schemathesis.generation import GenerationMode

from tests.realtime.factories import REQUESTER, TARGET
from tests.security.fuzzing import Failure, generate, load_schema, operations, send_and_check
from tests.security.seeding import seed


async def fuzz(
    document: dict[str, Any], http: httpx.AsyncClient, real: dict[str, str]
) -> tuple[int, list, int]:
    """Sends every generated case; returns how many were sent, the failures, and how many succeeded."""
    schema = load_schema(document)
    sent, failures, succeeded = 0, [], 0
    for operation in operations(schema):
        names = {p.name for p in operation.path_parameters}
        targets: list[dict[str, str] | None] = [None]
        if names and names <= set(real):
            targets.append({name: real[name] for name in names})
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            for path_parameters in targets:
                strategy_kwargs = {"path_parameters": path_parameters} if path_parameters else {}
                for case in generate(operation, mode, **strategy_kwargs):
                    response, failure = await send_and_check(http, case)
                    sent += 1
                    succeeded += response is not None and response.status_code < 300
                    if failure is not None:
                        failures.append(failure)
                    signed_out = response is not None and response.status_code == 204
                    if signed_out and operation.path == "/api/v1/session":
                        await http.relogin()  # type: ignore[attr-defined]
    return sent, failures, succeeded


def report(failures: list[Failure]) -> str:
    """One failure per operation and status, with Schemathesis's explanation."""
    first: dict[tuple[str, int], Failure] = {}
    for failure in failures:
        first.setdefault((failure.label, failure.status), failure)
    return "\n\n".join(f"{f.label} -> {f.status}\n{f.message}" for f in first.values())


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


async def test_the_api_survives_fuzzing_as_a_signed_in_clerk(
    document: dict[str, Any], make_user: Any, login: Any, services: Any
) -> None:
    clerk = await make_user("clerk", REQUESTER)
    http = await login(clerk)

    async def relogin() -> None:
        # The fuzzed sign-ins have locked this address by now: the session is opened directly.
        from command_center.identity import service as identity
        from command_center.identity.models import User

        async with services.db.unit_of_work() as session:
            user = await session.get(User, clerk.id)
            login_session, cookie = await identity.open_session(
                session, user=user, settings=services.settings, ip="127.0.0.1", user_agent="fuzz"
            )
        http.cookies.clear()
        http.headers["Cookie"] = f"cc_session={cookie}"
        http.headers["X-CSRF-Token"] = login_session.csrf_token

    http.relogin = relogin  # type: ignore[attr-defined]
    real = await seed(http)
    sent, failures, succeeded = await fuzz(document, http, real)
    assert (await http.get("/api/v1/me")).status_code == 200  # still signed in: the cases went deep
    assert sent > 500 and succeeded > 100, (sent, succeeded)
    assert not failures, f"{len(failures)} of {sent} responses failed:\n\n{report(failures)}"


async def test_the_api_survives_fuzzing_as_a_court_system(
    document: dict[str, Any], make_token: Any, make_user: Any, login: Any, app: Any
) -> None:
    from tests.conftest import new_client

    real = await seed(await login(await make_user("clerk", REQUESTER)))
    token = await make_token(TARGET)
    async with new_client(app) as http:
        http.headers["Authorization"] = f"Bearer {token}"
        sent, failures, succeeded = await fuzz(document, http, real)
        assert (await http.get("/api/v1/me")).status_code == 200  # still signed in: the cases went deep
    assert sent > 500 and succeeded > 100, (sent, succeeded)
    assert not failures, f"{len(failures)} of {sent} responses failed:\n\n{report(failures)}"
