"""Argon2 password hashing, run off the event loop (each hash costs ~0.1 s of CPU by design)."""

from __future__ import annotations

import asyncio
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2-cffi's defaults follow RFC 9106's low-memory profile; raising them later makes
# `needs_rehash` true for old hashes, which are then upgraded at the next sign-in.
password_hasher = PasswordHasher()


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return password_hasher.hash("no such user: this hash only costs the same time as a real one")


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(password_hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return password_hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no hash, checks a dummy one so unknown users take as long."""
    if password_hash is None:
        await asyncio.to_thread(lambda: _verify(_dummy_hash(), password))
        return False
    return await asyncio.to_thread(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    try:
        return password_hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True
