"""Authenticating a request: a browser session cookie (checked for CSRF) or a bearer API token."""

from __future__ import annotations

import hmac

from starlette.requests import Request, cookie_parser

from command_center.db import Database
from command_center.errors import Forbidden, NotAuthenticated
from command_center.identity import service
from command_center.identity.principal import Principal
from command_center.logging import court_var, user_var
from command_center.settings import Settings

SESSION_COOKIE = "cc_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Authenticator:
    """Turns a request's credentials into a Principal; one short unit of work per lookup."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    async def authenticate(self, request: Request, *, csrf_required: bool) -> Principal | None:
        """The caller, or None without credentials; 401 for bad credentials, 403 for a failed CSRF check.

        A bearer token wins over a cookie and needs no CSRF header: browsers never attach it on their
        own, so a forged cross-site request cannot carry it. A stale cookie is ignored on a route
        declared csrf=False (sign-in), so a browser whose session expired can still sign in again.
        """
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, credentials = authorization.strip().partition(" ")
            if scheme.lower() != "bearer" or not credentials.strip():
                raise NotAuthenticated(
                    "The Authorization header must be 'Bearer <API token>'.", code="token_invalid"
                )
            principal = await self._token(credentials.strip())
            _remember(request, principal)
            return principal

        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None
        try:
            principal, csrf_token = await self._session(cookie)
        except NotAuthenticated:
            if not csrf_required:
                return None
            raise
        _remember(request, principal)
        if csrf_required and request.method in UNSAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER)
            if not sent:
                raise Forbidden(
                    f"This request needs the {CSRF_HEADER} header you received at sign-in "
                    "(protection against cross-site request forgery). Reload the page and try again.",
                    code="csrf_failed",
                )
            if not hmac.compare_digest(sent.encode(), csrf_token.encode()):
                raise Forbidden(
                    f"The {CSRF_HEADER} header does not match your session. Reload the page and try again.",
                    code="csrf_failed",
                )
        return principal

    async def authenticate_socket(self, *, cookie_header: str | None, token: str | None) -> Principal | None:
        """The caller of a socket.io connect (token from its `auth`, else the session cookie), or None."""
        if token:
            return await self._token(token.strip())
        cookie = _cookie_from_header(cookie_header)
        if not cookie:
            return None
        principal, _ = await self._session(cookie)
        return principal

    async def _token(self, token: str) -> Principal:
        async with self.db.unit_of_work() as session:
            return await service.authenticate_token(session, token=token)

    async def _session(self, cookie: str) -> tuple[Principal, str]:
        async with self.db.unit_of_work() as session:
            principal, login_session = await service.authenticate_session(session, cookie_token=cookie)
            return principal, login_session.csrf_token


def _remember(request: Request, principal: Principal) -> None:
    # The error handler audits a 403 with the caller; the log lines carry who and which court.
    request.state.principal = principal
    user_var.set(principal.label)
    court_var.set(principal.court_code)


def _cookie_from_header(cookie_header: str | None) -> str | None:
    return cookie_parser(cookie_header).get(SESSION_COOKIE) if cookie_header else None
