"""Two-factor sign-in: enrolling a TOTP secret, checking codes once each, recovery codes, resets.

Every change is audited: `identity.second_factor_enrollment_started`, `identity.second_factor_enrolled`,
`identity.recovery_code_used`, `identity.second_factor_reset`. A code is accepted at most once: the user
row keeps the last accepted time step and is advanced by a conditional UPDATE, so two concurrent
requests with the same code (on any app node) cannot both succeed; a recovery code is spent the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.db import utcnow
from command_center.errors import Conflict, Forbidden, InvalidInput, NotFound
from command_center.identity import totp
from command_center.identity.models import LoginSession, RecoveryCode, User
from command_center.identity.principal import Principal, Role
from command_center.identity.service import revoke_user_sessions
from command_center.settings import Settings

SETUP_REQUIRED_MESSAGE = (
    "Two-factor sign-in must be set up for your account before you can use it. "
    "Open /account/two-factor to set it up."
)


def required_for(settings: Settings, role: Role | str) -> bool:
    """Whether users of this role must sign in with a second factor (CC_SECOND_FACTOR_REQUIRED_ROLES)."""
    return str(role) in settings.second_factor_required_roles


def is_enrolled(user: User) -> bool:
    return user.totp_enabled_at is not None and user.totp_secret is not None


def _secret(user: User, settings: Settings) -> str:
    """The user's plaintext TOTP secret; 409 when it was stored under another CC_SECRET_KEY."""
    assert user.totp_secret is not None
    try:
        return totp.decrypt_secret(user.totp_secret, secret_key=settings.secret_key)
    except ValueError:
        raise Conflict(
            "Your two-factor sign-in cannot be checked since the server's secret key changed. "
            "Ask your court's administrator to reset it.",
            code="second_factor_unreadable",
        ) from None


@dataclass(frozen=True)
class Status:
    enrolled: bool
    required: bool
    enrolled_at: datetime | None
    recovery_codes_left: int


async def _user(session: AsyncSession, user_id: int) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    return user


async def recovery_codes_left(session: AsyncSession, *, user_id: int) -> int:
    """How many of the user's recovery codes are unused."""
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None))
    )
    return count or 0


async def status(session: AsyncSession, *, user_id: int, settings: Settings) -> Status:
    """Whether the user has a second factor, must have one, and how many recovery codes remain."""
    user = await _user(session, user_id)
    enrolled = is_enrolled(user)
    return Status(
        enrolled=enrolled,
        required=required_for(settings, user.role),
        enrolled_at=user.totp_enabled_at if enrolled else None,
        recovery_codes_left=await recovery_codes_left(session, user_id=user_id) if enrolled else 0,
    )


async def start_enrollment(
    session: AsyncSession, *, user_id: int, settings: Settings, actor: Principal
) -> tuple[str, str]:
    """Gives the user a new, not yet confirmed TOTP secret; returns it and its otpauth:// URI (audited)."""
    user = await _user(session, user_id)
    if is_enrolled(user):
        raise Conflict(
            "Two-factor sign-in is already set up for your account. To move it to another device, "
            "ask an administrator to reset it.",
            code="second_factor_enrolled",
        )
    secret = totp.new_secret()
    user.totp_secret = totp.encrypt_secret(secret, secret_key=settings.secret_key)
    user.totp_last_step = None
    await session.flush()
    await audit.record(
        session,
        action="identity.second_factor_enrollment_started",
        actor=actor,
        court_code=user.court_code,
        subject_type="user",
        subject_id=str(user.id),
    )
    return secret, totp.provisioning_uri(secret, username=user.username)


async def pending_uri(session: AsyncSession, *, user_id: int, settings: Settings) -> str:
    """The otpauth:// URI of the enrollment in progress (never of a confirmed secret)."""
    user = await _user(session, user_id)
    if is_enrolled(user) or user.totp_secret is None:
        raise NotFound("No two-factor enrollment is in progress.", code="no_enrollment")
    return totp.provisioning_uri(_secret(user, settings), username=user.username)


async def _store_recovery_codes(session: AsyncSession, *, user: User, settings: Settings) -> list[str]:
    assert user.id is not None
    await session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = totp.new_recovery_codes()
    now = utcnow()
    for code in codes:
        digest = totp.recovery_code_hash(code, user_id=user.id, secret_key=settings.secret_key)
        session.add(RecoveryCode(user_id=user.id, code_hash=digest, created_at=now))
    await session.flush()
    return codes


