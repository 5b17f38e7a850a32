"""TOTP codes (RFC 6238: 30-second steps, 6 digits, HMAC-SHA-1), their secrets' encryption, recovery codes.

Pure functions: nothing here touches the database. The secret is kept encrypted (Fernet: AES-128-CBC
plus HMAC-SHA-256) under a key derived from CC_SECRET_KEY, so a copy of the database alone does not
yield the secrets; rotating CC_SECRET_KEY therefore means resetting every user's second factor.
Recovery codes are random (50 bits each) and stored as an HMAC-SHA-256 keyed with a key derived from
CC_SECRET_KEY: a slow password hash buys nothing for random codes of that strength, and a keyed fast
hash lets sign-in find the code with one indexed lookup instead of ten argon2 checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import secrets
from datetime import datetime

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken

ISSUER = "Enforcement Command Center"
DIGITS = 6
STEP_SECONDS = 30
# A code of the previous or the next step is accepted too, for phones whose clock is a little off.
ACCEPTED_DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
# Crockford-like alphabet without 0/1/i/l/o, so a code read off paper cannot be mistyped into another.
_RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_RECOVERY_LENGTH = 10  # 31**10 ≈ 2**50


def _derived_key(secret_key: str, purpose: str) -> bytes:
    return hmac.new(secret_key.encode(), f"command-center:{purpose}".encode(), hashlib.sha256).digest()


def _fernet(secret_key: str) -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derived_key(secret_key, "totp-secret")))


def new_secret() -> str:
    """A fresh base32 secret of 160 bits (RFC 4226 recommends at least 128)."""
    return pyotp.random_base32(length=32)


def encrypt_secret(secret: str, *, secret_key: str) -> str:
    return _fernet(secret_key).encrypt(secret.encode()).decode()


def decrypt_secret(stored: str, *, secret_key: str) -> str:
    """The plaintext secret; ValueError when CC_SECRET_KEY changed since it was stored."""
    try:
        return _fernet(secret_key).decrypt(stored.encode()).decode()
    except InvalidToken:
        raise ValueError("the TOTP secret cannot be decrypted with the current CC_SECRET_KEY") from None


def provisioning_uri(secret: str, *, username: str) -> str:
    """The otpauth:// URI that authenticator apps read from a QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def qr_svg(uri: str) -> str:
    """The URI as a standalone SVG QR code (error correction M)."""
    buffer = io.BytesIO()
    segno.make(uri, error="m").save(buffer, kind="svg", scale=5, border=4, xmldecl=False, title=ISSUER)
    return buffer.getvalue().decode()


def time_step(now: datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: str, step: int) -> str:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).generate_otp(step)


def matching_step(secret: str, code: str, *, now: datetime) -> int | None:
    """The time step (within the accepted drift) whose code this is, else None; compared in constant time."""
    code = normalize_code(code)
    if len(code) != DIGITS or not code.isdigit():
        return None
    current = time_step(now)
    found = None
    for step in range(current - ACCEPTED_DRIFT_STEPS, current + ACCEPTED_DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            found = step
    return found


def normalize_code(code: str) -> str:
    return "".join(code.split())


def new_recovery_codes() -> list[str]:
    """RECOVERY_CODE_COUNT random codes shaped like `k7m2q-x9hcd`."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    """Lowercase without spaces or hyphens, so `K7M2Q X9HCD` matches `k7m2q-x9hcd`."""
    return "".join(ch for ch in code.lower() if ch.isalnum())


def recovery_code_hash(code: str, *, user_id: int, secret_key: str) -> str:
    """The keyed hash stored for a recovery code; bound to its user, so codes are never shared."""
    message = f"{user_id}:{normalize_recovery_code(code)}".encode()
    return hmac.new(_derived_key(secret_key, "recovery-code"), message, hashlib.sha256).hexdigest()
