"""The demo data set that `make run` loads into an empty database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.identity import service as identity
from command_center.identity.models import User
from command_center.identity.principal import Role

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


async def load_demo(session: AsyncSession) -> list[DemoUser]:
    """Adds the demo users when the database has no users; returns the ones it created."""
    if await session.scalar(select(func.count()).select_from(User)):
        return []
    for demo in DEMO_USERS:
        await identity.create_user(
            session,
            username=demo.username,
            password=DEMO_PASSWORD,
            role=demo.role,
            court_code=demo.court_code,
            display_name=demo.display_name,
            is_demo=True,
        )
    return list(DEMO_USERS)
