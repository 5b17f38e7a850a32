"""Users and their passwords, browser sessions and court systems' API tokens (sign-in: `sign_in.py`)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.db import utcnow
from command_center.errors import (
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
)
from command_center.identity.models import ApiToken, LoginSession, User
from command_center.identity.passwords import hash_password, needs_rehash, verify_password
from command_center.identity.principal import Principal, Role
from command_center.identity.throttle import (  # prune_login_failures is re-exported for jobs
    aware,
    normalize_username,
    prune_login_failures,  # noqa: F401
)
from command_center.settings import Settings

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
TOKEN_PREFIX = "cct"
TOKEN_PATTERN = re.compile(r"^cct_([1-9][0-9]{0,18})_([A-Za-z0-9_-]{32,128})$")
# last_seen_at / last_used_at are written at most this often, not on every request.
TOUCH_INTERVAL = timedelta(minutes=1)
WRONG_CREDENTIALS = "Wrong username or password."

_court = sa.table("court", sa.column("code"))


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _invalid(field: str, message: str) -> InvalidInput:
    return InvalidInput(f"{field}: {message}", details=[{"field": field, "message": message}])


def user_principal(user: User, *, session_id: int | None = None, setup_only: bool = False) -> Principal:
    assert user.id is not None
    return Principal(
        kind="user",
        id=user.id,
        name=user.username,
        court_code=user.court_code,
        role=Role(user.role),
        session_id=session_id,
        setup_only=setup_only,
    )


def token_principal(token: ApiToken) -> Principal:
    assert token.id is not None
    # A court system acts with a clerk's rights in its own court.
    return Principal(kind="token", id=token.id, name=token.name, court_code=token.court_code, role=Role.clerk)


# --- users ---------------------------------------------------------------------------------------


async def court_exists(session: AsyncSession, *, court_code: str) -> bool:
    """True when the `court` table holds this code."""
    found = await session.execute(
        sa.select(sa.literal(1)).select_from(_court).where(_court.c.code == court_code)
    )
    return found.first() is not None


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise _invalid("password", f"must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise _invalid("password", f"must be at most {MAX_PASSWORD_LENGTH} characters long.")


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: Role | str,
    court_code: str,
    display_name: str | None = None,
    is_demo: bool = False,
) -> User:
    """Adds a user with an argon2 hash of the password; the username is stored lowercased."""
    name = normalize_username(username)
    if not USERNAME_PATTERN.match(name):
        raise _invalid(
            "username",
            "use 3 to 64 letters, digits, dots, hyphens or underscores, starting with a letter or digit.",
        )
    _check_password(password)
    try:
        role = Role(role)
    except ValueError:
        raise _invalid("role", f"must be one of {', '.join(r.value for r in Role)}.") from None
    display = (display_name or "").strip() or name
    if len(display) > 100:
        raise _invalid("display_name", "must be at most 100 characters long.")
    if not await court_exists(session, court_code=court_code):
        raise _invalid("court_code", f"no court has the code {court_code!r}.")
    if await get_by_username(session, username=name) is not None:
        raise Conflict(f"The username {name!r} is taken.", details=[{"field": "username"}])
    user = User(
        username=name,
        display_name=display,
        role=role,
        court_code=court_code,
        password_hash=await hash_password(password),
        is_demo=is_demo,
    )
    try:
        # A savepoint, so losing a race for the same username leaves the caller's transaction usable.
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:
        raise Conflict(f"The username {name!r} is taken.", details=[{"field": "username"}]) from None
    return user


async def get_user(session: AsyncSession, *, user_id: int) -> User | None:
    """The user with this id, or None."""
    return await session.get(User, user_id)


async def get_by_username(session: AsyncSession, *, username: str) -> User | None:
    """The user with this username in any letter case, or None."""
    return await session.scalar(sa.select(User).where(User.username == normalize_username(username)))


async def set_password(session: AsyncSession, *, user_id: int, password: str) -> User:
    """Replaces the user's password hash and ends all their browser sessions."""
    _check_password(password)
    user = await get_user(session, user_id=user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    user.password_hash = await hash_password(password)
    await revoke_user_sessions(session, user_id=user_id)
    await session.flush()
    return user


async def demo_usernames(session: AsyncSession) -> list[str]:
    """The usernames of demo users (production refuses to start while there are any)."""
    return list(await session.scalars(sa.select(User.username).where(User.is_demo).order_by(User.username)))


async def authenticate_password(session: AsyncSession, *, username: str, password: str) -> User | None:
    """The user whose password this is (active or not), else None; upgrades an outdated hash."""
    user = await get_by_username(session, username=username)
    return user if await password_matches(session, user, password) else None


async def password_matches(session: AsyncSession, user: User | None, password: str) -> bool:
    # Unknown usernames are checked against a dummy hash: same time, same answer.
    if not await verify_password(user.password_hash if user else None, password):
        return False
    assert user is not None
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password(password)
        await session.flush()
    return True


# --- sign-in and browser sessions ----------------------------------------------------------------


async def open_session(
    session: AsyncSession,
    *,
    user: User,
    settings: Settings,
    ip: str | None,
    user_agent: str | None,
    setup_only: bool = False,
) -> tuple[LoginSession, str]:
    """Adds a login session for the user; returns it and the cookie token (stored only as SHA-256)."""
    cookie_token = secrets.token_urlsafe(32)
    now = utcnow()
    login_session = LoginSession(
        user_id=user.id,
        token_hash=sha256_hex(cookie_token),
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        expires_at=now + timedelta(hours=settings.session_hours),
        last_seen_at=now,
        ip=(ip or None) and ip[:64],
        user_agent=(user_agent or None) and user_agent[:400],
        setup_only=setup_only,
    )
    session.add(login_session)
    await session.flush()
    return login_session, cookie_token


async def authenticate_session(
    session: AsyncSession, *, cookie_token: str, now: datetime | None = None
) -> tuple[Principal, LoginSession]:
    """The principal of a live session cookie (refreshes last_seen_at at most once a minute)."""
    now = now or utcnow()
    row = (
        await session.execute(
            sa.select(LoginSession, User)
            .join(User, User.id == LoginSession.user_id)
            .where(LoginSession.token_hash == sha256_hex(cookie_token))
        )
    ).first()
    if row is None:
        raise NotAuthenticated("Your session is not valid. Please sign in again.", code="session_invalid")
    login_session, user = row
    if login_session.revoked_at is not None:
        raise NotAuthenticated("You have been signed out. Please sign in again.", code="session_invalid")
    if aware(login_session.expires_at) <= now:
        raise NotAuthenticated("Your session has expired. Please sign in again.", code="session_expired")
    if not user.active:
        raise NotAuthenticated(
            "This account is disabled. Ask your court's administrator.", code="account_disabled"
        )
    if now - aware(login_session.last_seen_at) >= TOUCH_INTERVAL:
        login_session.last_seen_at = now
        await session.flush()
    principal = user_principal(user, session_id=login_session.id, setup_only=login_session.setup_only)
    return principal, login_session


async def revoke_session(session: AsyncSession, *, session_id: int, actor: Principal | None = None) -> None:
    """Ends a login session (sign-out) and audits it."""
    login_session = await session.get(LoginSession, session_id)
    if login_session is None:
        raise NotFound(f"No session with id {session_id}.")
    if login_session.revoked_at is None:
        login_session.revoked_at = utcnow()
        await session.flush()
        user = await session.get(User, login_session.user_id)
        await audit.record(
            session,
            action="identity.sign_out",
            actor=actor,
            court_code=user.court_code if user else None,
            subject_type="user",
            subject_id=str(login_session.user_id),
            details={"session_id": session_id},
        )


async def revoke_user_sessions(session: AsyncSession, *, user_id: int) -> int:
    """Ends every open session of the user; returns how many."""
    result = await session.execute(
        sa.update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    return result.rowcount or 0


# --- API tokens ----------------------------------------------------------------------------------


async def create_token(
    session: AsyncSession,
    *,
    court_code: str,
    name: str,
    created_by: int | None = None,
    actor: Principal | None = None,
) -> tuple[ApiToken, str]:
    """Adds an API token for a court system; returns it and the plaintext, which is never stored."""
    name = name.strip()
    if not 1 <= len(name) <= 100:
        raise _invalid("name", "must be 1 to 100 characters long.")
    if not await court_exists(session, court_code=court_code):
        raise _invalid("court_code", f"no court has the code {court_code!r}.")
    secret = secrets.token_urlsafe(32)
    token = ApiToken(court_code=court_code, name=name, token_hash=sha256_hex(secret), created_by=created_by)
    session.add(token)
    await session.flush()
    await audit.record(
        session,
        action="identity.api_token_created",
        actor=actor,
        actor_label=f"user:{created_by}" if created_by else "system",
        court_code=court_code,
        subject_type="api_token",
        subject_id=str(token.id),
        details={"name": name, "created_by": created_by},
    )
    return token, f"{TOKEN_PREFIX}_{token.id}_{secret}"


async def get_token(session: AsyncSession, *, token_id: int) -> ApiToken | None:
    """The API token with this id (revoked or not), or None."""
    return await session.get(ApiToken, token_id)


async def list_tokens(
    session: AsyncSession, *, court_code: str, offset: int = 0, limit: int = 200
) -> tuple[list[ApiToken], int]:
    """One page of the court's API tokens, revoked ones included, oldest first, and their total."""
    where = ApiToken.court_code == court_code
    total = await session.scalar(sa.select(sa.func.count()).select_from(ApiToken).where(where))
    page = await session.scalars(
        sa.select(ApiToken).where(where).order_by(ApiToken.id).offset(offset).limit(limit)
    )
    return list(page), total or 0


async def revoke_token(session: AsyncSession, *, token_id: int, actor: Principal | None = None) -> ApiToken:
    """Revokes the token (idempotent); its next request gets 401."""
    token = await get_token(session, token_id=token_id)
    if token is None:
        raise NotFound(f"No API token with id {token_id}.")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()
        await audit.record(
            session,
            action="identity.api_token_revoked",
            actor=actor,
            court_code=token.court_code,
            subject_type="api_token",
            subject_id=str(token.id),
            details={"name": token.name},
        )
    return token


async def authenticate_token(session: AsyncSession, *, token: str, now: datetime | None = None) -> Principal:
    """The principal of a live API token (refreshes last_used_at at most once a minute)."""
    now = now or utcnow()
    match = TOKEN_PATTERN.match(token.strip())
    if match is None:
        raise NotAuthenticated(
            "The API token is malformed; expected cct_<id>_<secret>.", code="token_invalid"
        )
    api_token = await get_token(session, token_id=int(match.group(1)))
    # Compared in constant time so the response time does not reveal how much of a guess was right.
    if api_token is None or not hmac.compare_digest(api_token.token_hash, sha256_hex(match.group(2))):
        raise NotAuthenticated("The API token is not valid.", code="token_invalid")
    if api_token.revoked_at is not None:
        raise NotAuthenticated("The API token has been revoked.", code="token_revoked")
    if api_token.last_used_at is None or now - aware(api_token.last_used_at) >= TOUCH_INTERVAL:
        api_token.last_used_at = now
        await session.flush()
    return token_principal(api_token)
