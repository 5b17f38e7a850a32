"""The demo data set that `make run` loads into an empty database.

Demo users whose role requires two-factor sign-in (admin and command staff by default) are enrolled
with a random TOTP secret, stored encrypted like anyone's; `command-center totp-code <username>` prints
a demo user's current code on the machine that holds the database and CC_SECRET_KEY (never in
production, where demo users are refused anyway).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.identity import second_factor
from command_center.identity import service as identity
from command_center.identity.models import User
from command_center.identity.principal import Role
from command_center.settings import Settings

DEMO_PASSWORD = "demo-password-2026"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    court_code: str
    display_name: str


DEMO_USERS = (
    DemoUser("admin", Role.admin, "000000", "系统管理员"),
    DemoUser("spc_command", Role.command_staff, "000000", "最高法院指挥中心 值班员"),
    DemoUser("zj_command", Role.command_staff, "330000", "浙江高院指挥中心 值班员"),
    DemoUser("hz_command", Role.command_staff, "330100", "杭州中院指挥中心 值班员"),
    DemoUser("xihu_clerk", Role.clerk, "330106", "西湖区法院 书记员"),
    DemoUser("xihu_officer", Role.officer, "330106", "西湖区法院 执行员"),
    DemoUser("gongshu_officer", Role.officer, "330105", "拱墅区法院 执行员"),
    DemoUser("chaoyang_clerk", Role.clerk, "110105", "北京市朝阳区法院 书记员"),
    DemoUser("tianhe_officer", Role.officer, "440106", "广州市天河区法院 执行员"),
)


SECOND_FACTOR_HINT = "demo admin and command staff also need a code: command-center totp-code <username>"


async def load_demo(session: AsyncSession, *, settings: Settings | None = None) -> list[DemoUser]:
    """Adds the demo users when the database has no users; returns the ones it created.

    With `settings`, the users whose role requires two-factor sign-in are enrolled (audited); without,
    they set it up themselves at their first sign-in.
    """
    if await session.scalar(select(func.count()).select_from(User)):
        return []
    for demo in DEMO_USERS:
        user = await identity.create_user(
            session,
            username=demo.username,
            password=DEMO_PASSWORD,
            role=demo.role,
            court_code=demo.court_code,
            display_name=demo.display_name,
            is_demo=True,
        )
        if settings is not None and second_factor.required_for(settings, demo.role):
            assert user.id is not None
            await second_factor.enroll(session, user_id=user.id, settings=settings, actor_label="demo")
    return list(DEMO_USERS)
