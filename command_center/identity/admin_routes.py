"""`/api/v1/users`: administrators list, add and deactivate the users of their court (the SPC's: any court)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from pydantic import Field as SchemaField
from pydantic import field_validator

from command_center.api import Call, Page, PageQuery, Router, Schema
from command_center.courts.directory import CourtDirectory
from command_center.errors import Forbidden, NotFound
from command_center.identity import accounts, second_factor
from command_center.identity import service as identity
from command_center.identity.models import User
from command_center.identity.principal import Principal, Role

router = Router(prefix="/api/v1", tags=["administration"])


class UserRead(Schema):
    id: int
    username: str
    display_name: str
    role: Role
    court_code: str
    court_name: str
    active: bool
    is_demo: bool
    created_at: datetime

    @field_validator("created_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # SQLite hands back naive UTC timestamps; the API always writes the offset.
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class UserListQuery(PageQuery):
    court_code: str | None = SchemaField(
        None, description="one court's users; default: the caller's court (an SPC admin: every court)"
    )
    q: str | None = SchemaField(None, max_length=64, description="part of a username or display name")
    role: Role | None = None
    active: bool | None = SchemaField(None, description="true: active accounts only; false: deactivated only")


class UserCreate(Schema):
    username: str = SchemaField(min_length=1, max_length=64, description="3-64 letters, digits, . _ -")
    password: str = SchemaField(min_length=1, max_length=1024, description="initial password, 10+ characters")
    role: Role
    display_name: str | None = SchemaField(None, max_length=100)
    court_code: str | None = SchemaField(None, description="default: the caller's court")


def _is_spc_admin(principal: Principal, directory: CourtDirectory) -> bool:
    return principal.court_code == directory.supreme.code


def require_user_admin(principal: Principal, court_code: str | None, directory: CourtDirectory) -> None:
    """Users are administered by an admin of their court, or by an admin of the SPC (court_code None: all)."""
    if principal.kind != "user" or principal.role != Role.admin:
        raise Forbidden("Only an administrator may manage user accounts.")
    if _is_spc_admin(principal, directory):
        return
    if court_code != principal.court_code:
        raise Forbidden("You may manage the user accounts of your own court only.")


def user_read(user: User, directory: CourtDirectory) -> UserRead:
    entry = directory.get(user.court_code)
    return UserRead.model_validate(
        {
            **user.model_dump(include=set(UserRead.model_fields) - {"court_name"}),
            "court_name": entry.name if entry else user.court_code,
        }
    )


@router.get(
    "/users",
    summary="Users of the caller's court (administrators; an SPC administrator may list any court or all)",
    query=UserListQuery,
    response=Page[UserRead],
)
async def list_users(call: Call) -> Page[UserRead]:
    q: UserListQuery = call.query
    principal, directory = call.user, call.services.directory
    if q.court_code is not None:
        court_code: str | None = q.court_code
    else:
        court_code = None if _is_spc_admin(principal, directory) else principal.court_code
    require_user_admin(principal, court_code, directory)
    async with call.services.db.unit_of_work(read_only=True) as session:
        users, total = await accounts.list_users(
            session,
            court_code=court_code,
            q=q.q,
            role=q.role,
            active=q.active,
            offset=q.offset,
            limit=q.page_size,
        )
        items = [user_read(user, directory) for user in users]
    return Page[UserRead](items=items, total=total, page=q.page, page_size=q.page_size)


@router.post(
    "/users",
    summary="Add a user to the caller's court (administrators; an SPC administrator: to any court)",
    body=UserCreate,
    response=UserRead,
    status=201,
)
async def create_user(call: Call) -> UserRead:
    body: UserCreate = call.body
    principal, directory = call.user, call.services.directory
    court_code = body.court_code or principal.court_code
    require_user_admin(principal, court_code, directory)
    async with call.services.db.unit_of_work() as session:
        user = await accounts.create(
            session,
            actor=principal,
            username=body.username,
            password=body.password,
            role=body.role,
            court_code=court_code,
            display_name=body.display_name,
        )
        return user_read(user, directory)


@router.post(
    "/users/{user_id:int}/deactivate",
    summary="Deactivate a user: sign-in is refused and open sessions end at once (administrators)",
    response=UserRead,
)
async def deactivate_user(call: Call) -> UserRead:
    return await _change_user(call, accounts.deactivate)


@router.post(
    "/users/{user_id:int}/second-factor/reset",
    summary="Remove a user's two-factor sign-in and recovery codes and end their sessions (administrators); "
    "a user whose role requires it sets up a new one at the next sign-in",
    response=UserRead,
)
async def reset_second_factor(call: Call) -> UserRead:
    return await _change_user(call, second_factor.reset)


async def _change_user(call: Call, change: Callable[..., Awaitable[User]]) -> UserRead:
    """Applies `change` (session, user_id, actor) to the user of the path once the caller may administer
    that user's court; an unknown user is a 404."""
    principal, directory = call.user, call.services.directory
    user_id: int = call.path["user_id"]
    async with call.services.db.unit_of_work() as session:
        user = await identity.get_user(session, user_id=user_id)
        if user is None:
            raise NotFound(f"No user with id {user_id}.")
        require_user_admin(principal, user.court_code, directory)
        user = await change(session, user_id=user_id, actor=principal)
        return user_read(user, directory)
