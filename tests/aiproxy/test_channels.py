"""FastGPT's channel tab against Tollway: list, providers, create, edit, status, delete, as FastGPT sends them."""

from __future__ import annotations

import gzip
import time

import httpx
import pytest

from tests.admin.support import dicts, row, snapshot
from tests.aiproxy.conftest import ADMIN_KEY
from tests.aiproxy.fastgpt import FastGPT, Rejected
from tests.harness import ROOT_PASSWORD, Gateway
from tests.upstreams.openai_mock import OpenAIMock

HI = [{"role": "user", "content": "hi"}]


def listed(fastgpt: FastGPT, channel_id: int) -> dict:
    [found] = [c for c in fastgpt.get_channel_list() if c["id"] == channel_id]
    return found


def test_create_list_edit_and_delete_as_fastgpt(aiproxy: Gateway, fastgpt: FastGPT) -> None:
    providers = fastgpt.get_channel_providers()
    assert providers["43"]["name"] == "siliconflow" and providers["43"]["defaultBaseUrl"] == "https://api.siliconflow.cn/v1"
    assert set(providers["1"]) >= {"name", "keyHelp", "defaultBaseUrl"}
    created = fastgpt.post_create_channel({"type": 43, "name": "SiliconFlow", "base_url": "",
                                           "models": ["Qwen/Qwen2.5-7B-Instruct", "BAAI/bge-m3"],
                                           "model_mapping": {}, "key": "sk-siliconflow-secret"})
    channel_id = created["id"]
    stored = row(aiproxy, "channels", channel_id)
    # Stored with One API's number and comma list; the key sealed.
    assert (stored["type"], stored["models"], stored["status"], stored["priority"]) == (
        44, "Qwen/Qwen2.5-7B-Instruct,BAAI/bge-m3", 1, 1)
    assert "sk-siliconflow-secret" not in stored["key"]
    channel = listed(fastgpt, channel_id)
    assert channel["type"] == 43 and channel["key"] == "sk-siliconflow-secret"  # in full, for the admin key only
    assert channel["models"] == ["Qwen/Qwen2.5-7B-Instruct", "BAAI/bge-m3"] and channel["model_mapping"] == {}
    assert abs(channel["created_at"] - time.time() * 1000) < 60_000  # milliseconds
    assert isinstance(channel["status"], int) and isinstance(channel["priority"], int)
    one_api_view = aiproxy.api("GET", "/api/channel/")
    assert one_api_view[0]["key"] != "sk-siliconflow-secret"  # One API's routes keep masking it

    # The inline priority edit PUTs the listed item back: the key it lists is kept, status never changes.
    sealed = stored["key"]
    fastgpt.put_channel({**channel, "priority": 7, "status": 2})
    after = row(aiproxy, "channels", channel_id)
    assert (after["priority"], after["status"], after["key"]) == (7, 1, sealed)
    # Empty name and zero type keep theirs; a new key replaces the old.
    fastgpt.check(fastgpt.proxy("PUT", f"/api/aiproxy/api/channel/{channel_id}",
                                {"name": "", "type": 0, "key": "sk-new-key", "models": ["BAAI/bge-m3"]}))
    channel = listed(fastgpt, channel_id)
    assert (channel["name"], channel["type"], channel["key"], channel["models"]) == (
        "SiliconFlow", 43, "sk-new-key", ["BAAI/bge-m3"])
    assert aiproxy.services.cache.channels[channel_id].key == "sk-new-key"

    fastgpt.put_channel_status(channel_id, 2)
    assert listed(fastgpt, channel_id)["status"] == 2
    fastgpt.put_channel_status(channel_id, 1)
    assert row(aiproxy, "channels", channel_id)["status"] == 1

    assert fastgpt.delete_channel(channel_id) is None
    assert fastgpt.last is not None and fastgpt.last.json() == {"success": True, "message": "", "data": None}
    assert fastgpt.get_channel_list() == []  # never null: FastGPT sorts it
    assert dicts(aiproxy, "SELECT * FROM abilities") == []


def test_an_openai_channel_from_fastgpt_relays(aiproxy: Gateway, fastgpt: FastGPT, mock: OpenAIMock,
                                               mock_url: str) -> None:
    """AI Proxy's base URL carries `/v1`; One API's adaptors add it: stored without it, listed with it, calls work."""
    channel_id = fastgpt.post_create_channel({"type": 1, "name": "openai", "base_url": f"{mock_url}/v1/",
                                              "models": ["gpt-fast"], "model_mapping": {"gpt-fast": "gpt-4o-mini"},
                                              "key": "sk-upstream"})["id"]
    assert row(aiproxy, "channels", channel_id)["base_url"] == mock_url
    assert listed(fastgpt, channel_id)["base_url"] == f"{mock_url}/v1"
    answer = aiproxy.openai("sk-" + ADMIN_KEY).chat.completions.create(model="gpt-fast", messages=HI)
    assert answer.choices[0].message.content == "Hello from the mock."
    assert mock.requests[-1].path == "/v1/chat/completions" and mock.requests[-1].json["model"] == "gpt-4o-mini"


