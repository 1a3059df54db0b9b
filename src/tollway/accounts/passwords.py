"""Password hashing with Argon2id; bcrypt hashes from One API still verify and are upgraded on sign-in."""

from __future__ import annotations

import asyncio
import functools
import secrets

import bcrypt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    """An Argon2id hash of `password`."""
    return _hasher.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches the stored Argon2id or (One API's) bcrypt hash."""
    if stored.startswith("$2"):
        try:
            return bcrypt.checkpw(password.encode()[:72], stored.encode())
        except ValueError:
            return False
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """True for bcrypt hashes and Argon2 hashes made with weaker parameters than today's."""
    if stored.startswith("$2"):
        return True
    try:
        return _hasher.check_needs_rehash(stored)
    except InvalidHashError:
        return True


@functools.cache
def _decoy_hash() -> str:
    """A hash of a random secret, made once, so that checking an unknown account costs as much as a known one."""
    return _hasher.hash(secrets.token_hex(32))


# Argon2 takes ~0.1 s of CPU per call; these run it in a worker thread (argon2-cffi and bcrypt release the GIL)
# so that a sign-in never stalls the event loop that is relaying other users' streams.


async def hash_password_async(password: str) -> str:
    """`hash_password` off the event loop."""
    return await asyncio.to_thread(hash_password, password)


def _check(stored: str | None, password: str) -> bool:
    if stored is None:
        verify_password(_decoy_hash(), password)
        return False
    return verify_password(stored, password)


async def check_password(stored: str | None, password: str) -> bool:
    """`verify_password` off the event loop; with no stored hash (no such user) it spends the same time and fails."""
    return await asyncio.to_thread(_check, stored, password)
