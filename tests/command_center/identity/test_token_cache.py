"""API tokens remembered for a few seconds: revocation in this process is immediate, elsewhere bounded."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from command_center.errors import NotAuthenticated
from command_center.identity import service as identity
from command_center.identity.auth import TOKEN_CACHE_SECONDS, Authenticator, TokenCache
from command_center.identity.models import ApiToken


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def authenticator(test_db: Any, settings: Any, clock: FakeClock) -> Authenticator:
    return Authenticator(test_db, settings, token_cache=TokenCache(clock=clock))


async def _new_token(test_db: Any) -> tuple[int, str]:
    async with test_db.unit_of_work() as s:
        token, plaintext = await identity.create_token(s, court_code="330106", name="court system")
    assert token.id is not None
    return token.id, plaintext


async def _authenticate(authenticator: Authenticator, plaintext: str) -> Any:
    return await authenticator.authenticate_socket(cookie_header=None, token=plaintext)


async def _lookups(test_db: Any, authenticator: Authenticator, plaintext: str, times: int) -> int:
    """How many api_token queries `times` authentications cost."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM api_token" in statement:
            statements.append(statement)

    engine = test_db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(times):
            try:
                await _authenticate(authenticator, plaintext)
            except NotAuthenticated:
                pass
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(statements)


async def test_a_burst_of_requests_costs_one_lookup(test_db: Any, authenticator: Authenticator) -> None:
    _, plaintext = await _new_token(test_db)
    assert (
        await _lookups(test_db, authenticator, plaintext, 5) <= 2
    )  # the first (and one refreshing last_used_at)
    assert await _lookups(test_db, authenticator, plaintext, 5) == 0


async def test_a_token_revoked_in_this_process_stops_working_at_once(
    test_db: Any, authenticator: Authenticator
) -> None:
    token_id, plaintext = await _new_token(test_db)
    assert (await _authenticate(authenticator, plaintext)).id == token_id
    async with test_db.unit_of_work() as s:
        await identity.revoke_token(s, token_id=token_id)
    with pytest.raises(NotAuthenticated) as raised:
        await _authenticate(authenticator, plaintext)
    assert raised.value.code == "token_revoked"


async def test_a_token_revoked_by_another_node_stops_working_when_its_entry_expires(
    test_db: Any, authenticator: Authenticator, clock: FakeClock
) -> None:
    token_id, plaintext = await _new_token(test_db)
    await _authenticate(authenticator, plaintext)
    await _authenticate(authenticator, plaintext)  # cached now
    # Another node revokes it: a plain UPDATE this process never hears of.
    async with test_db.unit_of_work() as s:
        await s.execute(
            sa.update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=sa.func.current_timestamp())
        )
    clock.now += TOKEN_CACHE_SECONDS - 0.5
    assert (await _authenticate(authenticator, plaintext)).id == token_id
    clock.now += 1.0
    with pytest.raises(NotAuthenticated) as raised:
        await _authenticate(authenticator, plaintext)
    assert raised.value.code == "token_revoked"


async def test_invalid_tokens_are_never_remembered(test_db: Any, authenticator: Authenticator) -> None:
    token_id, plaintext = await _new_token(test_db)
    wrong = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    with pytest.raises(NotAuthenticated):
        await _authenticate(authenticator, wrong)
    assert await _lookups(test_db, authenticator, wrong, 3) == 3  # every attempt is looked up again
    assert (await _authenticate(authenticator, plaintext)).id == token_id
    # The cache holds digests, never a token.
    assert all(plaintext not in key and len(key) == 64 for key in authenticator.token_cache._entries)
