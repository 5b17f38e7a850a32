"""Authenticating a request: a browser session cookie (checked for CSRF) or a bearer API token.

A valid API token is remembered in the process for `TOKEN_CACHE_SECONDS` (keyed by the SHA-256 of the
whole token, never the token itself), so a court system's burst of requests costs one database lookup.
Revocation stays prompt: any change to an `api_token` row committed through this process (revoking it
in the admin API or the CLI) empties the cache at once, and another node or process that revoked it is
heard of within `TOKEN_CACHE_SECONDS` at the latest. Invalid and revoked tokens are never cached.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, object_session
from starlette.requests import Request, cookie_parser

from command_center.db import Database
from command_center.errors import Forbidden, NotAuthenticated
from command_center.identity import second_factor, service
from command_center.identity.models import ApiToken
from command_center.identity.principal import Principal
from command_center.logging import court_var, user_var
from command_center.settings import Settings

SESSION_COOKIE = "cc_session"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TOKEN_CACHE_SECONDS = 5.0  # the longest a token revoked by another node keeps working here
TOKEN_CACHE_SIZE = 1024
_TOKEN_CHANGED = "cc_api_token_changed"


class TokenCache:
    """Recently verified API tokens of this process: token digest → (principal, expiry, generation).

    `generation` moves on every committed change to an `api_token` row made in this process; an entry
    from an older generation, or one whose lookup overlapped such a change, is not used.
    """

    generation = 0  # shared by every cache in the process, so two app nodes in one process agree

    def __init__(
        self, *, ttl: float = TOKEN_CACHE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self._entries: OrderedDict[str, tuple[Principal, float, int]] = OrderedDict()

    @staticmethod
    def digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def get(self, digest: str) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        principal, expires, generation = entry
        if generation != TokenCache.generation or self.clock() >= expires:
            self._entries.pop(digest, None)
            return None
        return principal

    def put(self, digest: str, principal: Principal, *, generation: int) -> None:
        """Remembers a token verified by a lookup that began at `generation` (dropped if it moved since)."""
        if generation != TokenCache.generation:
            return
        self._entries[digest] = (principal, self.clock() + self.ttl, generation)
        self._entries.move_to_end(digest)
        while len(self._entries) > TOKEN_CACHE_SIZE:
            self._entries.popitem(last=False)

    @classmethod
    def invalidate(cls) -> None:
        """Forgets every cached token in the process (a token row changed)."""
        cls.generation += 1


@event.listens_for(ApiToken, "after_update")
def _token_row_updated(mapper: Any, connection: Any, target: ApiToken) -> None:
    changed = {attr.key for attr in inspect(target).attrs if attr.history.has_changes()}
    if changed - {"last_used_at"}:  # a lookup refreshing last_used_at changes nothing that matters
        _token_row_changed(mapper, connection, target)


@event.listens_for(ApiToken, "after_delete")
def _token_row_changed(_mapper: Any, _connection: Any, target: ApiToken) -> None:
    # Invalidated now (a lookup that starts later is not cached) and again after the commit, when the
    # change becomes visible to the lookups that ran meanwhile.
    TokenCache.invalidate()
    session = object_session(target)
    if session is not None:
        session.info[_TOKEN_CHANGED] = True


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_TOKEN_CHANGED, False):
        TokenCache.invalidate()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous_transaction: Any) -> None:
    session.info.pop(_TOKEN_CHANGED, None)


# All a setup-only session (a user who must set up two-factor sign-in first) may call.
SETUP_ONLY_OPERATIONS = frozenset(
    {
        ("GET", "/api/v1/me"),
        ("POST", "/api/v1/session"),
        ("DELETE", "/api/v1/session"),
        ("POST", "/api/v1/session/second-factor"),
        ("GET", "/api/v1/second-factor"),
        ("POST", "/api/v1/second-factor/enrollment"),
        ("GET", "/api/v1/second-factor/enrollment/qr.svg"),
        ("POST", "/api/v1/second-factor/enrollment/confirm"),
    }
)


class Authenticator:
    """Turns a request's credentials into a Principal; one short unit of work per lookup (API tokens
    are remembered for a few seconds, see `TokenCache`)."""

    def __init__(self, db: Database, settings: Settings, *, token_cache: TokenCache | None = None) -> None:
        self.db = db
        self.settings = settings
        self.token_cache = token_cache or TokenCache()

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
        if principal.setup_only:
            _check_setup_only(request, csrf_required=csrf_required)
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
        if principal.setup_only:
            raise NotAuthenticated(second_factor.SETUP_REQUIRED_MESSAGE, code="second_factor_setup_required")
        return principal

    async def _token(self, token: str) -> Principal:
        digest = TokenCache.digest(token)
        principal = self.token_cache.get(digest)
        if principal is not None:
            return principal
        generation = TokenCache.generation
        async with self.db.unit_of_work() as session:
            principal = await service.authenticate_token(session, token=token)
        self.token_cache.put(digest, principal, generation=generation)
        return principal

    async def _session(self, cookie: str) -> tuple[Principal, str]:
        async with self.db.unit_of_work() as session:
            principal, login_session = await service.authenticate_session(session, cookie_token=cookie)
            return principal, login_session.csrf_token


def _check_setup_only(request: Request, *, csrf_required: bool) -> None:
    """403 for a setup-only session, except on the enrollment operations and on pages.

    Pages (GET, outside /api/) authenticate with csrf_required=False and send such a visitor to the
    enrollment page themselves.
    """
    method, path = request.method, request.url.path
    if (method, path) in SETUP_ONLY_OPERATIONS:
        return
    if not csrf_required and method == "GET" and not path.startswith("/api/"):
        return
    raise Forbidden(second_factor.SETUP_REQUIRED_MESSAGE, code="second_factor_setup_required")


def _remember(request: Request, principal: Principal) -> None:
    # The error handler audits a 403 with the caller; the log lines carry who and which court.
    request.state.principal = principal
    user_var.set(principal.label)
    court_var.set(principal.court_code)


def _cookie_from_header(cookie_header: str | None) -> str | None:
    return cookie_parser(cookie_header).get(SESSION_COOKIE) if cookie_header else None
