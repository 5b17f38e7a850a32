"""Thin-route plumbing: parse, authenticate, call one service, return a read schema.

Each route is declared once with its body, query and response models; the same declaration feeds
Starlette's router and the OpenAPI document.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from command_center.errors import InvalidInput, NotAuthenticated, PayloadTooLarge, field_errors
from command_center.logging import court_var, user_var

if TYPE_CHECKING:
    from command_center.identity.principal import Principal
    from command_center.services import Services

T = TypeVar("T")
MAX_JSON_BODY = 1024 * 1024
JSON_MEDIA_TYPE = JSONResponse.media_type


MAX_ROW_ID = 2**31 - 1  # key columns are 32-bit INTEGER (PostgreSQL's int4)


class RowIdConvertor(IntegerConvertor):
    """`{name:int}` in a path: 0 to 2147483647, so every match fits a key column (a larger number is
    simply no such address, a 404, instead of an out-of-range error in the database driver)."""

    regex = (
        "(?:214748364[0-7]|21474836[0-3][0-9]|2147483[0-5][0-9]{2}|214748[0-2][0-9]{3}|21474[0-7][0-9]{4}"
        "|2147[0-3][0-9]{5}|214[0-6][0-9]{6}|21[0-3][0-9]{7}|20[0-9]{8}|1[0-9]{9}|[0-9]{1,9})"
    )


# Every router's paths are compiled after this module is imported, so they all use it.
register_url_convertor("int", RowIdConvertor())


class Schema(BaseModel):
    """Base of every request and response schema: unknown fields in a request are an error, and an
    identifier (`id`, `<thing>_id`) must fit a key column."""

    model_config = ConfigDict(extra="forbid", from_attributes=True)

    @model_validator(mode="after")
    def _identifiers_fit_key_columns(self) -> Self:
        for name in _identifier_fields(type(self)):
            value = getattr(self, name)
            if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_ROW_ID:
                raise ValueError(f"{name} must be an identifier between 0 and {MAX_ROW_ID}")
        return self


@functools.cache
def _identifier_fields(schema: type[BaseModel]) -> tuple[str, ...]:
    return tuple(name for name in schema.model_fields if name == "id" or name.endswith("_id"))


class PageQuery(Schema):
    page: int = Field(1, ge=1, le=100_000, description="1-based page number")
    page_size: int = Field(20, ge=1, le=200, description="items per page (at most 200)")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    page_size: int


@dataclass
class Call:
    """Everything a route handler needs, already parsed and authenticated."""

    request: Request
    services: Services
    principal: Principal | None
    body: Any = None
    query: Any = None

    @property
    def path(self) -> dict[str, Any]:
        return self.request.path_params

    @property
    def user(self) -> Principal:
        if self.principal is None:  # only reachable on a route declared auth=False
            raise NotAuthenticated("Please sign in.")
        return self.principal


Handler = Callable[[Call], Awaitable[Any]]


@dataclass
class Operation:
    method: str
    path: str
    handler: Handler
    summary: str
    tags: list[str]
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any
    status: int
    auth: bool
    csrf: bool
    raw_response: str | tuple[str, ...] | None = None  # media type(s) of a non-JSON response (CSV, files)
    raw_body: dict[str, Any] | None = None  # OpenAPI content of a non-JSON body (multipart uploads)
    extra_responses: dict[int, str] = field(default_factory=dict)


class Router:
    """Collects operations; `app.py` mounts every router's routes."""

    def __init__(self, prefix: str = "", tags: list[str] | None = None) -> None:
        self.prefix = prefix
        self.tags = tags or []
        self.operations: list[Operation] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        response: Any = None,
        status: int = 200,
        auth: bool = True,
        csrf: bool = True,
        raw_response: str | tuple[str, ...] | None = None,
        raw_body: dict[str, Any] | None = None,
        extra_responses: dict[int, str] | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.operations.append(
                Operation(
                    method=method.upper(),
                    path=self.prefix + path,
                    handler=handler,
                    summary=summary,
                    tags=self.tags,
                    body=body,
                    query=query,
                    response=response,
                    status=status,
                    auth=auth,
                    csrf=csrf,
                    raw_response=raw_response,
                    raw_body=raw_body,
                    extra_responses=extra_responses or {},
                )
            )
            return handler

        return register

    def get(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, **kw)

    def delete(self, path: str, **kw: Any) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, **kw)

    def starlette_routes(self) -> list[Route]:
        return [Route(op.path, _endpoint(op), methods=[op.method]) for op in self.operations]


def parse_model(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc.errors())
        first = errors[0]
        raise InvalidInput(f"Invalid {where}: {first['field']}: {first['message']}", details=errors) from None


async def read_json(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_JSON_BODY:
        raise PayloadTooLarge(f"The request body exceeds {MAX_JSON_BODY // 1024} KiB.")
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"The request body is not valid JSON ({exc}).") from None


def _endpoint(op: Operation) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services
        principal = await services.authenticator.authenticate(request, csrf_required=op.csrf)
        request.state.principal = principal
        if principal is not None:
            user_var.set(principal.label)
            court_var.set(principal.court_code)
        if op.auth and principal is None:
            raise NotAuthenticated("Please sign in, or send a valid API token.")
        call = Call(request=request, services=services, principal=principal)
        if op.query is not None:
            call.query = parse_model(op.query, dict(request.query_params), "query parameter")
        if op.body is not None:
            call.body = parse_model(op.body, await read_json(request), "request body")
        result = await op.handler(call)
        if isinstance(result, Response):
            return result
        return json_response(result, status=op.status)

    endpoint.__name__ = op.handler.__name__
    return endpoint


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [to_jsonable(v) for v in value]
    return value


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if status == 204:
        return Response(status_code=204, headers=headers)
    if isinstance(value, BaseModel):  # encoded by pydantic in one step, as JSONResponse would write it
        return Response(
            value.model_dump_json(), status_code=status, headers=headers, media_type=JSON_MEDIA_TYPE
        )
    return JSONResponse(to_jsonable(value), status_code=status, headers=headers)
