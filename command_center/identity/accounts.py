"""Account administration: listing a court's users, adding users, deactivating them; every write audited."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit
from command_center.errors import Conflict, NotFound
from command_center.identity import service as identity
from command_center.identity.models import User
from command_center.identity.principal import Principal, Role


async def list_users(
    session: AsyncSession,
    *,
    court_code: str | None,
    q: str | None = None,
    role: Role | None = None,
    active: bool | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[User], int]:
    """One page of users (court_code None: every court), by court then username, and their total."""
    conditions: list[sa.ColumnElement[bool]] = []
    if court_code is not None:
        conditions.append(User.court_code == court_code)
    if role is not None:
        conditions.append(User.role == role)
    if active is not None:
        conditions.append(User.active.is_(active))
    if q:
        # Usernames are stored lowercased; display names are matched as typed (Chinese has no case).
        pattern = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            sa.or_(
                User.username.like(pattern.lower(), escape="\\"),
                User.display_name.like(pattern, escape="\\"),
            )
        )
    where = sa.and_(sa.true(), *conditions)
    total = await session.scalar(sa.select(sa.func.count()).select_from(User).where(where))
    page = await session.scalars(
        sa.select(User).where(where).order_by(User.court_code, User.username).offset(offset).limit(limit)
    )
    return list(page), total or 0


async def create(
    session: AsyncSession,
    *,
    actor: Principal,
    username: str,
    password: str,
    role: Role | str,
    court_code: str,
    display_name: str | None = None,
) -> User:
    """Adds a user (validated by `identity.create_user`) and audits who added whom."""
    user = await identity.create_user(
        session,
        username=username,
        password=password,
        role=role,
        court_code=court_code,
        display_name=display_name,
    )
    await audit.record(
        session,
        action="identity.user_created",
        actor=actor,
        subject_type="user",
        subject_id=str(user.id),
        details={"username": user.username, "role": str(user.role), "court_code": user.court_code},
    )
    return user


async def deactivate(session: AsyncSession, *, user_id: int, actor: Principal) -> User:
    """Disables the account and ends its browser sessions at once; idempotent, audited once.

    The user row stays: audit entries, cases and requests keep naming the person who acted.
    """
    user = await identity.get_user(session, user_id=user_id)
    if user is None:
        raise NotFound(f"No user with id {user_id}.")
    if actor.kind == "user" and actor.id == user.id:
        raise Conflict("You cannot deactivate your own account; ask another administrator.")
    if not user.active:
        return user
    user.active = False
    ended = await identity.revoke_user_sessions(session, user_id=user_id)
    await session.flush()
    await audit.record(
        session,
        action="identity.user_deactivated",
        actor=actor,
        subject_type="user",
        subject_id=str(user.id),
        details={"username": user.username, "court_code": user.court_code, "sessions_ended": ended},
    )
    return user
