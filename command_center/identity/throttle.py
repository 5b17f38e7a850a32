"""Throttling failed sign-ins per account and per client address, counted in the database.

The counts live in SQL (not in one node's memory), so every app node behind the proxy enforces the
same limits. Two concurrent guesses may both pass the check before either failure is written, so an
attacker can exceed a limit by the number of requests in flight; the limits are loose enough for that.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.db import utcnow
from command_center.errors import TooManyRequests
from command_center.identity.models import LoginFailure
from command_center.settings import Settings


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; every stored time is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=utcnow().tzinfo)


def normalize_username(username: str) -> str:
    return username.strip().lower()


async def _locked_for(
    session: AsyncSession,
    column: sa.ColumnElement,
    value: str,
    *,
    limit: int,
    window: timedelta,
    now: datetime,
) -> int | None:
    """Seconds until fewer than `limit` failures remain in the window, or None when not locked."""
    # The lock lifts when the limit-th most recent failure leaves the window.
    stmt = (
        sa.select(LoginFailure.at)
        .where(column == value, LoginFailure.at > now - window)
        .order_by(LoginFailure.at.desc())
        .offset(max(limit, 1) - 1)
        .limit(1)
    )
    at = (await session.execute(stmt)).scalar()
    if at is None:
        return None
    return max(1, math.ceil((aware(at) + window - now).total_seconds()))


def _minutes(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


async def check_login_throttle(
    session: AsyncSession, *, settings: Settings, username: str, ip: str, now: datetime | None = None
) -> None:
    """Raises TooManyRequests while the account or the address has too many recent failures."""
    now = now or utcnow()
    window = timedelta(minutes=settings.login_lockout_minutes)
    account = normalize_username(username)[:64]
    limit = settings.login_max_failures_per_account
    wait = await _locked_for(session, LoginFailure.username, account, limit=limit, window=window, now=now)
    if wait is not None:
        raise TooManyRequests(
            f"Too many failed sign-ins for this account. Try again in {_minutes(wait)}.",
            retry_after=wait,
            details={"locked": "account", "retry_after": wait},
        )
    limit = settings.login_max_failures_per_address
    wait = await _locked_for(session, LoginFailure.ip, ip[:64], limit=limit, window=window, now=now)
    if wait is not None:
        raise TooManyRequests(
            f"Too many failed sign-ins from this network address. Try again in {_minutes(wait)}.",
            retry_after=wait,
            details={"locked": "address", "retry_after": wait},
        )


async def record_login_failure(session: AsyncSession, *, username: str, ip: str) -> LoginFailure:
    """Adds one failed sign-in to the account's and the address's counts."""
    failure = LoginFailure(username=normalize_username(username)[:64], ip=ip[:64], at=utcnow())
    session.add(failure)
    await session.flush()
    return failure


async def clear_login_failures(session: AsyncSession, *, username: str) -> None:
    """Forgets the account's failed sign-ins (after a successful one)."""
    account = normalize_username(username)[:64]
    await session.execute(sa.delete(LoginFailure).where(LoginFailure.username == account))


async def prune_login_failures(session: AsyncSession, *, settings: Settings) -> int:
    """Deletes failures older than the lockout window; returns how many."""
    cutoff = utcnow() - timedelta(minutes=settings.login_lockout_minutes)
    result = await session.execute(sa.delete(LoginFailure).where(LoginFailure.at <= cutoff))
    return result.rowcount or 0
