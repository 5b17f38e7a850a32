"""Signing in: the password, then for a user with two-factor sign-in a TOTP or recovery code; throttled.

Each attempt owns its transactions (hence `db`, not a session): a refusal is raised after the attempt's
transaction rolled back, and its failure count and audit entry are written in a second one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.db import Database
from command_center.errors import AppError, InvalidInput, NotAuthenticated, TooManyRequests
from command_center.identity import challenge, second_factor
from command_center.identity.models import LoginSession, User
from command_center.identity.principal import Principal
from command_center.identity.service import (
    WRONG_CREDENTIALS,
    get_by_username,
    get_user,
    open_session,
    password_matches,
    user_principal,
)
from command_center.identity.throttle import (
    check_login_throttle,
    clear_login_failures,
    normalize_username,
    record_login_failure,
)
from command_center.settings import Settings

_T = TypeVar("_T")


@dataclass(frozen=True)
class SignIn:
    user: User
    login_session: LoginSession
    cookie_token: str  # the cookie's value; never stored
    principal: Principal

    @property
    def setup_only(self) -> bool:
        return self.login_session.setup_only


@dataclass(frozen=True)
class SecondFactorRequired:
    """The password was right; the session opens when a code comes with this challenge."""

    user: User
    challenge: str
    expires_in: int


class _Refused(Exception):
    def __init__(self, error: AppError, *, reason: str, counts: bool, user: User | None = None) -> None:
        super().__init__(reason)
        self.error, self.reason, self.counts = error, reason, counts
        # A throttled attempt is refused before any password check: "denied", not "failure".
        self.outcome = "denied" if isinstance(error, TooManyRequests) else "failure"
        self.court_code = user.court_code if user else None
        self.user_id = user.id if user else None


async def sign_in(
    db: Database, *, settings: Settings, username: str, password: str, ip: str, user_agent: str | None
) -> SignIn | SecondFactorRequired:
    """Checks the throttle and the password, then opens a login session and audits it, or, for a user
    with a second factor, returns a challenge to finish with `complete_sign_in`.

    Owns its transactions (hence `db`, not a session): a refusal is raised after the attempt's
    transaction rolled back, and its failure count and audit entry are written in a second one.
    Raises NotAuthenticated (401) or TooManyRequests (429, with retry_after).
    """
    name = normalize_username(username)
    return await _refusals_recorded(
        db,
        name=name,
        ip=ip,
        attempt=lambda session: _sign_in(
            session, settings=settings, name=name, password=password, ip=ip, ua=user_agent
        ),
    )


async def complete_sign_in(
    db: Database,
    *,
    settings: Settings,
    challenge_token: str,
    code: str | None,
    recovery_code: str | None,
    ip: str,
    user_agent: str | None,
) -> SignIn:
    """Second step of a two-factor sign-in: checks the challenge, the throttle and a TOTP or recovery code,
    then opens a login session (audited; a spent recovery code is audited too).

    Wrong and reused codes count toward the same throttle as wrong passwords.
    """
    if (code is None) == (recovery_code is None):
        raise InvalidInput("Send either `code` (from the authenticator app) or `recovery_code`.")
    claim = challenge.read(settings, challenge_token)
    async with db.unit_of_work(read_only=True) as session:
        user = await get_user(session, user_id=claim.user_id)
    if user is None:
        raise NotAuthenticated(
            f"The sign-in challenge is not valid. {challenge.START_AGAIN}", code="challenge_invalid"
        )
    name = user.username
    return await _refusals_recorded(
        db,
        name=name,
        ip=ip,
        attempt=lambda session: _second_factor(
            session,
            settings=settings,
            claim=claim,
            code=code,
            recovery_code=recovery_code,
            ip=ip,
            ua=user_agent,
        ),
    )


async def _refusals_recorded(
    db: Database, *, name: str, ip: str, attempt: Callable[[AsyncSession], Awaitable[_T]]
) -> _T:
    try:
        async with db.unit_of_work() as session:
            return await attempt(session)
    except _Refused as refused:
        # The attempt's transaction has rolled back (on SQLite its write lock is released), so the
        # failure count and the audit entry go into a transaction of their own, together.
        async with db.unit_of_work() as session:
            if refused.counts:
                await record_login_failure(session, username=name, ip=ip)
            await audit.record(
                session,
                action="identity.sign_in",
                actor_label=f"sign-in:{name[:64]}",
                court_code=refused.court_code,
                subject_type="user",
                subject_id=str(refused.user_id) if refused.user_id else None,
                outcome=refused.outcome,
                details={"reason": refused.reason, "ip": ip},
            )
        raise refused.error from None


async def _sign_in(
    session: AsyncSession, *, settings: Settings, name: str, password: str, ip: str, ua: str | None
) -> SignIn:
    try:
        # Checked before the password, so a locked account stays locked even for the right one.
        await check_login_throttle(session, settings=settings, username=name, ip=ip)
    except TooManyRequests as exc:
        raise _Refused(exc, reason=f"locked_{exc.details['locked']}", counts=False) from None
    user = await get_by_username(session, username=name)
    if not await password_matches(session, user, password):
        reason = "wrong_password" if user else "unknown_username"
        raise _Refused(NotAuthenticated(WRONG_CREDENTIALS), reason=reason, counts=True, user=user)
    assert user is not None
    if not user.active:
        error = NotAuthenticated(
            "This account is disabled. Ask your court's administrator.", code="account_disabled"
        )
        raise _Refused(error, reason="account_disabled", counts=False, user=user)
    if second_factor.is_enrolled(user):
        # The failure count is cleared only once the code is right too: otherwise someone who knows
        # the password could reset the lockout between guesses of the code.
        return SecondFactorRequired(
            user=user,
            challenge=challenge.issue(settings, user=user),
            expires_in=settings.second_factor_challenge_seconds,
        )
    setup_only = second_factor.required_for(settings, user.role)
    return await _open_audited(session, settings=settings, user=user, ip=ip, ua=ua, setup_only=setup_only)


async def _second_factor(
    session: AsyncSession,
    *,
    settings: Settings,
    claim: challenge.Challenge,
    code: str | None,
    recovery_code: str | None,
    ip: str,
    ua: str | None,
) -> SignIn:
    user = await get_user(session, user_id=claim.user_id)
    if user is None:  # deleted since the challenge was issued
        error = NotAuthenticated(
            f"The sign-in challenge is not valid. {challenge.START_AGAIN}", code="challenge_invalid"
        )
        raise _Refused(error, reason="challenge_stale", counts=False)
    name = user.username
    try:
        await check_login_throttle(session, settings=settings, username=name, ip=ip)
    except TooManyRequests as exc:
        raise _Refused(exc, reason=f"locked_{exc.details['locked']}", counts=False, user=user) from None
    if not user.active:
        error = NotAuthenticated(
            "This account is disabled. Ask your court's administrator.", code="account_disabled"
        )
        raise _Refused(error, reason="account_disabled", counts=False, user=user)
    if claim.fingerprint != challenge.password_fingerprint(user) or not second_factor.is_enrolled(user):
        error = NotAuthenticated(
            f"The sign-in challenge is no longer valid. {challenge.START_AGAIN}", code="challenge_invalid"
        )
        raise _Refused(error, reason="challenge_stale", counts=False, user=user)
    if code is not None:
        verdict = await second_factor.accept_totp(session, user=user, code=code, settings=settings)
        if verdict == "reused":
            error = NotAuthenticated(
                "This code has already been used. Wait for the next code in your authenticator app.",
                code="code_reused",
            )
            raise _Refused(error, reason="code_reused", counts=True, user=user)
        if verdict != "ok":
            error = NotAuthenticated(
                "Wrong code. Enter the current code from your authenticator app.", code="wrong_code"
            )
            raise _Refused(error, reason="wrong_code", counts=True, user=user)
        method = "totp"
    else:
        assert recovery_code is not None
        left = await second_factor.use_recovery_code(
            session, user=user, code=recovery_code, settings=settings
        )
        if left is None:
            error = NotAuthenticated(
                "This recovery code is wrong or has already been used.", code="wrong_recovery_code"
            )
            raise _Refused(error, reason="wrong_recovery_code", counts=True, user=user)
        method = "recovery_code"
    return await _open_audited(session, settings=settings, user=user, ip=ip, ua=ua, method=method)


async def _open_audited(
    session: AsyncSession,
    *,
    settings: Settings,
    user: User,
    ip: str,
    ua: str | None,
    setup_only: bool = False,
    method: str | None = None,
) -> SignIn:
    await clear_login_failures(session, username=user.username)
    login_session, cookie_token = await open_session(
        session, user=user, settings=settings, ip=ip, user_agent=ua, setup_only=setup_only
    )
    principal = user_principal(user, session_id=login_session.id, setup_only=setup_only)
    details: dict[str, object] = {"ip": ip, "session_id": login_session.id}
    if method:
        details["second_factor"] = method
    if setup_only:
        details["setup_only"] = True
    await audit.record(
        session,
        action="identity.sign_in",
        actor=principal,
        court_code=user.court_code,
        subject_type="user",
        subject_id=str(user.id),
        details=details,
    )
    return SignIn(user=user, login_session=login_session, cookie_token=cookie_token, principal=principal)
