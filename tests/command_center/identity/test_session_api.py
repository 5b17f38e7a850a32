"""Signing in and out over HTTP: cookie, CSRF, `me`, throttling of failed sign-ins, and their audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from command_center.audit.models import AuditEntry
from command_center.db import utcnow
from command_center.identity.models import LoginFailure, LoginSession
from tests.conftest import DEMO_PASSWORD


async def sign_in(client: Any, username: str, password: str = DEMO_PASSWORD) -> Any:
    return await client.post("/api/v1/session", json={"username": username, "password": password})


async def audit_entries(services: Any, action: str) -> list[AuditEntry]:
    async with services.db.unit_of_work() as s:
        return list(
            (
                await s.execute(
                    select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
                )
            ).scalars()
        )


def limit(services: Any, **changes: Any) -> None:
    services.settings = services.settings.model_copy(update=changes)


async def test_sign_in_returns_me_and_a_csrf_token_and_sets_a_safe_cookie(
    client: Any, make_user: Any
) -> None:
    user = await make_user("clerk", "330106", display_name="西湖区法院 书记员")
    response = await sign_in(client, user.username.upper())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["user"] == {
        "id": user.id,
        "kind": "user",
        "username": user.username,
        "display_name": "西湖区法院 书记员",
        "role": "clerk",
        "court": {"code": "330106", "name": "杭州市西湖区人民法院", "level": "basic"},
        "auth": "session",
    }
    assert len(body["csrf_token"]) >= 32
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("cc_session=")
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path", "samesite", "max-age"} <= flags
    assert "samesite=lax" in cookie.lower() and "path=/" in cookie.lower()
    assert "secure" not in flags  # plain http in tests; see the next test


async def test_the_cookie_is_secure_when_settings_say_so(client: Any, make_user: Any, services: Any) -> None:
    limit(services, cookie_secure=True)
    user = await make_user("clerk", "330106")
    response = await sign_in(client, user.username)
    assert "secure" in {part.strip().lower() for part in response.headers["set-cookie"].split(";")}


async def test_the_server_keeps_only_the_cookies_hash(client: Any, make_user: Any, services: Any) -> None:
    user = await make_user("clerk", "330106")
    response = await sign_in(client, user.username)
    cookie = response.cookies["cc_session"]
    async with services.db.unit_of_work() as s:
        stored = (await s.execute(select(LoginSession).where(LoginSession.user_id == user.id))).scalar_one()
    assert stored.token_hash != cookie and len(stored.token_hash) == 64
    assert stored.ip == "127.0.0.1" and stored.revoked_at is None
    assert stored.csrf_token == response.json()["csrf_token"]


async def test_me_describes_the_signed_in_user(login: Any, make_user: Any) -> None:
    user = await make_user("command_staff", "330000")
    c = await login(user)
    response = await c.get("/api/v1/me")
    assert response.status_code == 200
    me = response.json()
    assert (me["id"], me["role"], me["auth"]) == (user.id, "command_staff", "session")
    assert me["court"] == {"code": "330000", "name": "浙江省高级人民法院", "level": "high"}


async def test_me_without_credentials_is_401(client: Any) -> None:
    response = await client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


async def test_wrong_password_and_unknown_user_get_the_same_answer(client: Any, make_user: Any) -> None:
    user = await make_user("clerk", "330106")
    wrong = await sign_in(client, user.username, "not-the-password")
    unknown = await sign_in(client, "no.such.user", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()["error"]["message"]
        == unknown.json()["error"]["message"]
        == "Wrong username or password."
    )
    assert "set-cookie" not in wrong.headers


async def test_a_disabled_account_cannot_sign_in(client: Any, make_user: Any, services: Any) -> None:
    user = await make_user("clerk", "330106")
    async with services.db.unit_of_work() as s:
        (await s.get(type(user), user.id)).active = False
    response = await sign_in(client, user.username)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "account_disabled"


async def test_sign_out_ends_the_session_and_clears_the_cookie(login: Any, make_user: Any) -> None:
    c = await login(await make_user("officer", "330106"))
    cookie = c.cookies["cc_session"]
    response = await c.delete("/api/v1/session")
    assert response.status_code == 204
    assert (
        'cc_session="";' in response.headers["set-cookie"]
        or "max-age=0" in response.headers["set-cookie"].lower()
    )
    # The old cookie, replayed, no longer works.
    c.cookies.set("cc_session", cookie)
    after = await c.get("/api/v1/me")
    assert after.status_code == 401
    assert after.json()["error"]["code"] == "session_invalid"


async def test_a_cookie_write_without_the_csrf_header_is_403(login: Any, make_user: Any) -> None:
    c = await login(await make_user("clerk", "330106"))
    csrf = c.headers.pop("X-CSRF-Token")
    response = await c.delete("/api/v1/session")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "csrf_failed" and "X-CSRF-Token" in error["message"]

    wrong = await c.delete("/api/v1/session", headers={"X-CSRF-Token": csrf[::-1]})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "csrf_failed"
    # Reads need no CSRF header, and the session survived both attempts.
    assert (await c.get("/api/v1/me")).status_code == 200
    assert (await c.delete("/api/v1/session", headers={"X-CSRF-Token": csrf})).status_code == 204


async def test_an_expired_session_is_401_and_the_browser_can_sign_in_again(
    login: Any, make_user: Any, services: Any
) -> None:
    user = await make_user("clerk", "330106")
    c = await login(user)
    async with services.db.unit_of_work() as s:
        await s.execute(
            update(LoginSession)
            .where(LoginSession.user_id == user.id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    response = await c.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_expired"
    again = await sign_in(c, user.username)  # still sending the stale cookie
    assert again.status_code == 200
    c.headers["X-CSRF-Token"] = again.json()["csrf_token"]
    assert (await c.get("/api/v1/me")).status_code == 200


async def test_an_account_is_locked_after_too_many_failures_even_for_the_right_password(
    client: Any, make_user: Any, services: Any
) -> None:
    user = await make_user("clerk", "330106")
    attempts = services.settings.login_max_failures_per_account
    for _ in range(attempts):
        assert (await sign_in(client, user.username, "wrong-password")).status_code == 401
    locked = await sign_in(client, user.username)
    assert locked.status_code == 429
    error = locked.json()["error"]
    assert error["code"] == "too_many_requests"
    retry_after = int(locked.headers["retry-after"])
    assert 0 < retry_after <= services.settings.login_lockout_minutes * 60
    minutes = -(-retry_after // 60)
    assert error["message"] == f"Too many failed sign-ins for this account. Try again in {minutes} minutes."
    # Another account from the same address is not affected.
    other = await make_user("clerk", "330106")
    assert (await sign_in(client, other.username)).status_code == 200


async def test_the_lock_lifts_when_the_failures_leave_the_window(
    client: Any, make_user: Any, services: Any
) -> None:
    user = await make_user("clerk", "330106")
    for _ in range(services.settings.login_max_failures_per_account):
        await sign_in(client, user.username, "wrong-password")
    assert (await sign_in(client, user.username)).status_code == 429
    async with services.db.unit_of_work() as s:
        window = timedelta(minutes=services.settings.login_lockout_minutes)
        await s.execute(update(LoginFailure).values(at=utcnow() - window - timedelta(seconds=1)))
    assert (await sign_in(client, user.username)).status_code == 200


async def test_a_success_clears_the_accounts_failures(client: Any, make_user: Any, services: Any) -> None:
    user = await make_user("clerk", "330106")
    attempts = services.settings.login_max_failures_per_account
    for _ in range(attempts - 1):
        await sign_in(client, user.username, "wrong-password")
    assert (await sign_in(client, user.username)).status_code == 200
    for _ in range(attempts - 1):
        assert (await sign_in(client, user.username, "wrong-password")).status_code == 401
    assert (await sign_in(client, user.username)).status_code == 200


async def test_unknown_usernames_are_throttled_like_known_ones(client: Any, services: Any) -> None:
    for _ in range(services.settings.login_max_failures_per_account):
        await sign_in(client, "no.such.user", "wrong-password")
    response = await sign_in(client, "No.Such.User", "wrong-password")
    assert response.status_code == 429


async def test_an_address_is_throttled_across_accounts(
    app: Any, client: Any, make_user: Any, services: Any
) -> None:
    limit(services, login_max_failures_per_address=3)
    user = await make_user("clerk", "330106")
    for n in range(3):
        assert (await sign_in(client, f"guess.{n}", "wrong-password")).status_code == 401
    locked = await sign_in(client, user.username)
    assert locked.status_code == 429
    assert "from this network address" in locked.json()["error"]["message"]
    assert int(locked.headers["retry-after"]) > 0
    # A different address is not affected.
    transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as elsewhere:
        assert (await sign_in(elsewhere, user.username)).status_code == 200


async def test_sign_ins_are_audited_with_their_outcome(client: Any, make_user: Any, services: Any) -> None:
    user = await make_user("clerk", "330106")
    assert (await sign_in(client, user.username, "wrong-password")).status_code == 401
    assert (await sign_in(client, "no.such.user", "wrong-password")).status_code == 401
    assert (await sign_in(client, user.username)).status_code == 200
    entries = await audit_entries(services, "identity.sign_in")
    assert [(e.outcome, e.details.get("reason")) for e in entries] == [
        ("failure", "wrong_password"),
        ("failure", "unknown_username"),
        ("success", None),
    ]
    failure, unknown, success = entries
    assert failure.subject_id == str(user.id) and failure.actor_court == "330106"
    assert unknown.subject_id is None
    assert success.actor == f"user:{user.username}" and success.actor_court == "330106"
    assert success.subject_type == "user" and success.subject_id == str(user.id)


async def test_a_throttled_sign_in_is_audited_as_denied(client: Any, make_user: Any, services: Any) -> None:
    user = await make_user("clerk", "330106")
    for _ in range(services.settings.login_max_failures_per_account):
        await sign_in(client, user.username, "wrong-password")
    await sign_in(client, user.username)
    last = (await audit_entries(services, "identity.sign_in"))[-1]
    assert (last.outcome, last.details["reason"]) == ("denied", "locked_account")


async def test_sign_out_is_audited(login: Any, make_user: Any, services: Any) -> None:
    user = await make_user("clerk", "330106")
    c = await login(user)
    await c.delete("/api/v1/session")
    (entry,) = await audit_entries(services, "identity.sign_out")
    assert entry.actor == f"user:{user.username}" and entry.subject_id == str(user.id)


@pytest.mark.parametrize("body", [{}, {"username": "a"}, {"username": "a", "password": "b", "extra": 1}])
async def test_a_malformed_sign_in_body_is_422(client: Any, body: dict[str, Any]) -> None:
    response = await client.post("/api/v1/session", json=body)
    assert response.status_code == 422
