"""Secret fields of a channel's `config` (AWS secret key, session token, Vertex service account): sealed at rest
like the channel key, masked in answers, and kept when a client sends the masked value back."""

from __future__ import annotations

from typing import Any

import orjson

from tollway.crypto import KeyBox, mask
from tollway.json_objects import stored_object

SECRET_CONFIG = frozenset({"sk", "session_token", "vertex_ai_adc"})


def open_config(text: str | None, keybox: KeyBox) -> dict[str, Any]:
    """The config with its secret fields opened, for the relay's use in memory."""
    config = stored_object(text)
    for name in SECRET_CONFIG & config.keys():
        value = config[name]
        if isinstance(value, str) and KeyBox.is_sealed(value):
            config[name] = keybox.open(value)
    return config


def seal_config(config: dict[str, Any], keybox: KeyBox) -> dict[str, Any]:
    """The config with its secret fields sealed (fields already sealed stay as they are)."""
    return {name: keybox.seal(value) if name in SECRET_CONFIG and isinstance(value, str) and value
            and not KeyBox.is_sealed(value) else value for name, value in config.items()}


def needs_sealing(text: str | None) -> bool:
    """Whether a stored config still holds a secret in plain text (as a One API database does)."""
    return any(isinstance(value, str) and value and not KeyBox.is_sealed(value)
               for name, value in stored_object(text).items() if name in SECRET_CONFIG)


def masked_config(text: str | None, keybox: KeyBox) -> str:
    """The stored config as JSON text with every secret field masked; "" when there is none."""
    config = stored_object(text)
    if not config:
        return text or ""
    for name in SECRET_CONFIG & config.keys():
        value = config[name]
        if isinstance(value, str) and value:
            try:
                config[name] = mask(keybox.open(value))
            except ValueError:
                config[name] = "(sealed with another ENCRYPTION_KEY)"
    return orjson.dumps(config).decode()


def merged_config(new_text: str, stored_text: str | None, keybox: KeyBox) -> str:
    """A client's config, sealed, with each secret it left empty or sent back masked taken from the stored one."""
    new, stored = stored_object(new_text), stored_object(stored_text)
    for name in SECRET_CONFIG:
        sent = new.get(name)
        kept = stored.get(name)
        if isinstance(kept, str) and kept and (sent in (None, "") or sent == _mask_of(kept, keybox)):
            new[name] = kept
    return orjson.dumps(seal_config(new, keybox)).decode() if new else ""


def _mask_of(stored: str, keybox: KeyBox) -> str:
    try:
        return mask(keybox.open(stored))
    except ValueError:
        return ""
