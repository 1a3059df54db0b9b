"""The channel's system prompt is applied once, before any adaptor, and reaches every provider family."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from tests.harness import Gateway
from tests.upstreams.openai_mock import OpenAIMock
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.registry import Adaptors
from tollway.relay.calls import Call, Mode, parse_json
from tollway.relay.dialogue import Dialogue
from tollway.relay.transport import BytesSource, Source
from tollway.routing import channel_types
from tollway.settings import Settings
from tollway.storage.cache import ChannelEntry

HI = [{"role": "system", "content": "client prompt"}, {"role": "user", "content": "hi"}]


class Unused:
    """A transport and an image fetcher that a prepared request never reaches."""

    async def open(self, request: Any) -> Source:
        return BytesSource(200, "application/json", b"{}")

    async def aclose(self) -> None:
        return None


KEYS = {16: "id.secret", 23: "1234|secret-id|secret-key"}  # the key formats those providers need


def channel(type_id: int, prompt: str) -> ChannelEntry:
    return ChannelEntry(id=1, type=type_id, key=KEYS.get(type_id, "sk-key"), status=1, name="c", weight=0, priority=0,
                        base_url="http://127.0.0.1:9", models=["m"], groups=["default"], model_mapping={},
                        config={"api_version": "v3.5", "region": "us-east-1", "library_id": "x"}, system_prompt=prompt)


def chat(**extra: Any) -> Call:
    return parse_json(Mode.CHAT, orjson.dumps({"model": "m", "messages": HI, **extra}))


@pytest.mark.parametrize("type_id", [1, 14, 16, 17, 23, 24, 30, 35])
async def test_the_prompt_replaces_the_clients_for_every_family(type_id: int) -> None:
    dialogue = Dialogue(Unused(), Unused())
    kind = channel_types.get(type_id)
    adaptor = Adaptors(Settings.from_env({}, dotenv=None)).for_type(kind)
    call, _, request = await dialogue.prepare(adaptor, chat(), Target(channel(type_id, "channel prompt"), kind, "m"))
    assert call.body["messages"][0] == {"role": "system", "content": "channel prompt"}
    assert request.system_prompt_reset is True
    sent = request.content.decode() or json.dumps(request.frames)
    assert "channel prompt" in sent and "client prompt" not in sent


async def test_without_a_prompt_or_for_other_modes_nothing_changes() -> None:
    dialogue = Dialogue(Unused(), Unused())
    kind = channel_types.get(1)
    adaptor = Adaptors(Settings.from_env({}, dotenv=None)).for_type(kind)
    plain = chat()
    call, _, request = await dialogue.prepare(adaptor, plain, Target(channel(1, ""), kind, "m"))
    assert call is plain and request.content == plain.raw and request.system_prompt_reset is False
    embed = parse_json(Mode.EMBEDDINGS, b'{"model": "m", "input": "hi"}')
    call, _, request = await dialogue.prepare(adaptor, embed, Target(channel(1, "channel prompt"), kind, "m"))
    assert call is embed and request.system_prompt_reset is False


def test_the_log_says_the_prompt_was_reset(relay: Gateway, mock: OpenAIMock) -> None:
    channel_id = relay.api("GET", "/api/channel/")[0]["id"]
    relay.api("PUT", "/api/channel/", json={"id": channel_id, "system_prompt": "Be brief."})
    relay.openai().chat.completions.create(model="gpt-4o-mini", messages=HI)
    assert mock.requests[-1].json["messages"][0] == {"role": "system", "content": "Be brief."}
    relay.flush()
    [row] = relay.api("GET", "/api/log/", params={"type": 2})
    assert row["system_prompt_reset"] is True
