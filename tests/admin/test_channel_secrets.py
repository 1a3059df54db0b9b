"""Secret config fields of a channel (AWS secret key, session token, Vertex service account) are treated like keys:
sealed at rest, masked in answers, kept when sent back masked, and sealed when found in plain text."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.harness import Gateway, settings_for

CONFIG = {"region": "us-east-1", "ak": "AKIDEXAMPLE", "sk": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
          "session_token": "FQoGZXIvYXdzEXAMPLE-session-token"}


def stored_config(gateway: Gateway, channel_id: int) -> dict[str, str]:
    db = sqlite3.connect(gateway.settings.sqlite_path)
    try:
        text = db.execute("SELECT config FROM channels WHERE id = ?", (channel_id,)).fetchone()[0]
    finally:
        db.close()
    return dict(json.loads(text))


def test_config_secrets_are_sealed_masked_and_kept(gateway: Gateway) -> None:
    created = gateway.api("POST", "/api/channel/", json={"type": 33, "name": "bedrock", "key": "",
                                                          "models": "claude-3-haiku-20240307", "config": CONFIG})
    channel_id = created[0]["id"]
    shown = json.loads(gateway.api("GET", f"/api/channel/{channel_id}")["config"])
    assert shown["ak"] == "AKIDEXAMPLE" and shown["region"] == "us-east-1"
    assert CONFIG["sk"] not in json.dumps(shown) and CONFIG["session_token"] not in json.dumps(shown)
    at_rest = stored_config(gateway, channel_id)
    assert at_rest["sk"].startswith("tw1:") and at_rest["session_token"].startswith("tw1:")
    assert gateway.services.cache.channels[channel_id].config["sk"] == CONFIG["sk"]

    # Sending the masked form back (as the console's edit page does) keeps the secrets.
    gateway.api("PUT", "/api/channel/", json={"id": channel_id, "config": {**shown, "region": "eu-west-1"}})
    assert stored_config(gateway, channel_id)["sk"] == at_rest["sk"]
    assert gateway.services.cache.channels[channel_id].config == {**CONFIG, "region": "eu-west-1"}

    # A new value replaces the secret; an empty one keeps it.
    gateway.api("PUT", "/api/channel/", json={"id": channel_id, "config": {**shown, "sk": "a-new-secret-key-123",
                                                                          "session_token": ""}})
    live = gateway.services.cache.channels[channel_id].config
    assert live["sk"] == "a-new-secret-key-123" and live["session_token"] == CONFIG["session_token"]


def test_plain_secrets_from_one_api_are_sealed_at_start(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    first = Gateway(settings)
    channel_id = first.api("POST", "/api/channel/", json={"type": 33, "key": "", "models": "m",
                                                           "config": {"region": "r", "ak": "a", "sk": "s"}})[0]["id"]
    first.close()
    db = sqlite3.connect(settings.sqlite_path)
    db.execute("UPDATE channels SET config = ? WHERE id = ?", (json.dumps({"region": "r", "sk": "plain-sk"}),
                                                                channel_id))
    db.commit()
    db.close()
    second = Gateway(settings)
    try:
        assert stored_config(second, channel_id)["sk"].startswith("tw1:")
        assert second.services.cache.channels[channel_id].config["sk"] == "plain-sk"
    finally:
        second.close()
