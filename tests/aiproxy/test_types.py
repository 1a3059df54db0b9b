"""AI Proxy's channel type numbers on the AI Proxy routes: every row of AI Proxy v0.6.5's table, both ways."""

from __future__ import annotations

import pytest

from tests.admin.support import row
from tests.aiproxy.fastgpt import FastGPT, Rejected
from tests.harness import Gateway
from tollway.aiproxy import types
from tollway.routing import channel_types

# AI Proxy v0.6.5 core/controller/import.go OneAPIChannelType2AIProxyMap, row by row (One API constant, number,
# AI Proxy constant, number, AI Proxy's name in core/model/chtype.go), as read from the tag.
TABLE = [
    ("OneAPIOpenAI", 1, "ChannelTypeOpenAI", 1, "openai"),
    ("OneAPIAzure", 3, "ChannelTypeAzure", 3, "azure (deprecated)"),
    ("OneAPIAnthropic", 14, "ChannelTypeAnthropic", 14, "anthropic"),
    ("OneAPIBaidu", 15, "ChannelTypeBaidu", 15, "baidu"),
    ("OneAPIZhipu", 16, "ChannelTypeZhipu", 16, "zhipu"),
    ("OneAPIAli", 17, "ChannelTypeAli", 17, "ali"),
    ("OneAPIAI360", 19, "ChannelTypeAI360", 19, "ai360"),
    ("OneAPIOpenRouter", 20, "ChannelTypeOpenRouter", 20, "openrouter"),
    ("OneAPITencent", 23, "ChannelTypeTencent", 23, "tencent"),
    ("OneAPIGemini", 24, "ChannelTypeGoogleGemini", 24, "google gemini"),
    ("OneAPIMoonshot", 25, "ChannelTypeMoonshot", 25, "moonshot"),
    ("OneAPIBaichuan", 26, "ChannelTypeBaichuan", 26, "baichuan"),
    ("OneAPIMinimax", 27, "ChannelTypeMinimax", 27, "minimax"),
    ("OneAPIMistral", 28, "ChannelTypeMistral", 28, "mistral"),
    ("OneAPIGroq", 29, "ChannelTypeGroq", 29, "groq"),
    ("OneAPIOllama", 30, "ChannelTypeOllama", 30, "ollama"),
    ("OneAPILingYiWanWu", 31, "ChannelTypeLingyiwanwu", 31, "lingyiwanwu"),
    ("OneAPIStepFun", 32, "ChannelTypeStepfun", 32, "stepfun"),
    ("OneAPIAwsClaude", 33, "ChannelTypeAWS", 33, "aws"),
    ("OneAPICoze", 34, "ChannelTypeCoze", 34, "coze"),
    ("OneAPICohere", 35, "ChannelTypeCohere", 35, "Cohere"),
    ("OneAPIDeepSeek", 36, "ChannelTypeDeepseek", 36, "deepseek"),
    ("OneAPICloudflare", 37, "ChannelTypeCloudflare", 37, "cloudflare"),
    ("OneAPIDoubao", 40, "ChannelTypeDoubao", 40, "doubao"),
    ("OneAPINovita", 41, "ChannelTypeNovita", 41, "novita"),
    ("OneAPIVertextAI", 42, "ChannelTypeVertexAI", 42, "vertexai"),
    ("OneAPISiliconFlow", 44, "ChannelTypeSiliconflow", 43, "siliconflow"),
    ("OneAPIBaiduV2", 47, "ChannelTypeBaiduV2", 13, "baidu v2"),
    ("OneAPIXunfeiV2", 48, "ChannelTypeXunfei", 18, "xunfei"),
    ("OneAPIAliBailian", 49, "ChannelTypeAli", 17, "ali"),
    ("OneAPIGeminiOpenAICompatible", 51, "ChannelTypeGoogleGeminiOpenAI", 12, "google gemini (openai)"),
    ("OneAPIXAI", 45, "ChannelTypeXAI", 45, "xai"),
]
# One API types AI Proxy's table leaves out (AI Proxy's import turns them into OpenAI; Tollway names them).
WITHOUT_COUNTERPART = [2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 18, 21, 22, 38, 39, 43, 46, 50]
# AI Proxy types Tollway has no adaptor for: not offered in type_metas, refused on create.
AIPROXY_ONLY = [4, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55]
SHARED = {17: 17}  # AI Proxy's ali stands for One API's Ali (17) and Bailian (49); back it means Ali
NEEDS_BASE_URL = {t for t, kind in channel_types.TYPES.items() if kind.needs_base_url}


