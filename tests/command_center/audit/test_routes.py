"""`GET /api/v1/audit/verify`: administrators only; reports the first broken entry."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from command_center.audit import service as audit

COURT = "330106"


async def test_an_administrator_sees_an_intact_chain(make_user: Any, login: Any, services: Any) -> None:
    async with services.db.unit_of_work() as session:
        await audit.record(session, action="case.create", subject_type="case", subject_id="1")
    client = await login(await make_user("admin", COURT))
    response = await client.get("/api/v1/audit/verify")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True and body["first_broken"] is None and body["checked"] >= 1


async def test_an_administrator_sees_where_the_chain_breaks(
    make_user: Any, login: Any, services: Any
) -> None:
    async with services.db.unit_of_work() as session:
        entries = [
            await audit.record(
                session, action="case.update", subject_type="case", subject_id="2", details={"n": n}
            )
            for n in range(4)
        ]
        await session.execute(
            text("UPDATE audit_entry SET actor = 'user:mallory' WHERE id = :id"), {"id": entries[1].id}
        )
    client = await login(await make_user("admin", COURT))
    body = (await client.get("/api/v1/audit/verify")).json()
    assert body["ok"] is False
    assert body["first_broken"]["seq"] == entries[1].seq and body["first_broken"]["id"] == entries[1].id
    assert body["first_broken"]["reason"]
    assert body["checked"] == entries[1].seq - 1


async def test_other_roles_are_forbidden_and_the_attempt_is_audited(
    make_user: Any, login: Any, session: AsyncSession
) -> None:
    for role in ("command_staff", "officer", "clerk"):
        client = await login(await make_user(role, COURT))
        response = await client.get("/api/v1/audit/verify")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "forbidden"
    denied = await audit.list_for_subject(session, subject_type="http", subject_id="GET /api/v1/audit/verify")
    assert [e.outcome for e in denied][-3:] == ["denied"] * 3


async def test_signing_in_is_required(client: Any) -> None:
    assert (await client.get("/api/v1/audit/verify")).status_code == 401
