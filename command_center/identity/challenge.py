"""The signed, short-lived challenge between the password and the code of a two-factor sign-in.

The challenge is `<payload>.<signature>`: the payload names the user, an expiry and a fingerprint of the
password hash (so a password change voids challenges issued before it), and the signature is an
HMAC-SHA-256 under a key derived from CC_SECRET_KEY. It holds no secret and grants nothing by itself: the
session is opened only when a valid code comes with it, and wrong codes count toward the sign-in throttle.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from command_center.db import utcnow
from command_center.errors import NotAuthenticated
from command_center.identity.models import User
from command_center.settings import Settings

START_AGAIN = "Please sign in again with your username and password."


@dataclass(frozen=True)
class Challenge:
    user_id: int
    fingerprint: str


def _key(settings: Settings) -> bytes:
    return hmac.new(
        settings.secret_key.encode(), b"command-center:sign-in-challenge", hashlib.sha256
    ).digest()


def _sign(settings: Settings, body: str) -> str:
    digest = hmac.new(_key(settings), body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def password_fingerprint(user: User) -> str:
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:32]


def issue(settings: Settings, *, user: User, now: datetime | None = None) -> str:
    """A challenge for the user that expires after CC_SECOND_FACTOR_CHALLENGE_SECONDS."""
    expires = (now or utcnow()) + timedelta(seconds=settings.second_factor_challenge_seconds)
    payload = {
        "u": user.id,
        "e": int(expires.timestamp()),
        "p": password_fingerprint(user),
        "n": secrets.token_urlsafe(8),
    }
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{body}.{_sign(settings, body)}"


def read(settings: Settings, token: str, *, now: datetime | None = None) -> Challenge:
    """The challenge's claims; 401 when it is forged, malformed or expired."""
    body, _, signature = token.strip().partition(".")
    if (
        not body
        or not signature
        or not hmac.compare_digest(signature.encode(), _sign(settings, body).encode())
    ):
        raise NotAuthenticated(f"The sign-in challenge is not valid. {START_AGAIN}", code="challenge_invalid")
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        user_id, expires, fingerprint = int(payload["u"]), int(payload["e"]), str(payload["p"])
    except (ValueError, KeyError, TypeError):
        raise NotAuthenticated(
            f"The sign-in challenge is not valid. {START_AGAIN}", code="challenge_invalid"
        ) from None
    if (now or utcnow()).timestamp() >= expires:
        raise NotAuthenticated(
            f"Too much time passed since the password was checked. {START_AGAIN}", code="challenge_expired"
        )
    return Challenge(user_id=user_id, fingerprint=fingerprint)
