"""TOTP codes, their replay protection and recovery codes at the service level; the demo's codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from command_center.errors import Forbidden
from command_center.identity import second_factor, totp
from command_center.identity.models import User

MOMENT = datetime(2026, 11, 27, 8, 0, 15, tzinfo=UTC)


def test_a_code_matches_its_step_and_the_neighbouring_ones_only() -> None:
    secret = totp.new_secret()
    step = totp.time_step(MOMENT)
    for offset in (-1, 0, 1):
        assert totp.matching_step(secret, totp.code_at(secret, step + offset), now=MOMENT) == step + offset
    for offset in (-3, -2, 2, 3):
        code = totp.code_at(secret, step + offset)
        if all(code != totp.code_at(secret, step + d) for d in (-1, 0, 1)):
            assert totp.matching_step(secret, code, now=MOMENT) is None
    assert totp.matching_step(secret, "12345", now=MOMENT) is None
    assert totp.matching_step(secret, "abcdef", now=MOMENT) is None


def test_codes_follow_rfc_6238() -> None:
    # RFC 6238 appendix B, SHA-1 key "12345678901234567890", T = 59 s -> 94287082 (8 digits; 6: 287082).
    import base64

    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp.code_at(secret, totp.time_step(datetime.fromtimestamp(59, UTC))) == "287082"


def test_secrets_are_encrypted_under_the_secret_key() -> None:
    secret = totp.new_secret()
    stored = totp.encrypt_secret(secret, secret_key="k" * 40)
    assert secret not in stored
    assert totp.decrypt_secret(stored, secret_key="k" * 40) == secret
    with pytest.raises(ValueError):
        totp.decrypt_secret(stored, secret_key="another key" * 4)


def test_recovery_codes_are_random_and_typed_loosely() -> None:
    codes = totp.new_recovery_codes()
    assert len(codes) == 10 and len(set(codes)) == 10
    assert all(len(c) == 11 and c[5] == "-" for c in codes)
    digest = totp.recovery_code_hash(codes[0], user_id=1, secret_key="k")
    assert totp.recovery_code_hash(codes[0].upper().replace("-", " "), user_id=1, secret_key="k") == digest
    assert totp.recovery_code_hash(codes[0], user_id=2, secret_key="k") != digest


async def test_a_step_is_spent_once_and_earlier_steps_with_it(
    session: Any, make_user: Any, settings: Any
) -> None:
    user = await make_user("officer", "330106")
    secret, _ = await second_factor.enroll(session, user_id=user.id, settings=settings)
    row = await session.get(User, user.id)
    step = totp.time_step(MOMENT)
    code = totp.code_at(secret, step)
    assert (
        await second_factor.accept_totp(session, user=row, code=code, settings=settings, now=MOMENT) == "ok"
    )
    assert (
        await second_factor.accept_totp(session, user=row, code=code, settings=settings, now=MOMENT)
        == "reused"
    )
    earlier = totp.code_at(secret, step - 1)
    assert (
        await second_factor.accept_totp(session, user=row, code=earlier, settings=settings, now=MOMENT)
        == "reused"
    )
    later = MOMENT + timedelta(seconds=30)
    fresh = totp.code_at(secret, step + 1)
    assert (
        await second_factor.accept_totp(session, user=row, code=fresh, settings=settings, now=later) == "ok"
    )
    assert await second_factor.accept_totp(
        session, user=row, code="000000", settings=settings, now=later
    ) in (
        "wrong",
        "reused",
    )


async def test_a_recovery_code_is_spent_once(session: Any, make_user: Any, settings: Any) -> None:
    user = await make_user("officer", "330106")
    _, codes = await second_factor.enroll(session, user_id=user.id, settings=settings)
    row = await session.get(User, user.id)
    assert await second_factor.use_recovery_code(session, user=row, code=codes[0], settings=settings) == 9
    assert await second_factor.use_recovery_code(session, user=row, code=codes[0], settings=settings) is None
    assert (
        await second_factor.use_recovery_code(session, user=row, code="aaaaa-bbbbb", settings=settings)
        is None
    )
    other = await make_user("officer", "330106")
    assert (
        await second_factor.use_recovery_code(
            session, user=await session.get(User, other.id), code=codes[1], settings=settings
        )
        is None
    )


async def test_the_demo_enrolls_its_admin_and_command_staff_and_shows_their_codes_outside_production(
    session: Any, settings: Any
) -> None:
    from sqlalchemy import delete, select

    from command_center.demo import DEMO_USERS, load_demo

    # load_demo fills an empty database only: this test's transaction is rolled back afterwards.
    await session.execute(delete(User))
    created = await load_demo(session, settings=settings)
    assert created == list(DEMO_USERS)
    users = {u.username: u for u in await session.scalars(select(User))}
    for demo in DEMO_USERS:
        assert second_factor.is_enrolled(users[demo.username]) == (
            demo.role.value in ("admin", "command_staff")
        )
    user, secret = await second_factor.demo_secret(session, username="hz_command", settings=settings)
    assert user.username == "hz_command" and len(secret) == 32
    with pytest.raises(Forbidden):
        await second_factor.demo_secret(
            session, username="hz_command", settings=settings.model_copy(update={"env": "production"})
        )
    users["hz_command"].is_demo = False
    with pytest.raises(Forbidden):
        await second_factor.demo_secret(session, username="hz_command", settings=settings)
