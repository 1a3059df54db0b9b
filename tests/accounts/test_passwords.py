"""Passwords: Argon2id for new hashes; One API's bcrypt hashes verify and are flagged for upgrade."""

from __future__ import annotations

import bcrypt

from tollway.accounts.passwords import hash_password, needs_rehash, verify_password


def test_argon2_round_trip() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse") and not verify_password(stored, "wrong")
    assert not needs_rehash(stored)


def test_one_api_bcrypt_hashes() -> None:
    stored = bcrypt.hashpw(b"123456", bcrypt.gensalt(4)).decode()
    assert verify_password(stored, "123456") and not verify_password(stored, "1234567")
    assert needs_rehash(stored)
    assert not verify_password("garbage", "x")
