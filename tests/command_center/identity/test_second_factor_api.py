"""Two-factor sign-in over HTTP: enrollment, the two-step sign-in, replay, recovery codes, required roles,
admin resets and the throttle."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from command_center.audit.models import AuditEntry
from command_center.db import utcnow
from command_center.identity import challenge, totp
from command_center.identity.models import LoginFailure, User
from tests.conftest import DEMO_PASSWORD, new_client


async def sign_in(client: Any, username: str, password: str = DEMO_PASSWORD) -> Any:
    return await client.post("/api/v1/session", json={"username": username, "password": password})


async def actions(services: Any, user_id: int) -> list[tuple[str, str, dict]]:
    async with services.db.unit_of_work() as s:
        entries = await s.scalars(
            select(AuditEntry)
            .where(AuditEntry.subject_type == "user", AuditEntry.subject_id == str(user_id))
            .order_by(AuditEntry.seq)
        )
        return [(e.action, e.outcome, e.details or {}) for e in entries]


async def failures(services: Any, username: str) -> int:
    async with services.db.unit_of_work() as s:
        return await s.scalar(
            select(func.count()).select_from(LoginFailure).where(LoginFailure.username == username)
        )


def limit(services: Any, **changes: Any) -> None:
    services.settings = services.settings.model_copy(update=changes)


def current_code(secret: str) -> str:
    return totp.code_at(secret, totp.time_step(utcnow()))


@pytest.fixture
def enrolled_officer(make_user: Any, login: Any, second_factors: Any) -> Any:
    """Makes an officer (not required to) who set up two-factor sign-in through the API: user, secret, codes."""

    async def make() -> tuple[Any, str, list[str]]:
        return await _enrolled_officer(make_user, login, second_factors)

    return make


async def _enrolled_officer(make_user: Any, login: Any, second_factors: Any) -> tuple[Any, str, list[str]]:
    user = await make_user("officer", "330106")
    browser = await login(user)
    started = await browser.post("/api/v1/second-factor/enrollment")
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    confirmed = await browser.post(
        "/api/v1/second-factor/enrollment/confirm", json={"code": current_code(secret)}
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    # So that `login(user)` can sign this user in too: it spends codes of later steps, or recovery codes.
    second_factors.secrets[user.id] = secret
    second_factors.recovery_codes[user.id] = list(codes[5:])
    second_factors.last_step[user.id] = totp.time_step(utcnow()) + 1
    return user, secret, codes


# --- enrollment ----------------------------------------------------------------------------------


async def test_enrollment_shows_the_secret_until_confirmed_and_the_recovery_codes_once(
    login: Any, make_user: Any, services: Any
) -> None:
    user = await make_user("officer", "330106")
    browser = await login(user)
    status = (await browser.get("/api/v1/second-factor")).json()
    assert status == {"enrolled": False, "required": False, "enrolled_at": None, "recovery_codes_left": 0}
    assert (await browser.get("/api/v1/second-factor/enrollment/qr.svg")).status_code == 404

    started = await browser.post("/api/v1/second-factor/enrollment")
    assert started.status_code == 201, started.text
    secret = started.json()["secret"]
    assert len(secret) == 32
    assert started.json()["otpauth_uri"].startswith("otpauth://totp/")
    assert f"secret={secret}" in started.json()["otpauth_uri"]
    qr = await browser.get(started.json()["qr_code_url"])
    assert qr.status_code == 200 and qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.text.startswith("<svg") and "no-store" in qr.headers["cache-control"]

    async with services.db.unit_of_work() as s:
        stored = (await s.get(User, user.id)).totp_secret
    assert stored and secret not in stored  # encrypted at rest
    assert totp.decrypt_secret(stored, secret_key=services.settings.secret_key) == secret

    wrong = "000000" if current_code(secret) != "000000" else "111111"
    refused = await browser.post("/api/v1/second-factor/enrollment/confirm", json={"code": wrong})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "wrong_code"

    confirmed = await browser.post(
        "/api/v1/second-factor/enrollment/confirm", json={"code": current_code(secret)}
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    status = (await browser.get("/api/v1/second-factor")).json()
    assert status["enrolled"] and status["recovery_codes_left"] == 10

    # Once in force the secret is never shown again, and a second enrollment needs an admin's reset.
    assert (await browser.get("/api/v1/second-factor/enrollment/qr.svg")).status_code == 404
    again = await browser.post("/api/v1/second-factor/enrollment")
    assert again.status_code == 409 and again.json()["error"]["code"] == "second_factor_enrolled"
    logged = [(a, o) for a, o, _ in await actions(services, user.id)]
    assert ("identity.second_factor_enrollment_started", "success") in logged
    assert ("identity.second_factor_enrolled", "success") in logged
    assert all(secret not in str(d) for _, _, d in await actions(services, user.id))


# --- two-step sign-in ----------------------------------------------------------------------------


async def test_an_enrolled_user_signs_in_with_password_then_code(
    client: Any, enrolled_officer: Any, services: Any
) -> None:
    user, secret, _ = await enrolled_officer()
    first = await sign_in(client, user.username)
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["second_factor_required"] is True and body["methods"] == ["totp", "recovery_code"]
    assert "set-cookie" not in first.headers
    assert (await client.get("/api/v1/me")).status_code == 401

    # The enrollment spent this step's code, so the next step's (accepted for clock drift) is fresh.
    code = totp.code_at(secret, totp.time_step(utcnow()) + 1)
    second = await client.post(
        "/api/v1/session/second-factor", json={"challenge": body["challenge"], "code": code}
    )
    assert second.status_code == 200, second.text
    assert second.headers["set-cookie"].startswith("cc_session=")
    assert second.json()["second_factor_setup_required"] is False
    me = await client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["id"] == user.id
    sign_ins = [
        d for a, o, d in await actions(services, user.id) if a == "identity.sign_in" and o == "success"
    ]
    assert sign_ins[-1]["second_factor"] == "totp"


async def test_a_code_is_accepted_once(
    enrolled_officer: Any, app: Any, client: Any, login: Any, make_user: Any, services: Any
) -> None:
    user, secret, _ = await enrolled_officer()
    code = totp.code_at(secret, totp.time_step(utcnow()) + 1)
    first = await sign_in(client, user.username)
    ok = await client.post(
        "/api/v1/session/second-factor", json={"challenge": first.json()["challenge"], "code": code}
    )
    assert ok.status_code == 200, ok.text

    async with new_client(app) as other:  # a second browser
        again = await sign_in(other, user.username)
        replay = await other.post(
            "/api/v1/session/second-factor", json={"challenge": again.json()["challenge"], "code": code}
        )
        assert replay.status_code == 401
        assert replay.json()["error"]["code"] == "code_reused"
        assert "already been used" in replay.json()["error"]["message"]
        assert (await other.get("/api/v1/me")).status_code == 401
    assert await failures(services, user.username) == 1
    reasons = [d.get("reason") for a, o, d in await actions(services, user.id) if o == "failure"]
    assert reasons[-1] == "code_reused"


async def test_a_recovery_code_works_once(
    enrolled_officer: Any, client: Any, login: Any, make_user: Any, services: Any
) -> None:
    user, _, codes = await enrolled_officer()
    first = await sign_in(client, user.username)
    typed = codes[3].upper().replace("-", " ")  # as read off paper
    ok = await client.post(
        "/api/v1/session/second-factor", json={"challenge": first.json()["challenge"], "recovery_code": typed}
    )
    assert ok.status_code == 200, ok.text
    used = [d for a, _, d in await actions(services, user.id) if a == "identity.recovery_code_used"]
    assert used == [{"recovery_codes_left": 9}]

    again = await sign_in(client, user.username)
    refused = await client.post(
        "/api/v1/session/second-factor",
        json={"challenge": again.json()["challenge"], "recovery_code": codes[3]},
    )
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "wrong_recovery_code"
    browser = await login(user)
    assert (await browser.get("/api/v1/second-factor")).json()["recovery_codes_left"] <= 9


async def test_a_second_step_needs_exactly_one_kind_of_code(
    enrolled_officer: Any, client: Any, login: Any, make_user: Any
) -> None:
    user, secret, codes = await enrolled_officer()
    first = await sign_in(client, user.username)
    both = await client.post(
        "/api/v1/session/second-factor",
        json={
            "challenge": first.json()["challenge"],
            "code": current_code(secret),
            "recovery_code": codes[0],
        },
    )
    assert both.status_code == 422
    neither = await client.post(
        "/api/v1/session/second-factor", json={"challenge": first.json()["challenge"]}
    )
    assert neither.status_code == 422


async def test_a_forged_expired_or_stale_challenge_is_refused(
    client: Any, enrolled_officer: Any, services: Any
) -> None:
    user, secret, _ = await enrolled_officer()
    token = (await sign_in(client, user.username)).json()["challenge"]
    body, _, signature = token.partition(".")
    forged = await client.post(
        "/api/v1/session/second-factor", json={"challenge": f"{body}x.{signature}", "code": "123456"}
    )
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "challenge_invalid"

    async with services.db.unit_of_work() as s:
        row = await s.get(User, user.id)
        old = challenge.issue(services.settings, user=row, now=utcnow() - timedelta(minutes=10))
    expired = await client.post("/api/v1/session/second-factor", json={"challenge": old, "code": "123456"})
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "challenge_expired"

    # A password change after the password step voids the challenge.
    from command_center.identity import service as identity

    async with services.db.unit_of_work() as s:
        await identity.set_password(s, user_id=user.id, password="a-brand-new-password")
    stale = await client.post(
        "/api/v1/session/second-factor",
        json={"challenge": token, "code": totp.code_at(secret, totp.time_step(utcnow()) + 1)},
    )
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "challenge_invalid"


async def test_wrong_codes_count_toward_the_lockout_and_the_password_does_not_clear_it(
    client: Any, enrolled_officer: Any, services: Any
) -> None:
    user, secret, _ = await enrolled_officer()
    limit(services, login_max_failures_per_account=3)
    right = current_code(secret)
    wrong = next(c for c in ("111111", "222222", "333333") if c != right)
    for _ in range(3):
        first = await sign_in(client, user.username)
        assert first.status_code == 202  # the right password alone never clears the count
        refused = await client.post(
            "/api/v1/session/second-factor", json={"challenge": first.json()["challenge"], "code": wrong}
        )
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "wrong_code"
    assert await failures(services, user.username) == 3
    locked = await sign_in(client, user.username)
    assert locked.status_code == 429 and locked.json()["error"]["details"]["locked"] == "account"
    # A challenge obtained before the lockout does not get around it either.
    async with services.db.unit_of_work() as s:
        token = challenge.issue(services.settings, user=await s.get(User, user.id))
    still = await client.post(
        "/api/v1/session/second-factor",
        json={"challenge": token, "code": totp.code_at(secret, totp.time_step(utcnow()) + 1)},
    )
    assert still.status_code == 429


# --- required roles ------------------------------------------------------------------------------


async def test_an_admin_without_a_second_factor_may_only_set_it_up(
    client: Any, make_user: Any, services: Any
) -> None:
    admin = await make_user("admin", "330106")
    signed_in = await sign_in(client, admin.username)
    assert signed_in.status_code == 200, signed_in.text
    assert signed_in.json()["second_factor_setup_required"] is True
    client.headers["X-CSRF-Token"] = signed_in.json()["csrf_token"]

    assert (await client.get("/api/v1/me")).status_code == 200
    for method, path in (
        ("GET", "/api/v1/users"),
        ("GET", "/api/v1/assistance-requests"),
        ("POST", "/api/v1/api-tokens"),
    ):
        refused = await client.request(method, path, json={"name": "x"} if method == "POST" else None)
        assert refused.status_code == 403, (path, refused.text)
        error = refused.json()["error"]
        assert error["code"] == "second_factor_setup_required"
        assert "Two-factor sign-in must be set up" in error["message"]
    page = await client.get("/admin", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/account/two-factor")
    assert (await client.get("/api/v1/second-factor")).json()["required"] is True

    started = (await client.post("/api/v1/second-factor/enrollment")).json()
    confirmed = await client.post(
        "/api/v1/second-factor/enrollment/confirm", json={"code": current_code(started["secret"])}
    )
    assert confirmed.status_code == 200
    # The same session is now a full one: the user has shown both factors.
    assert (await client.get("/api/v1/users")).status_code == 200
    assert (await client.get("/admin", follow_redirects=False)).status_code == 200


async def test_the_required_roles_come_from_the_settings(client: Any, make_user: Any, services: Any) -> None:
    limit(services, second_factor_required_roles=["clerk"])
    admin = await make_user("admin", "330106")
    clerk = await make_user("clerk", "330106")
    assert (await sign_in(client, admin.username)).json()["second_factor_setup_required"] is False
    assert (await sign_in(client, clerk.username)).json()["second_factor_setup_required"] is True


async def test_a_setup_only_session_cannot_open_a_socket(client: Any, make_user: Any, services: Any) -> None:
    from command_center.errors import NotAuthenticated

    staff = await make_user("command_staff", "330000")
    response = await sign_in(client, staff.username)
    cookie = response.headers["set-cookie"].split(";")[0]
    with pytest.raises(NotAuthenticated) as refused:
        await services.authenticator.authenticate_socket(cookie_header=cookie, token=None)
    assert refused.value.code == "second_factor_setup_required"


# --- admin reset ---------------------------------------------------------------------------------


async def test_an_admin_resets_a_users_second_factor(
    client: Any, login: Any, make_user: Any, services: Any, second_factors: Any
) -> None:
    staff = await make_user("command_staff", "330106")
    staff_browser = await login(staff)  # enrolls on first sign-in
    assert (await staff_browser.get("/api/v1/second-factor")).json()["enrolled"] is True
    admin = await make_user("admin", "330106")
    browser = await login(admin)

    other_court_admin = await login(await make_user("admin", "330105"))
    foreign = await other_court_admin.post(f"/api/v1/users/{staff.id}/second-factor/reset")
    assert foreign.status_code == 403
    own = await browser.post(f"/api/v1/users/{admin.id}/second-factor/reset")
    assert own.status_code == 409

    reset = await browser.post(f"/api/v1/users/{staff.id}/second-factor/reset")
    assert reset.status_code == 200, reset.text
    assert (await staff_browser.get("/api/v1/me")).status_code == 401  # sessions ended
    entry = [d for a, _, d in await actions(services, staff.id) if a == "identity.second_factor_reset"]
    assert entry and entry[0]["had_second_factor"] is True and entry[0]["sessions_ended"] == 1
    again = await sign_in(client, staff.username)
    assert again.status_code == 200 and again.json()["second_factor_setup_required"] is True
    old_codes = second_factors.recovery_codes[staff.id]
    async with services.db.unit_of_work() as s:
        row = await s.get(User, staff.id)
        assert row.totp_secret is None and row.totp_enabled_at is None
    assert old_codes  # the recovery codes handed out before are gone with the secret
    async with services.db.unit_of_work() as s:
        from command_center.identity.models import RecoveryCode

        left = await s.scalar(
            select(func.count()).select_from(RecoveryCode).where(RecoveryCode.user_id == staff.id)
        )
    assert left == 0
