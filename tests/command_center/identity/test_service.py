"""Users, password checks, sessions and API tokens at the service level."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from command_center.db import utcnow
from command_center.errors import Conflict, InvalidInput, NotAuthenticated, NotFound
from command_center.identity import service
from command_center.identity.models import ApiToken, LoginSession, User
from command_center.identity.passwords import password_hasher
from command_center.identity.principal import Role

PASSWORD = "correct-horse-battery"


async def make(session: Any, username: str = "xihu.clerk", **kw: Any) -> User:
    fields = {"password": PASSWORD, "role": Role.clerk, "court_code": "330106", **kw}
    return await service.create_user(session, username=username, **fields)


async def test_create_user_stores_a_lowercased_username_and_an_argon2_hash(session: Any) -> None:
    user = await make(session, username="  Xihu.Clerk ", display_name="西湖区法院 书记员")
    assert user.username == "xihu.clerk"
    assert user.display_name == "西湖区法院 书记员"
    assert user.role is Role.clerk and user.active and not user.is_demo and user.totp_secret is None
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert (await service.get_by_username(session, username="XIHU.CLERK")).id == user.id
    assert (await service.get_user(session, user_id=user.id)).username == "xihu.clerk"


async def test_display_name_defaults_to_the_username(session: Any) -> None:
    assert (await make(session)).display_name == "xihu.clerk"


async def test_usernames_are_unique_regardless_of_case(session: Any) -> None:
    await make(session, username="zhang.san")
    with pytest.raises(Conflict, match="taken"):
        await make(session, username="Zhang.San")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"password": "too-short"}, "password"),
        ({"username": "x"}, "username"),
        ({"username": "has space"}, "username"),
        ({"username": "-starts-with-hyphen"}, "username"),
        ({"court_code": "999999"}, "court_code"),
        ({"role": "judge"}, "role"),
    ],
)
async def test_create_user_rejects_invalid_input_naming_the_field(
    session: Any, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        await make(session, **fields)
    assert caught.value.details[0]["field"] == field
    assert caught.value.message.startswith(f"{field}:")


async def test_authenticate_password_accepts_only_the_right_password(session: Any) -> None:
    user = await make(session)
    assert (
        await service.authenticate_password(session, username="XIHU.clerk", password=PASSWORD)
    ).id == user.id
    assert (
        await service.authenticate_password(session, username="xihu.clerk", password=PASSWORD + "x") is None
    )
    assert await service.authenticate_password(session, username="nobody", password=PASSWORD) is None


async def test_an_outdated_hash_is_upgraded_at_the_next_successful_sign_in(session: Any) -> None:
    user = await make(session)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    user.password_hash = weak
    await session.flush()
    assert password_hasher.check_needs_rehash(weak)

    assert await service.authenticate_password(session, username="xihu.clerk", password=PASSWORD) is not None
    assert user.password_hash != weak
    assert not password_hasher.check_needs_rehash(user.password_hash)
    password_hasher.verify(user.password_hash, PASSWORD)


async def test_a_wrong_password_leaves_an_outdated_hash_alone(session: Any) -> None:
    user = await make(session)
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    user.password_hash = weak
    await session.flush()
    assert (
        await service.authenticate_password(session, username="xihu.clerk", password="wrong-password") is None
    )
    assert user.password_hash == weak


async def test_set_password_ends_the_users_sessions(session: Any, settings: Any) -> None:
    user = await make(session)
    _login_session, cookie = await service.open_session(
        session, user=user, settings=settings, ip=None, user_agent=None
    )
    await service.set_password(session, user_id=user.id, password="a-brand-new-password")
    with pytest.raises(NotAuthenticated):
        await service.authenticate_session(session, cookie_token=cookie)
    assert await service.authenticate_password(
        session, username=user.username, password="a-brand-new-password"
    )


async def test_a_session_cookie_is_stored_only_as_its_sha256(session: Any, settings: Any) -> None:
    user = await make(session)
    login_session, cookie = await service.open_session(
        session, user=user, settings=settings, ip="10.0.0.1", user_agent="Firefox"
    )
    assert login_session.token_hash == service.sha256_hex(cookie) and cookie not in login_session.token_hash
    assert login_session.expires_at - login_session.created_at == timedelta(hours=settings.session_hours)
    principal, found = await service.authenticate_session(session, cookie_token=cookie)
    assert found.id == login_session.id
    assert (principal.kind, principal.id, principal.court_code, principal.role) == (
        "user",
        user.id,
        "330106",
        Role.clerk,
    )
    assert principal.session_id == login_session.id


async def test_last_seen_is_written_at_most_once_a_minute(session: Any, settings: Any) -> None:
    user = await make(session)
    login_session, cookie = await service.open_session(
        session, user=user, settings=settings, ip=None, user_agent=None
    )
    recent = utcnow() - timedelta(seconds=5)
    stale = utcnow() - timedelta(minutes=2)
    await session.execute(
        update(LoginSession).where(LoginSession.id == login_session.id).values(last_seen_at=recent)
    )
    _, found = await service.authenticate_session(session, cookie_token=cookie)
    assert service.aware(found.last_seen_at) == recent
    await session.execute(
        update(LoginSession).where(LoginSession.id == login_session.id).values(last_seen_at=stale)
    )
    session.expire_all()
    _, found = await service.authenticate_session(session, cookie_token=cookie)
    assert service.aware(found.last_seen_at) > stale + timedelta(minutes=1)


@pytest.mark.parametrize("change", ["expired", "revoked", "disabled", "unknown"])
async def test_a_dead_session_cookie_is_refused(session: Any, settings: Any, change: str) -> None:
    user = await make(session)
    login_session, cookie = await service.open_session(
        session, user=user, settings=settings, ip=None, user_agent=None
    )
    if change == "expired":
        login_session.expires_at = utcnow() - timedelta(seconds=1)
    elif change == "revoked":
        await service.revoke_session(session, session_id=login_session.id)
    elif change == "disabled":
        user.active = False
    else:
        cookie = cookie[::-1]
    await session.flush()
    with pytest.raises(NotAuthenticated):
        await service.authenticate_session(session, cookie_token=cookie)


async def test_create_token_returns_the_plaintext_once_and_stores_its_hash(session: Any) -> None:
    token, plaintext = await service.create_token(session, court_code="330106", name="西湖区法院 案件系统")
    prefix, token_id, secret = plaintext.split("_", 2)
    assert (prefix, int(token_id)) == ("cct", token.id)
    assert token.token_hash == service.sha256_hex(secret)
    assert secret not in token.token_hash
    stored = (await session.execute(select(ApiToken).where(ApiToken.id == token.id))).scalar_one()
    assert plaintext not in repr(stored.model_dump())


async def test_a_valid_token_authenticates_as_a_clerk_of_its_court(session: Any) -> None:
    token, plaintext = await service.create_token(session, court_code="330106", name="case-system")
    principal = await service.authenticate_token(session, token=plaintext)
    assert (principal.kind, principal.id, principal.name) == ("token", token.id, "case-system")
    assert (principal.court_code, principal.role, principal.session_id) == ("330106", Role.clerk, None)
    assert token.last_used_at is not None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: "",
        lambda t: "not-a-token",
        lambda t: t.replace("cct_", "xyz_"),
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
        lambda t: "cct_999999_" + t.split("_", 2)[2],  # no such id
        lambda t: "cct_0_" + t.split("_", 2)[2],
    ],
)
async def test_a_malformed_or_wrong_token_is_refused(session: Any, mangle: Any) -> None:
    _, plaintext = await service.create_token(session, court_code="330106", name="case-system")
    with pytest.raises(NotAuthenticated):
        await service.authenticate_token(session, token=mangle(plaintext))


async def test_a_revoked_token_is_refused_and_revoking_twice_is_harmless(session: Any) -> None:
    token, plaintext = await service.create_token(session, court_code="330106", name="case-system")
    await service.revoke_token(session, token_id=token.id)
    revoked_at = token.revoked_at
    await service.revoke_token(session, token_id=token.id)
    assert token.revoked_at == revoked_at
    with pytest.raises(NotAuthenticated, match="revoked"):
        await service.authenticate_token(session, token=plaintext)
    with pytest.raises(NotFound):
        await service.revoke_token(session, token_id=999_999)


async def test_list_tokens_holds_one_courts_tokens(session: Any) -> None:
    first, _ = await service.create_token(session, court_code="330106", name="one")
    second, _ = await service.create_token(session, court_code="330106", name="two")
    await service.create_token(session, court_code="330105", name="neighbour")
    tokens, total = await service.list_tokens(session, court_code="330106")
    assert [t.id for t in tokens] == [first.id, second.id] and total == 2


async def test_create_token_needs_an_existing_court(session: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        await service.create_token(session, court_code="999999", name="nowhere")
    assert caught.value.details[0]["field"] == "court_code"


async def test_demo_usernames_lists_the_demo_users(session: Any) -> None:
    await make(session, username="demo.one", is_demo=True)
    await make(session, username="real.one")
    assert "demo.one" in await service.demo_usernames(session)
    assert "real.one" not in await service.demo_usernames(session)
