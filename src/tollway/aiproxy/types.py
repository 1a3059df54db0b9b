"""AI Proxy's channel type numbers on the AI Proxy routes, mapped to and from One API's (which Tollway stores).

The table is AI Proxy v0.6.5's own (`core/controller/import.go` OneAPIChannelType2AIProxyMap, names from
`core/model/chtype.go`). Two One API types share an AI Proxy number (Ali 17 and Bailian 49 are its 17); going back,
an AI Proxy number means the first One API type of the table, and an update that sends a channel's number back
unchanged never changes its stored type. A One API type AI Proxy has no number for is shown as 1000 + its One API
number and named in `type_metas` as such, so it is never mislabelled as another provider.

AI Proxy's base URLs include the API version path that One API's leave to the adaptor (`https://api.openai.com/v1`
against `https://api.openai.com`): `SUFFIX` says what to add on the way out and take off on the way in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tollway.routing import channel_types

OWN = 1000  # AI Proxy number of a One API type without a counterpart: OWN + its One API number

# One API type -> AI Proxy type, exactly AI Proxy v0.6.5's OneAPIChannelType2AIProxyMap.
ONE_API_TO_AIPROXY: dict[int, int] = {
    1: 1, 3: 3, 14: 14, 15: 15, 16: 16, 17: 17, 19: 19, 20: 20, 23: 23, 24: 24, 25: 25, 26: 26, 27: 27, 28: 28,
    29: 29, 30: 30, 31: 31, 32: 32, 33: 33, 34: 34, 35: 35, 36: 36, 37: 37, 40: 40, 41: 41, 42: 42, 44: 43,
    47: 13, 48: 18, 49: 17, 51: 12, 45: 45,
}


def _inverse(table: dict[int, int]) -> dict[int, int]:
    """AI Proxy type -> One API type: the first One API type where two share a number (Ali 17 before Bailian 49)."""
    inverse: dict[int, int] = {}
    for one_api, aiproxy in sorted(table.items()):
        inverse.setdefault(aiproxy, one_api)
    return inverse


AIPROXY_TO_ONE_API = _inverse(ONE_API_TO_AIPROXY)

# AI Proxy v0.6.5's names of its types (core/model/chtype.go).
AIPROXY_NAMES: dict[int, str] = {
    1: "openai", 3: "azure (deprecated)", 4: "azure", 12: "google gemini (openai)", 13: "baidu v2", 14: "anthropic",
    15: "baidu", 16: "zhipu", 17: "ali", 18: "xunfei", 19: "ai360", 20: "openrouter", 23: "tencent",
    24: "google gemini", 25: "moonshot", 26: "baichuan", 27: "minimax", 28: "mistral", 29: "groq", 30: "ollama",
    31: "lingyiwanwu", 32: "stepfun", 33: "aws", 34: "coze", 35: "Cohere", 36: "deepseek", 37: "cloudflare",
    40: "doubao", 41: "novita", 42: "vertexai", 43: "siliconflow", 44: "doubao audio", 45: "xai", 46: "doc2x",
    47: "jina", 48: "huggingface text-embeddings-inference", 49: "qianfan", 50: "Sangfor AICP", 51: "Streamlake",
    52: "zhipu coding", 53: "fake", 54: "antling", 55: "fake-error",
}

# What AI Proxy's base URL of a One API type has after One API's (its default against the One API default).
SUFFIX: dict[int, str] = {
    1: "/v1", 14: "/v1", 16: "/api/paas/v4", 19: "/v1", 20: "/v1", 25: "/v1", 26: "/v1", 27: "/v1", 28: "/v1",
    29: "/v1", 31: "/v1", 32: "/v1", 36: "/v1", 44: "/v1", 45: "/v1", 47: "/v2", 48: "/v1",
}

AZURE = 3


def to_aiproxy(one_api_type: int) -> int:
    """The AI Proxy number of a stored (One API) channel type."""
    return ONE_API_TO_AIPROXY.get(one_api_type, OWN + one_api_type)


def from_aiproxy(aiproxy_type: int, current: int | None = None) -> int | None:
    """The One API type of an AI Proxy number (None: Tollway has no such type).

    `current` is the channel's stored type: a number that already stands for it keeps it (Bailian stays Bailian).
    """
    if current is not None and to_aiproxy(current) == aiproxy_type:
        return current
    if aiproxy_type in AIPROXY_TO_ONE_API:
        return AIPROXY_TO_ONE_API[aiproxy_type]
    own = aiproxy_type - OWN
    if own > 0 and own in channel_types.TYPES and own not in ONE_API_TO_AIPROXY:
        return own
    return None


def base_url_out(one_api_type: int, base_url: str) -> str:
    """A stored base URL as AI Proxy writes it for that type (empty stays empty: the default)."""
    return base_url.rstrip("/") + SUFFIX.get(one_api_type, "") if base_url else ""


def base_url_in(one_api_type: int, base_url: str) -> str:
    """A base URL given in AI Proxy's form, as One API's adaptors take it (One API's form is kept as it is)."""
    base = base_url.strip().rstrip("/")
    suffix = SUFFIX.get(one_api_type, "")
    return base[:-len(suffix)] if suffix and base.endswith(suffix) else base


@dataclass(frozen=True)
class Meta:
    """One entry of `GET /api/channels/type_metas`."""

    name: str
    key_help: str
    default_base_url: str

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "keyHelp": self.key_help, "defaultBaseUrl": self.default_base_url, "readme": ""}


def metas(supported: set[int]) -> dict[str, dict[str, Any]]:
    """Every channel type Tollway serves, keyed by its AI Proxy number (JSON keys are strings, as AI Proxy's)."""
    found: dict[int, Meta] = {}
    for one_api_type in sorted(supported):
        kind = channel_types.TYPES.get(one_api_type)
        if kind is None or one_api_type == 0:
            continue
        number = to_aiproxy(one_api_type)
        if number in found:
            continue  # Bailian shares Ali's number; Ali's entry stands for both
        if number >= OWN:
            name = f"{kind.label} (One API type {one_api_type}; no AI Proxy counterpart)"
        else:
            name = AIPROXY_NAMES.get(number, kind.label)
        key_help = "key|api-version" if one_api_type == AZURE else kind.key_help
        found[number] = Meta(name, key_help, base_url_out(one_api_type, kind.base_url))
    return {str(number): meta.as_json() for number, meta in sorted(found.items())}
