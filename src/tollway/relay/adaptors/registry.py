"""Which adaptor translates for which channel type: one table from provider family to adaptor, built at startup.

Channel types name their family (routing/channel_types.py); every family that speaks OpenAI's format is one
row there and shares the OpenAI adaptor. A family without a row here (One API's proxy type 43) is refused with
a 501 another channel may make good.
"""

from __future__ import annotations

from tollway.errors import UpstreamError
from tollway.relay.adaptors.aiproxy import AIProxyLibraryAdaptor
from tollway.relay.adaptors.ali import AliAdaptor
from tollway.relay.adaptors.anthropic import AnthropicAdaptor
from tollway.relay.adaptors.aws import AwsAdaptor
from tollway.relay.adaptors.baidu import BaiduAdaptor
from tollway.relay.adaptors.base import Adaptor
from tollway.relay.adaptors.cloudflare import CloudflareAdaptor
from tollway.relay.adaptors.cohere import CohereAdaptor
from tollway.relay.adaptors.coze import CozeAdaptor
from tollway.relay.adaptors.deepl import DeepLAdaptor
from tollway.relay.adaptors.failures import not_served
from tollway.relay.adaptors.gemini import GeminiAdaptor
from tollway.relay.adaptors.ollama import OllamaAdaptor
from tollway.relay.adaptors.openai import OpenAIAdaptor
from tollway.relay.adaptors.palm import PaLMAdaptor
from tollway.relay.adaptors.replicate import ReplicateAdaptor
from tollway.relay.adaptors.rerank import RerankAdaptor, offers_rerank
from tollway.relay.adaptors.tencent import TencentAdaptor
from tollway.relay.adaptors.vertexai import VertexAdaptor
from tollway.relay.adaptors.xunfei import XunfeiAdaptor
from tollway.relay.adaptors.zhipu import ZhipuAdaptor
from tollway.routing.channel_types import OPENAI, TYPES, ChannelType
from tollway.settings import Settings


def families(settings: Settings) -> dict[str, Adaptor]:
    """Every provider family's adaptor, configured from the settings that concern it."""
    return {
        OPENAI: OpenAIAdaptor(enforce_include_usage=settings.enforce_include_usage),
        "aiproxy": AIProxyLibraryAdaptor(),
        "ali": AliAdaptor(),
        "anthropic": AnthropicAdaptor(),
        "aws": AwsAdaptor(),
        "baidu": BaiduAdaptor(),
        "cloudflare": CloudflareAdaptor(enforce_include_usage=settings.enforce_include_usage),
        "cohere": CohereAdaptor(),
        "coze": CozeAdaptor(),
        "deepl": DeepLAdaptor(),
        "gemini": GeminiAdaptor(version=settings.gemini_version, safety=settings.gemini_safety_setting),
        "ollama": OllamaAdaptor(),
        "palm": PaLMAdaptor(),
        "replicate": ReplicateAdaptor(),
        "tencent": TencentAdaptor(),
        "vertexai": VertexAdaptor(safety=settings.gemini_safety_setting),
        "xunfei": XunfeiAdaptor(),
        "zhipu": ZhipuAdaptor(),
    }


class Adaptors:
    """The adaptor of each provider family."""

    def __init__(self, settings: Settings) -> None:
        self._families = families(settings)
        self._rerank = RerankAdaptor()

    def register(self, family: str, adaptor: Adaptor) -> None:
        """Use this adaptor for a family (tests use it to plug in their own)."""
        self._families[family] = adaptor

    def for_type(self, kind: ChannelType) -> Adaptor:
        """The adaptor of a channel type; a family without one fails over to another channel."""
        adaptor = self._families.get(kind.family)
        if adaptor is None:
            raise UpstreamError(f"channel type {kind.label} ({kind.id}) is not supported by this Tollway version yet",
                                status_code=501, code="channel_type_not_supported", retryable=True)
        return adaptor

    def rerank(self, kind: ChannelType) -> Adaptor:
        """The adaptor of `POST /v1/rerank`, the same for every type that offers it (relay/adaptors/rerank.py)."""
        if not offers_rerank(kind):
            raise not_served(kind.label, "/v1/rerank")
        return self._rerank

    def supported(self) -> set[int]:
        """Channel types whose family has an adaptor."""
        return {type_id for type_id, kind in TYPES.items() if kind.family in self._families}
