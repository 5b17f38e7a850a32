"""`/api/v1/session` (sign in, sign out), `/api/v1/me`, and `/api/v1/api-tokens` (court systems' tokens)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from command_center.api import Call, Page, Router, json_response
from command_center.courts.directory import CourtDirectory
from command_center.errors import Forbidden, InvalidInput, NotFound
from command_center.identity import service
from command_center.identity import sign_in as sign_in_flow
from command_center.identity.auth import SESSION_COOKIE
from command_center.identity.models import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenQuery,
    ApiTokenRead,
    CourtSummary,
    MeRead,
    SecondFactorBody,
    SecondFactorChallenge,
    SignedIn,
    SignInBody,
    User,
)
from command_center.identity.principal import Principal, Role
from command_center.settings import Settings

router = Router(prefix="/api/v1", tags=["identity"])


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _court(directory: CourtDirectory, code: str) -> CourtSummary:
    entry = directory.require(code)
    return CourtSummary(code=entry.code, name=entry.name, level=entry.level.value)


def _me_of_user(user: User, directory: CourtDirectory, *, auth: str) -> MeRead:
    assert user.id is not None
    return MeRead(
        id=user.id,
        kind="user",
        username=user.username,
        display_name=user.display_name,
        role=user.role,
        court=_court(directory, user.court_code),
        auth=auth,
    )


def _set_session_cookie(response: Response, value: str, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=settings.session_hours * 3600,
        path="/",
        secure=settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )


def _signed_in_response(call: Call, signed_in: sign_in_flow.SignIn) -> Response:
    services = call.services
    result = SignedIn(
        user=_me_of_user(signed_in.user, services.directory, auth="session"),
        csrf_token=signed_in.login_session.csrf_token,
        second_factor_setup_required=signed_in.setup_only,
    )
    response = json_response(result)
    _set_session_cookie(response, signed_in.cookie_token, services.settings)
    return response


@router.post(
    "/session",
    summary="Sign in with username and password: sets the session cookie and returns the CSRF token; "
    "a user with two-factor sign-in gets 202 and a challenge to finish at /api/v1/session/second-factor",
    body=SignInBody,
    response=SignedIn,
    auth=False,
    csrf=False,
    extra_responses={
        202: "second factor required: a SecondFactorChallenge (no cookie yet)",
        401: "wrong username or password",
        429: "too many failed sign-ins: try again after Retry-After seconds",
    },
)
async def create_session(call: Call) -> Response:
    body: SignInBody = call.body
    services = call.services
    outcome = await sign_in_flow.sign_in(
        services.db,
        settings=services.settings,
        username=body.username,
        password=body.password,
        ip=client_ip(call.request),
        user_agent=call.request.headers.get("user-agent"),
    )
    if isinstance(outcome, sign_in_flow.SecondFactorRequired):
        challenge = SecondFactorChallenge(
            challenge=outcome.challenge, expires_in=outcome.expires_in, methods=["totp", "recovery_code"]
        )
        return json_response(challenge, status=202)
    return _signed_in_response(call, outcome)


@router.post(
    "/session/second-factor",
    summary="Finish a two-factor sign-in with the challenge and a TOTP code or a recovery code",
    body=SecondFactorBody,
    response=SignedIn,
    auth=False,
    csrf=False,
    extra_responses={
        401: "the challenge is not valid (expired, used up) or the code is wrong",
        429: "too many wrong codes: try again after Retry-After seconds",
    },
)
async def finish_session(call: Call) -> Response:
    body: SecondFactorBody = call.body
    signed_in = await sign_in_flow.complete_sign_in(
        call.services.db,
        settings=call.services.settings,
        challenge_token=body.challenge,
        code=body.code,
        recovery_code=body.recovery_code,
        ip=client_ip(call.request),
        user_agent=call.request.headers.get("user-agent"),
    )
    return _signed_in_response(call, signed_in)


@router.delete(
    "/session",
    summary="Sign out: ends the session and clears its cookie",
    status=204,
    extra_responses={422: "called with an API token: there is no session to end"},
)
async def delete_session(call: Call) -> Response:
    principal = call.user
    if principal.session_id is None:
        raise InvalidInput("This request is authenticated with an API token; there is no session to end.")
    async with call.services.db.unit_of_work() as session:
        await service.revoke_session(session, session_id=principal.session_id, actor=principal)
    response = Response(status_code=204)
    settings = call.services.settings
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.secure_cookies, httponly=True, samesite="lax"
    )
    return response


@router.get(
    "/me", summary="Who is calling: the signed-in user, or the court system behind a token", response=MeRead
)
async def me(call: Call) -> MeRead:
    principal = call.user
    directory = call.services.directory
    if principal.kind == "token":
        return MeRead(
            id=principal.id,
            kind="token",
            username=principal.name,
            display_name=principal.name,
            role=principal.role,
            court=_court(directory, principal.court_code),
            auth="token",
        )
    async with call.services.db.unit_of_work() as session:
        user = await service.get_user(session, user_id=principal.id)
    if user is None:  # deleted between authentication and now
        raise NotFound("Your account no longer exists.")
    return _me_of_user(user, directory, auth="session")


# --- API tokens (administration) -----------------------------------------------------------------


def _require_token_admin(principal: Principal, court_code: str, directory: CourtDirectory) -> None:
    """Court systems' tokens are managed by an admin of that court or by an admin of the SPC."""
    if principal.kind != "user" or principal.role != Role.admin:
        raise Forbidden("Only an administrator may manage API tokens.")
    if principal.court_code not in (court_code, directory.supreme.code):
        raise Forbidden("You may manage the API tokens of your own court only.")


@router.post(
    "/api-tokens",
    summary="Issue an API token for a court system (admins); the token is shown only in this response",
    body=ApiTokenCreate,
    response=ApiTokenCreated,
    status=201,
)
async def create_api_token(call: Call) -> ApiTokenCreated:
    body: ApiTokenCreate = call.body
    principal = call.user
    court_code = body.court_code or principal.court_code
    _require_token_admin(principal, court_code, call.services.directory)
    async with call.services.db.unit_of_work() as session:
        token, plaintext = await service.create_token(
            session, court_code=court_code, name=body.name, created_by=principal.id, actor=principal
        )
        return ApiTokenCreated(token=ApiTokenRead.model_validate(token), secret=plaintext)


@router.get(
    "/api-tokens", summary="A court's API tokens (admins)", query=ApiTokenQuery, response=Page[ApiTokenRead]
)
async def list_api_tokens(call: Call) -> Page[ApiTokenRead]:
    q: ApiTokenQuery = call.query
    principal = call.user
    court_code = q.court_code or principal.court_code
    _require_token_admin(principal, court_code, call.services.directory)
    async with call.services.db.unit_of_work() as session:
        tokens, total = await service.list_tokens(
            session, court_code=court_code, offset=q.offset, limit=q.page_size
        )
        items = [ApiTokenRead.model_validate(token) for token in tokens]
        return Page[ApiTokenRead](items=items, total=total, page=q.page, page_size=q.page_size)


@router.delete(
    "/api-tokens/{token_id:int}", summary="Revoke an API token (admins); it stops working at once", status=204
)
async def revoke_api_token(call: Call) -> None:
    principal = call.user
    token_id: int = call.path["token_id"]
    directory = call.services.directory
    async with call.services.db.unit_of_work() as session:
        token = await service.get_token(session, token_id=token_id)
        if token is None:
            raise NotFound(f"No API token with id {token_id}.")
        _require_token_admin(principal, token.court_code, directory)
        await service.revoke_token(session, token_id=token_id, actor=principal)
