"""Short-lived credentials: the join token a browser shows the /video namespace, and TURN REST credentials."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

from command_center.errors import NotAuthenticated
from command_center.settings import Settings
from realtime.video.models import IceServer, ParticipantRole

_PURPOSE = b"video-join-token:"


@dataclass(frozen=True, slots=True)
class JoinClaim:
    session_id: int
    user_id: int
    role: ParticipantRole
    expires: int  # unix seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: str, body: str) -> str:
    return _b64(hmac.new(secret.encode(), _PURPOSE + body.encode(), hashlib.sha256).digest())


def issue_join_token(settings: Settings, *, session_id: int, user_id: int, role: ParticipantRole) -> str:
    """A token that lets `user_id` into session `session_id` with `role` for a short while."""
    claim = {
        "s": session_id,
        "u": user_id,
        "r": role.value,
        "e": int(time.time()) + settings.video_join_token_seconds,
    }
    body = _b64(json.dumps(claim, separators=(",", ":")).encode())
    return f"{body}.{_sign(settings.secret_key, body)}"


def read_join_token(settings: Settings, token: str | None) -> JoinClaim:
    """The claim of a valid, unexpired join token; 401 otherwise."""
    if not token or token.count(".") != 1:
        raise NotAuthenticated("A video join token is required.", code="join_token_invalid")
    body, signature = token.split(".")
    if not hmac.compare_digest(signature.encode(), _sign(settings.secret_key, body).encode()):
        raise NotAuthenticated("The video join token is not valid.", code="join_token_invalid")
    try:
        claim = json.loads(_unb64(body))
        result = JoinClaim(
            session_id=int(claim["s"]),
            user_id=int(claim["u"]),
            role=ParticipantRole(claim["r"]),
            expires=int(claim["e"]),
        )
    except (ValueError, KeyError, TypeError):
        raise NotAuthenticated("The video join token is not valid.", code="join_token_invalid") from None
    if result.expires < time.time():
        raise NotAuthenticated("The video join token has expired; join again.", code="join_token_expired")
    return result


def turn_credentials(secret: str, *, user_id: int, expires: int) -> tuple[str, str]:
    """TURN REST credentials (coturn `use-auth-secret`): username "<expiry>:<user>", HMAC-SHA1 password."""
    username = f"{expires}:{user_id}"
    credential = base64.b64encode(
        hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    ).decode()
    return username, credential


def ice_servers(settings: Settings, *, user_id: int, expires: int) -> list[IceServer]:
    """The ICE servers a browser gets for one join: the configured STUN and TURN servers, nothing else."""
    servers: list[IceServer] = []
    if settings.stun_urls:
        servers.append(IceServer(urls=list(settings.stun_urls)))
    if settings.turn_urls and settings.turn_secret:
        username, credential = turn_credentials(settings.turn_secret, user_id=user_id, expires=expires)
        servers.append(IceServer(urls=list(settings.turn_urls), username=username, credential=credential))
    return servers
