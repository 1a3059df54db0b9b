"""Upstream keys are sealed at rest and masked in answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tollway.crypto import KeyBox, instance_secret, mask


def test_seal_and_open(tmp_path: Path) -> None:
    box = KeyBox(instance_secret("k", tmp_path))
    sealed = box.seal("sk-live-123456")
    assert sealed.startswith("tw1:") and "sk-live" not in sealed and box.seal("sk-live-123456") != sealed
    assert box.open(sealed) == "sk-live-123456"
    assert box.open("sk-plain-from-one-api") == "sk-plain-from-one-api"
    with pytest.raises(ValueError, match="ENCRYPTION_KEY"):
        KeyBox(instance_secret("other", tmp_path)).open(sealed)


def test_instance_secret_file_is_made_once_and_private(tmp_path: Path) -> None:
    first = instance_secret("", tmp_path)
    assert instance_secret("", tmp_path) == first
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600


def test_mask() -> None:
    assert mask("sk-abcdefghijklmnop") == "sk-a********mnop"
    assert mask("short") == "*****"
    assert mask("key-one-111111\nkey-two-222222") == "key********111\nkey********222"
