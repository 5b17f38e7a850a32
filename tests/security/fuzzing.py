"""Schemathesis cases for the app's own OpenAPI document, sent in-process on the test's event loop.

Schemathesis's ASGI transport runs the app through Starlette's synchronous TestClient, on a loop of
its own; the app under test shares the test's database connection and must stay on the test's loop.
So the cases are generated with Hypothesis first (derandomized, no example database), then sent with
an `httpx.AsyncClient` over `httpx.ASGITransport`, and each response is judged by Schemathesis's
checks: no server error, a documented status, content type, headers and body schema.

`CC_FUZZ_EXAMPLES` sets the examples per operation, generation mode and path target (6 by default,
about 1,500 requests per caller, which keeps the suite's run short; a longer run sets, say, 200).
Generated cases are kept for the run, so each caller is sent the same ones.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES = int(os.environ.get("CC_FUZZ_EXAMPLES", "6"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Credentials are the fixture's: whatever the generator puts there is dropped.
AUTH_HEADERS = {"authorization", "x-csrf-token", "cookie"}


def load_schema(document: dict[str, Any]) -> Any:
    return schemathesis.openapi.from_dict(document)


def operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


_generated: dict[tuple[str, str, str, tuple[tuple[str, str], ...]], list[Any]] = {}


def generate(
    operation: Any, mode: GenerationMode, examples: int = EXAMPLES, **strategy_kwargs: Any
) -> list[Any]:
    """Up to `examples` distinct cases for one operation, the same ones on every run."""
    key = (
        operation.method,
        operation.path,
        mode.value,
        tuple(sorted((strategy_kwargs.get("path_parameters") or {}).items())),
    )
    if key in _generated:
        return _generated[key]
    cases: list[Any] = _generated.setdefault(key, [])

    @hypothesis.settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode, **strategy_kwargs))
    def collect(case: Any) -> None:
        cases.append(case)

    try:
        collect()
    except hypothesis.errors.Unsatisfiable:  # nothing to break: an operation without inputs
        pass
    return cases


@dataclass
class Failure:
    label: str
    status: int
    message: str


def _request_kwargs(case: Any) -> dict[str, Any]:
    kwargs = case.as_transport_kwargs(base_url="http://testserver")
    headers = {k: v for k, v in (kwargs.get("headers") or {}).items() if k.lower() not in AUTH_HEADERS}
    out: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "params": kwargs.get("params"),
        "headers": headers,
    }
    cookies = {k: v for k, v in (kwargs.get("cookies") or {}).items() if k != "cc_session"}
    if cookies:
        out["headers"]["cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    if "data" in kwargs:
        data = kwargs["data"]
        out["content" if isinstance(data, bytes | str) else "data"] = data
    if "files" in kwargs:
        out["files"] = kwargs["files"]
    return out


async def send_and_check(
    client: httpx.AsyncClient, case: Any, *, prepare: Callable[[Any], None] | None = None
) -> tuple[httpx.Response | None, Failure | None]:
    """Sends one case with the client's credentials and runs the checks; a failure is returned, not
    raised, so one run reports every broken operation."""
    if prepare is not None:
        prepare(case)
    label = f"{case.method} {case.operation.path}"
    kwargs = _request_kwargs(case)
    if "cookie" in kwargs["headers"]:  # the generated cookies go with the caller's session cookie
        own = [f"{k}={v}" for k, v in client.cookies.items()]
        own += [client.headers["cookie"]] if "cookie" in client.headers else []
        kwargs["headers"]["cookie"] = "; ".join([*own, kwargs["headers"]["cookie"]])
    try:
        request = client.build_request(**kwargs)
        await request.aread()  # a multipart body is a stream; the checks read it again
    except (TypeError, ValueError, AttributeError):
        return None, None  # a body no HTTP client can encode (an int as a file): nothing to send
    try:
        response = await client.send(request)
    except Exception as exc:  # noqa: BLE001 - the app raised through the transport: a server error
        return None, Failure(label, 500, f"{type(exc).__name__}: {exc}")
    try:
        case.validate_response(response, checks=CHECKS)
    except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 - a FailureGroup, or a check that broke
        return response, Failure(label, response.status_code, str(exc)[:1500])
    return response, None
