"""Court systems' API tokens over HTTP: bearer authentication and their administration."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from command_center.audit.models import AuditEntry


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_caller_gets_a_me_describing_the_token(client: Any, make_token: Any) -> None:
    plaintext = await make_token("330106", name="西湖区法院 案件系统")
    response = await client.get("/api/v1/me", headers=bearer(plaintext))
    assert response.status_code == 200, response.text
    me = response.json()
    assert (me["kind"], me["auth"], me["role"]) == ("token", "token", "clerk")
    assert me["username"] == me["display_name"] == "西湖区法院 案件系统"
    assert me["id"] == int(plaintext.split("_")[1])
    assert me["court"] == {"code": "330106", "name": "杭州市西湖区人民法院", "level": "basic"}


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer cct_1_short",
        "Bearer not-a-token",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer cct_999999_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    ],
)
async def test_a_malformed_or_unknown_token_is_401(client: Any, authorization: str) -> None:
    response = await client.get("/api/v1/me", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


async def test_a_revoked_token_is_401(login: Any, make_user: Any, client: Any, make_token: Any) -> None:
    plaintext = await make_token("330106")
    assert (await client.get("/api/v1/me", headers=bearer(plaintext))).status_code == 200
    admin = await login(await make_user("admin", "330106"))
    token_id = int(plaintext.split("_")[1])
    assert (await admin.delete(f"/api/v1/api-tokens/{token_id}")).status_code == 204
    response = await client.get("/api/v1/me", headers=bearer(plaintext))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_revoked"


async def test_a_bearer_write_needs_no_csrf_header(client: Any, make_token: Any) -> None:
    # DELETE /session is a write; a token has no session, which is the 422, not a CSRF 403.
    response = await client.delete("/api/v1/session", headers=bearer(await make_token("330106")))
    assert response.status_code == 422


async def test_an_admin_issues_lists_and_revokes_tokens_of_their_court(
    login: Any, make_user: Any, client: Any, services: Any
) -> None:
    admin = await login(await make_user("admin", "330106"))
    created = await admin.post("/api/v1/api-tokens", json={"name": "case-system"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith(f"cct_{body['token']['id']}_")
    assert body["token"]["court_code"] == "330106" and body["token"]["revoked_at"] is None
    assert (await client.get("/api/v1/me", headers=bearer(body["secret"]))).status_code == 200

    listed = (await admin.get("/api/v1/api-tokens")).json()["items"]
    assert [t["id"] for t in listed] == [body["token"]["id"]]
    assert "secret" not in listed[0] and "token_hash" not in listed[0]
    assert listed[0]["last_used_at"] is not None

    assert (await admin.delete(f"/api/v1/api-tokens/{body['token']['id']}")).status_code == 204
    assert (await admin.get("/api/v1/api-tokens")).json()["items"][0]["revoked_at"] is not None
    async with services.db.unit_of_work() as s:
        actions = set(
            (
                await s.execute(select(AuditEntry.action).where(AuditEntry.subject_type == "api_token"))
            ).scalars()
        )
    assert actions == {"identity.api_token_created", "identity.api_token_revoked"}


async def test_an_spc_admin_manages_any_courts_tokens(login: Any, make_user: Any) -> None:
    spc_admin = await login(await make_user("admin", "000000"))
    created = await spc_admin.post("/api/v1/api-tokens", json={"name": "x", "court_code": "110105"})
    assert created.status_code == 201
    assert (
        len((await spc_admin.get("/api/v1/api-tokens", params={"court_code": "110105"})).json()["items"]) == 1
    )
    token_id = created.json()["token"]["id"]
    assert (await spc_admin.delete(f"/api/v1/api-tokens/{token_id}")).status_code == 204


@pytest.mark.parametrize(
    ("role", "court", "target_court"),
    [
        ("admin", "330106", "330105"),  # a sibling court's admin business
        ("admin", "330000", "330106"),  # a high court's admin is not the basic court's admin
        ("command_staff", "000000", "330106"),
        ("clerk", "330106", "330106"),
        ("officer", "330106", "330106"),
    ],
)
async def test_only_the_courts_admin_or_an_spc_admin_manages_its_tokens(
    login: Any, make_user: Any, make_token: Any, role: str, court: str, target_court: str
) -> None:
    caller = await login(await make_user(role, court))
    plaintext = await make_token(target_court)
    token_id = int(plaintext.split("_")[1])
    created = await caller.post("/api/v1/api-tokens", json={"name": "x", "court_code": target_court})
    listed = await caller.get("/api/v1/api-tokens", params={"court_code": target_court})
    revoked = await caller.delete(f"/api/v1/api-tokens/{token_id}")
    assert (created.status_code, listed.status_code, revoked.status_code) == (403, 403, 403)


async def test_a_token_cannot_manage_tokens(client: Any, make_token: Any) -> None:
    plaintext = await make_token("330106")
    response = await client.post("/api/v1/api-tokens", json={"name": "x"}, headers=bearer(plaintext))
    assert response.status_code == 403


async def test_revoking_an_unknown_token_is_404(login: Any, make_user: Any) -> None:
    admin = await login(await make_user("admin", "330106"))
    assert (await admin.delete("/api/v1/api-tokens/999999")).status_code == 404


async def test_issuing_a_token_for_an_unknown_court_is_422(login: Any, make_user: Any) -> None:
    admin = await login(await make_user("admin", "000000"))
    response = await admin.post("/api/v1/api-tokens", json={"name": "x", "court_code": "999999"})
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "court_code"