def test_the_table_is_ai_proxys() -> None:
    assert {one_api: aiproxy for _, one_api, _, aiproxy, _ in TABLE} == types.ONE_API_TO_AIPROXY
    assert len(TABLE) == 32


COLUMNS = ("one_api_name", "one_api", "aiproxy_name", "number", "name")


@pytest.mark.parametrize(COLUMNS, TABLE)
def test_each_row_maps_both_ways(one_api_name: str, one_api: int, aiproxy_name: str, number: int, name: str) -> None:
    assert types.to_aiproxy(one_api) == number
    assert types.from_aiproxy(number, current=one_api) == one_api  # an update that sends it back keeps it
    assert types.from_aiproxy(number) == SHARED.get(number, one_api)
    assert types.AIPROXY_NAMES[number] == name


@pytest.mark.parametrize(COLUMNS, TABLE)
def test_each_row_through_the_routes(aiproxy: Gateway, fastgpt: FastGPT, one_api_name: str, one_api: int,
                                     aiproxy_name: str, number: int, name: str) -> None:
    """Created with AI Proxy's number: stored as One API's; listed with AI Proxy's; an edit sending it back keeps it."""
    base_url = "https://upstream.example" if one_api in NEEDS_BASE_URL or one_api == 49 else ""
    created = fastgpt.post_create_channel({"type": number, "name": one_api_name, "base_url": base_url,
                                           "models": ["m"], "model_mapping": {}, "key": "k"})
    stored = SHARED.get(number, one_api)
    assert row(aiproxy, "channels", created["id"])["type"] == stored
    if stored != one_api:  # Bailian: made through One API's routes, then edited from FastGPT
        aiproxy.api("PUT", "/api/channel/", json={"id": created["id"], "type": one_api})
    [listed] = [c for c in fastgpt.get_channel_list() if c["id"] == created["id"]]
    assert listed["type"] == number
    fastgpt.put_channel({**listed, "name": f"{one_api_name} edited"})
    assert row(aiproxy, "channels", created["id"])["type"] == one_api


@pytest.mark.parametrize("one_api", WITHOUT_COUNTERPART)
def test_types_without_a_counterpart_are_named(aiproxy: Gateway, fastgpt: FastGPT, one_api: int) -> None:
    number = types.to_aiproxy(one_api)
    assert number == 1000 + one_api
    if one_api not in aiproxy.services.relay.adaptors.supported():
        assert str(number) not in fastgpt.get_channel_providers()  # no adaptor (One API's Proxy type) yet
        return
    meta = fastgpt.get_channel_providers()[str(number)]
    assert f"One API type {one_api}" in meta["name"] and "no AI Proxy counterpart" in meta["name"]
    assert channel_types.TYPES[one_api].label in meta["name"]
    base_url = "https://upstream.example"
    created = fastgpt.post_create_channel({"type": number, "name": "own", "base_url": base_url, "models": ["m"],
                                           "model_mapping": {}, "key": "k"})
    assert row(aiproxy, "channels", created["id"])["type"] == one_api


@pytest.mark.parametrize("number", AIPROXY_ONLY)
def test_ai_proxy_types_tollway_lacks_are_not_offered(fastgpt: FastGPT, number: int) -> None:
    assert str(number) not in fastgpt.get_channel_providers()
    with pytest.raises(Rejected) as refused:
        fastgpt.post_create_channel({"type": number, "name": "x", "base_url": "", "models": ["m"],
                                     "model_mapping": {}, "key": "k"})
    assert refused.value.status == 400


def test_type_metas_cover_every_type_tollway_serves(aiproxy: Gateway, fastgpt: FastGPT) -> None:
    metas = fastgpt.get_channel_providers()
    served = aiproxy.services.relay.adaptors.supported() - {0}
    assert {str(types.to_aiproxy(t)) for t in served} == set(metas)
    for meta in metas.values():
        assert isinstance(meta["name"], str) and isinstance(meta["keyHelp"], str)
        assert isinstance(meta["defaultBaseUrl"], str)
    assert metas["1"]["defaultBaseUrl"] == "https://api.openai.com/v1"
    assert metas["3"]["keyHelp"] == "key|api-version"


@pytest.mark.parametrize(("one_api", "suffix"), sorted(types.SUFFIX.items()))
def test_base_url_suffixes(one_api: int, suffix: str) -> None:
    """AI Proxy's default base URL of each type is One API's plus the version path."""
    assert types.base_url_out(one_api, "https://h.example/") == f"https://h.example{suffix}"
    assert types.base_url_in(one_api, f"https://h.example{suffix}/") == "https://h.example"
    assert types.base_url_in(one_api, "https://h.example") == "https://h.example"  # One API's form stays
    assert types.base_url_out(one_api, "") == ""