async def confirm_enrollment(
    session: AsyncSession,
    *,
    user_id: int,
    code: str,
    settings: Settings,
    actor: Principal,
    now: datetime | None = None,
) -> list[str]:
    """Puts the pending secret in force when `code` matches; returns new recovery codes (shown once).

    The confirming session stops being setup-only: its user has just shown both factors. Audited.
    """
    user = await _user(session, user_id)
    if is_enrolled(user):
        raise Conflict(
            "Two-factor sign-in is already set up for your account.", code="second_factor_enrolled"
        )
    if user.totp_secret is None:
        raise Conflict(
            "Start the setup first: no two-factor enrollment is in progress.", code="no_enrollment"
        )
    step = totp.matching_step(_secret(user, settings), code, now=now or utcnow())
    if step is None:
        raise InvalidInput(
            "code: the code does not match. Check that the app shows this account and that the phone's "
            "clock is right, then enter the current code.",
            code="wrong_code",
            details=[{"field": "code", "message": "does not match"}],
        )
    user.totp_enabled_at = utcnow()
    user.totp_last_step = step  # the confirming code is spent, like any other
    codes = await _store_recovery_codes(session, user=user, settings=settings)
    if actor.session_id is not None:
        await session.execute(
            sa.update(LoginSession)
            .where(LoginSession.id == actor.session_id, LoginSession.user_id == user_id)
            .values(setup_only=False)
        )
    await audit.record(
        session,
        action="identity.second_factor_enrolled",
        actor=actor,
        court_code=user.court_code,
        subject_type="user",
        subject_id=str(user.id),
        details={"recovery_codes": len(codes)},
    )
    return codes


async def enroll(
    session: AsyncSession,
    *,
    user_id: int,
    settings: Settings,
    secret: str | None = None,
    actor_label: str = "system",
) -> tuple[str, list[str]]:
    """Puts a secret in force without a confirming code (operators' CLI and the demo); audited.

    Returns the secret and the new recovery codes.
    """
    user = await _user(session, user_id)
    secret = secret or totp.new_secret()
    user.totp_secret = totp.encrypt_secret(secret, secret_key=settings.secret_key)
    user.totp_enabled_at = utcnow()
    user.totp_last_step = None
    codes = await _store_recovery_codes(session, user=user, settings=settings)
    await audit.record(
        session,
        action="identity.second_factor_enrolled",
        actor_label=actor_label,
        court_code=user.court_code,
        subject_type="user",
        subject_id=str(user.id),
        details={"recovery_codes": len(codes), "confirmed_with_code": False},
    )
    return secret, codes


async def accept_totp(
    session: AsyncSession, *, user: User, code: str, settings: Settings, now: datetime | None = None
) -> str:
    """Spends a TOTP code: "ok", or "wrong" (no match), or "reused" (its step was already accepted)."""
    assert user.id is not None
    step = totp.matching_step(_secret(user, settings), code, now=now or utcnow())
    if step is None:
        return "wrong"
    # Conditional, so of two concurrent requests with one code only the first advances the step.
    advanced = await session.execute(
        sa.update(User)
        .where(
            User.id == user.id,
            sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if (advanced.rowcount or 0) != 1:
        return "reused"
    user.totp_last_step = step
    return "ok"


async def use_recovery_code(
    session: AsyncSession, *, user: User, code: str, settings: Settings
) -> int | None:
    """Spends one unused recovery code of the user (audited); returns how many remain, None when no match."""
    assert user.id is not None
    digest = totp.recovery_code_hash(code, user_id=user.id, secret_key=settings.secret_key)
    spent = await session.execute(
        sa.update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user.id,
            RecoveryCode.code_hash == digest,
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if (spent.rowcount or 0) != 1:
        return None
    left = await recovery_codes_left(session, user_id=user.id)
    await audit.record(
        session,
        action="identity.recovery_code_used",
        actor_label=f"user:{user.username}",
        court_code=user.court_code,
        subject_type="user",
        subject_id=str(user.id),
        details={"recovery_codes_left": left},
    )
    return left


async def reset(
    session: AsyncSession, *, user_id: int, actor: Principal | None, actor_label: str | None = None
) -> User:
    """Removes the user's second factor and recovery codes and ends their sessions (audited).

    A user whose role requires a second factor must set up a new one at their next sign-in.
    """
    user = await _user(session, user_id)
    if actor is not None and actor.kind == "user" and actor.id == user.id:
        raise Conflict("You cannot reset your own two-factor sign-in; ask another administrator.")
    had = is_enrolled(user) or user.totp_secret is not None
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    await session.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user_id))
    ended = await revoke_user_sessions(session, user_id=user_id)
    await session.flush()
    await audit.record(
        session,
        action="identity.second_factor_reset",
        actor=actor,
        actor_label=actor_label,
        court_code=user.court_code,
        subject_type="user",
        subject_id=str(user.id),
        details={"username": user.username, "had_second_factor": had, "sessions_ended": ended},
    )
    return user


async def demo_secret(session: AsyncSession, *, username: str, settings: Settings) -> tuple[User, str]:
    """A demo user and their TOTP secret, for trying the system out; refused in production."""
    if settings.is_production:
        raise Forbidden("Demo codes are not available in production.")
    user = await session.scalar(sa.select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound(f"No user named {username!r}.")
    if not user.is_demo:
        raise Forbidden(f"{user.username} is not a demo user; only demo users' codes can be shown.")
    if not is_enrolled(user):
        raise NotFound(f"{user.username} has no two-factor sign-in set up.")
    return user, _secret(user, settings)