def test_one_line_per_key_and_azure_keys(aiproxy: Gateway, fastgpt: FastGPT) -> None:
    created = fastgpt.post_create_channel({"type": 1, "name": "two keys", "base_url": "", "models": ["gpt-4o"],
                                           "model_mapping": {}, "key": "sk-one\nsk-two\n"})
    assert len(created["ids"]) == 2
    azure = fastgpt.post_create_channel({"type": 3, "name": "azure", "base_url": "https://res.openai.azure.com",
                                         "models": ["gpt-4o"], "model_mapping": {}, "key": "azure-key|2024-10-21"})
    entry = aiproxy.services.cache.channels[azure["id"]]
    assert (entry.type, entry.key, entry.config["api_version"]) == (3, "azure-key", "2024-10-21")
    assert listed(fastgpt, azure["id"])["key"] == "azure-key|2024-10-21"


@pytest.mark.parametrize(("body", "fragment"), [
    ({"type": 999, "name": "x", "key": "k", "models": ["m"], "model_mapping": {}}, "invalid channel type: 999"),
    ({"name": "x", "key": "k", "models": ["m"]}, "'type' is required"),
    ({"type": 1, "name": "x", "key": "k", "models": "gpt-4o"}, "'models' must be an array"),
    ({"type": 1, "name": "x", "key": "k", "models": [], "model_mapping": {"a": 1}}, "'model_mapping'"),
    ({"type": 1, "name": "x", "key": "k", "base_url": "ftp://x"}, "base_url"),
    ({"type": 1003, "name": "x", "key": "k", "models": []}, "invalid channel type: 1003"),  # Azure has a number
])
def test_bad_channels_are_refused_and_change_nothing(aiproxy: Gateway, fastgpt: FastGPT, body: dict,
                                                     fragment: str) -> None:
    before = snapshot(aiproxy)
    with pytest.raises(Rejected) as refused:
        fastgpt.post_create_channel(body)
    assert refused.value.status == 400 and fragment in refused.value.body["message"]
    assert refused.value.body["success"] is False
    assert snapshot(aiproxy) == before


def test_unknown_ids_and_statuses(fastgpt: FastGPT) -> None:
    for call in (lambda: fastgpt.put_channel_status(404, 1), lambda: fastgpt.delete_channel(404),
                 lambda: fastgpt.check(fastgpt.proxy("PUT", "/api/aiproxy/api/channel/404", {"name": "x"}))):
        with pytest.raises(Rejected) as refused:
            call()
        assert refused.value.status == 404
    channel_id = fastgpt.post_create_channel({"type": 1, "name": "x", "base_url": "", "models": ["m"],
                                              "model_mapping": {}, "key": "k"})["id"]
    with pytest.raises(Rejected) as refused:
        fastgpt.put_channel_status(channel_id, 7)
    assert refused.value.status == 400


def test_api_answers_are_not_compressed(aiproxy: Gateway, fastgpt: FastGPT) -> None:
    """FastGPT's proxy drops Content-Encoding but keeps Content-Length: Tollway sends /api uncompressed, so the length
    it states is the length of the body FastGPT passes on."""
    for index in range(30):
        fastgpt.post_create_channel({"type": 1, "name": f"channel {index}", "base_url": "", "models": ["gpt-4o"],
                                     "model_mapping": {}, "key": f"sk-{index}" * 20})
    answer = fastgpt.proxy("GET", "/api/aiproxy/api/channels/all", {"page": 1, "perPage": 10})
    assert "content-encoding" not in answer.headers
    raw = answer.read()
    assert int(answer.headers["content-length"]) == len(raw) and len(raw) > 2000
    assert raw[:1] == b"{" and gzip.compress(raw)  # plain JSON


def test_one_api_callers_keep_one_api_routes(aiproxy: Gateway, fastgpt: FastGPT) -> None:
    """POST /api/channel/ and DELETE /api/channel/:id are One API's too: a session or access token gets One API's."""
    with httpx.Client(base_url=aiproxy.url) as browser:
        aiproxy.api("POST", "/api/user/login", browser, json={"username": "root", "password": ROOT_PASSWORD})
        created = aiproxy.api("POST", "/api/channel/", browser,
                              json={"type": 1, "name": "ui", "key": "sk-ui", "models": "gpt-4o", "group": "default"})
        assert created[0]["key"] != "sk-ui"  # One API's answer: the new channels, keys masked
        assert aiproxy.api("DELETE", f"/api/channel/{created[0]['id']}", browser) is None
    with httpx.Client(base_url=aiproxy.url) as anonymous:
        refused = anonymous.post("/api/channel/", json={"type": 1, "name": "x", "key": "k"})
        assert refused.status_code == 401 and refused.json()["success"] is False
    assert fastgpt.get_channel_list() == []
