"""The Authenticator for socket.io connects: session cookie from the Cookie header, or a token from `auth`."""

from __future__ import annotations

from typing import Any

import pytest

from command_center.errors import NotAuthenticated
from command_center.identity.principal import Role


async def test_a_socket_with_no_credentials_is_anonymous(services: Any) -> None:
    assert await services.authenticator.authenticate_socket(cookie_header=None, token=None) is None
    assert await services.authenticator.authenticate_socket(cookie_header="theme=dark", token=None) is None


async def test_a_socket_authenticates_with_the_session_cookie(
    login: Any, make_user: Any, services: Any
) -> None:
    user = await make_user("command_staff", "330000")
    c = await login(user)
    header = f"theme=dark; cc_session={c.cookies['cc_session']}"
    principal = await services.authenticator.authenticate_socket(cookie_header=header, token=None)
    assert (principal.kind, principal.id, principal.role, principal.court_code) == (
        "user",
        user.id,
        Role.command_staff,
        "330000",
    )


async def test_a_socket_authenticates_with_a_token(make_token: Any, services: Any) -> None:
    principal = await services.authenticator.authenticate_socket(
        cookie_header=None, token=await make_token("330106")
    )
    assert (principal.kind, principal.court_code, principal.role) == ("token", "330106", Role.clerk)


@pytest.mark.parametrize(("cookie_header", "token"), [("cc_session=stale", None), (None, "cct_1_bogus")])
async def test_a_socket_with_bad_credentials_is_refused(
    services: Any, cookie_header: Any, token: Any
) -> None:
    with pytest.raises(NotAuthenticated):
        await services.authenticator.authenticate_socket(cookie_header=cookie_header, token=token)
