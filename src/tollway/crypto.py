"""The instance secret, sealing of upstream keys at rest, and masking of keys in answers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)

SEALED_PREFIX = "tw1:"


def instance_secret(configured: str, data_dir: Path) -> bytes:
    """The 32-byte root secret: from `ENCRYPTION_KEY` if set, else from `<data_dir>/secret.key`, made once."""
    if configured:
        return hashlib.sha256(configured.encode()).digest()
    path = data_dir / "secret.key"
    if path.is_file():
        return bytes.fromhex(path.read_text().strip())
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    # Created with 0600 so that only the service account can read the key that protects upstream keys.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret.hex())
    log.warning("created %s; back it up, and set ENCRYPTION_KEY on every node of a cluster", path)
    return secret


@dataclass(frozen=True)
class KeyOrigin:
    """Where the instance secret came from, for the message when it does not fit the database."""

    path: Path | None = None  # the secret.key file; None when ENCRYPTION_KEY gave the secret
    created: bool = False  # the file was made by this very start

    def describe(self) -> str:
        if self.path is None:
            return "ENCRYPTION_KEY"
        return f"{self.path}, made just now because there was none" if self.created else str(self.path)


def load_instance_secret(configured: str, data_dir: Path) -> tuple[bytes, KeyOrigin]:
    """`instance_secret`, and where it came from."""
    if configured:
        return instance_secret(configured, data_dir), KeyOrigin()
    path = data_dir / "secret.key"
    existed = path.is_file()
    return instance_secret(configured, data_dir), KeyOrigin(path.resolve(), created=not existed)


def derive(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose, so no two uses share key material."""
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


class KeyBox:
    """Seals and opens upstream keys with AES-256-GCM."""

    def __init__(self, secret: bytes, origin: KeyOrigin | None = None) -> None:
        self._aead = AESGCM(derive(secret, "tollway channel keys"))
        self.origin = origin or KeyOrigin()
        # Stored in the database on first start; a later start with another secret is refused (storage/key_check.py).
        self.check_value = derive(secret, "tollway key check").hex()

    def seal(self, plain: str) -> str:
        """Encrypt a key for storage; sealed values start with `tw1:`."""
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, plain.encode(), b"channel-key")
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, stored: str) -> str:
        """Decrypt a stored key; a value without the prefix is a plain key from One API and passes through."""
        if not stored.startswith(SEALED_PREFIX):
            return stored
        raw = base64.urlsafe_b64decode(stored[len(SEALED_PREFIX) :])
        try:
            return self._aead.decrypt(raw[:12], raw[12:], b"channel-key").decode()
        except InvalidTag as exc:
            raise ValueError("channel key was sealed with a different ENCRYPTION_KEY") from exc

    @staticmethod
    def is_sealed(stored: str) -> bool:
        return stored.startswith(SEALED_PREFIX)


def mask(key: str) -> str:
    """Show enough of a key to recognise it and never enough to use it."""
    lines = [line for line in key.splitlines() if line.strip()] or [key]
    return "\n".join(_mask_one(line.strip()) for line in lines)


def _mask_one(key: str) -> str:
    if len(key) <= 8:
        return "*" * len(key)
    visible = min(4, len(key) // 4)
    return f"{key[:visible]}{'*' * 8}{key[-visible:]}"
