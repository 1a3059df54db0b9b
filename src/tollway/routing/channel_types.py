"""Channel types with One API's numbers, labels, default base URLs and what else differs per type (reference §3).

Providers that speak OpenAI's wire format are rows here, not modules: the row says where the
endpoints live and which quirks apply. Every other family names the adaptor that translates for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OPENAI = "openai"


@dataclass(frozen=True)
class ChannelType:
    """One provider type: how to reach it and which adaptor family speaks its format."""

    id: int
    name: str
    label: str
    base_url: str = ""
    family: str = OPENAI
    # Relay path → upstream path, for providers that moved OpenAI's endpoints elsewhere.
    paths: dict[str, str] = field(default_factory=dict)
    # The base URL is an SDK-style base that already ends where `/v1` would be.
    strip_v1: bool = False
    # The upstream honours `stream_options.include_usage`, so Tollway asks it for usage in streams.
    stream_usage: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    # Only these relay paths exist upstream (empty: all of OpenAI's).
    only: frozenset[str] = frozenset()
    # What goes in the key field, for the channel form (One API's per-type hints).
    key_help: str = "API key"
    # The `config` fields this type reads: region, ak, sk, user_id, api_version, library_id, plugin,
    # vertex_ai_project_id, vertex_ai_adc.
    config: tuple[str, ...] = ()
    # The base URL must be given (there is no default).
    needs_base_url: bool = False
    # The key is one JSON document (a service account), never split into a channel per line.
    json_key: bool = False
    # The credentials may be in `config` instead of the key (AWS's ak and sk, Vertex's service account), so a
    # channel of this type may be added without a key.
    credentials_in_config: bool = False
    # The currency the provider states its balance in (operations/balances.py queries it); "" when it has no
    # balance query.
    balance_currency: str = ""


_CHAT = "/v1/chat/completions"
_EMBED = "/v1/embeddings"

_ROWS = [
    ChannelType(0, "Unknown", "Unknown"),
    ChannelType(1, "OpenAI", "OpenAI", "https://api.openai.com", stream_usage=True, balance_currency="USD"),
    ChannelType(2, "API2D", "API2D", "https://oa.api2d.net"),
    ChannelType(3, "Azure", "Azure OpenAI", stream_usage=True, config=("api_version",), needs_base_url=True),
    ChannelType(4, "CloseAI", "CloseAI", "https://api.closeai-proxy.xyz", balance_currency="USD"),
    ChannelType(5, "OpenAISB", "OpenAI-SB", "https://api.openai-sb.com", balance_currency="USD"),
    ChannelType(6, "OpenAIMax", "OpenAI Max", "https://api.openaimax.com"),
    ChannelType(7, "OhMyGPT", "OhMyGPT", "https://api.ohmygpt.com"),
    ChannelType(8, "Custom", "Custom", "", needs_base_url=True, balance_currency="USD"),
    ChannelType(9, "Ails", "AI.LS", "https://api.caipacity.com"),
    ChannelType(10, "AIProxy", "AI Proxy", "https://api.aiproxy.io", balance_currency="USD"),
    ChannelType(11, "PaLM", "Google PaLM2", "https://generativelanguage.googleapis.com", family="palm"),
    ChannelType(12, "API2GPT", "API2GPT", "https://api.api2gpt.com", balance_currency="USD"),
    ChannelType(13, "AIGC2D", "AIGC2D", "https://api.aigc2d.com", balance_currency="USD"),
    ChannelType(
        14, "Anthropic", "Anthropic Claude", "https://api.anthropic.com", family="anthropic", key_help="sk-ant-..."
    ),
    ChannelType(15, "Baidu", "Baidu ERNIE", "https://aip.baidubce.com", family="baidu", key_help="APIKey|SecretKey"),
    ChannelType(16, "Zhipu", "Zhipu ChatGLM", "https://open.bigmodel.cn", family="zhipu", key_help="id.secret"),
    ChannelType(17, "Ali", "Alibaba Qwen", "https://dashscope.aliyuncs.com", family="ali", config=("plugin",)),
    ChannelType(
        18, "Xunfei", "Xunfei Spark", "", family="xunfei", key_help="APPID|APISecret|APIKey", config=("api_version",)
    ),
    ChannelType(19, "AI360", "360 AI", "https://ai.360.cn"),
    ChannelType(
        20,
        "OpenRouter",
        "OpenRouter",
        "https://openrouter.ai/api",
        stream_usage=True,
        headers={"HTTP-Referer": "https://github.com/tollway", "X-Title": "Tollway"},
        balance_currency="USD",
    ),
    ChannelType(
        21, "AIProxyLibrary", "AI Proxy Library", "https://api.aiproxy.io", family="aiproxy", config=("library_id",)
    ),
    ChannelType(22, "FastGPT", "FastGPT", "https://fastgpt.run/api/openapi", key_help="APIKey-AppId"),
    ChannelType(
        23,
        "Tencent",
        "Tencent Hunyuan",
        "https://hunyuan.tencentcloudapi.com",
        family="tencent",
        key_help="AppId|SecretId|SecretKey",
        config=("region",),
    ),
    ChannelType(
        24,
        "Gemini",
        "Google Gemini",
        "https://generativelanguage.googleapis.com",
        family="gemini",
        config=("api_version",),
    ),
    ChannelType(25, "Moonshot", "Moonshot AI", "https://api.moonshot.cn"),
    ChannelType(26, "Baichuan", "Baichuan", "https://api.baichuan-ai.com"),
    ChannelType(
        27,
        "Minimax",
        "MiniMax",
        "https://api.minimax.chat",
        paths={_CHAT: "/v1/text/chatcompletion_v2"},
        only=frozenset({_CHAT}),
    ),
    ChannelType(28, "Mistral", "Mistral AI", "https://api.mistral.ai"),
    ChannelType(29, "Groq", "Groq", "https://api.groq.com/openai", stream_usage=True),
    ChannelType(
        30, "Ollama", "Ollama", "http://localhost:11434", family="ollama",
        key_help="any text (Ollama needs none; it is sent as a Bearer token for a proxy in front of it)",
    ),
    ChannelType(31, "LingYiWanWu", "01.AI", "https://api.lingyiwanwu.com"),
    ChannelType(32, "StepFun", "StepFun", "https://api.stepfun.com"),
    ChannelType(
        33,
        "AwsClaude",
        "AWS Bedrock Claude",
        "",
        family="aws",
        key_help="ak|sk|region, a Bedrock API key, or empty with region, ak and sk filled in",
        config=("region", "ak", "sk", "session_token"),
        credentials_in_config=True,
    ),
    ChannelType(
        34,
        "Coze",
        "Coze",
        "https://api.coze.com",
        family="coze",
        key_help="pat_... (personal access token)",
        config=("user_id", "api_version"),
    ),
    ChannelType(35, "Cohere", "Cohere", "https://api.cohere.ai", family="cohere"),
    ChannelType(36, "DeepSeek", "DeepSeek", "https://api.deepseek.com", stream_usage=True, balance_currency="CNY"),
    ChannelType(
        37,
        "Cloudflare",
        "Cloudflare Workers AI",
        "https://api.cloudflare.com",
        family="cloudflare",
        key_help="API token",
        config=("user_id",),
    ),
    ChannelType(
        38, "DeepL", "DeepL", "https://api-free.deepl.com", family="deepl",
        key_help="DeepL auth key (keys ending in :fx are Free API keys)",
    ),
    ChannelType(39, "TogetherAI", "together.ai", "https://api.together.xyz", stream_usage=True),
    ChannelType(
        40,
        "Doubao",
        "Doubao (Volcengine Ark)",
        "https://ark.cn-beijing.volces.com",
        paths={_CHAT: "/api/v3/chat/completions", _EMBED: "/api/v3/embeddings"},
        only=frozenset({_CHAT, _EMBED}),
    ),
    ChannelType(41, "Novita", "Novita", "https://api.novita.ai/v3/openai", strip_v1=True),
    ChannelType(
        42,
        "VertexAI",
        "Google Vertex AI",
        "",
        family="vertexai",
        key_help="(unused; fill in the service-account JSON)",
        config=("region", "vertex_ai_project_id", "vertex_ai_adc"),
        json_key=True,
        credentials_in_config=True,
    ),
    ChannelType(43, "Proxy", "Proxy", "", family="proxy"),
    ChannelType(
        44, "SiliconFlow", "SiliconFlow", "https://api.siliconflow.cn", stream_usage=True, balance_currency="CNY"
    ),
    ChannelType(45, "XAI", "xAI", "https://api.x.ai", stream_usage=True),
    ChannelType(
        46, "Replicate", "Replicate", "https://api.replicate.com", family="replicate", key_help="r8_..."
    ),
    ChannelType(
        47,
        "BaiduV2",
        "Baidu Qianfan V2",
        "https://qianfan.baidubce.com",
        paths={_CHAT: "/v2/chat/completions", _EMBED: "/v2/embeddings"},
        stream_usage=True,
    ),
    ChannelType(48, "XunfeiV2", "Xunfei Spark V2", "https://spark-api-open.xf-yun.com", stream_usage=True),
    ChannelType(
        49,
        "AliBailian",
        "Alibaba Bailian",
        "https://dashscope.aliyuncs.com",
        paths={_CHAT: "/compatible-mode/v1/chat/completions", _EMBED: "/compatible-mode/v1/embeddings"},
        stream_usage=True,
    ),
    ChannelType(50, "OpenAICompatible", "OpenAI compatible", "", strip_v1=True, stream_usage=True, needs_base_url=True),
    ChannelType(
        51,
        "GeminiOpenAICompatible",
        "Gemini (OpenAI compatible)",
        "https://generativelanguage.googleapis.com/v1beta/openai/",
        strip_v1=True,
        stream_usage=True,
    ),
]

TYPES: dict[int, ChannelType] = {row.id: row for row in _ROWS}


def get(type_id: int) -> ChannelType:
    """The row of a channel type; unknown numbers are treated as OpenAI-compatible, as One API does."""
    return TYPES.get(type_id) or ChannelType(type_id, f"Type{type_id}", f"Type {type_id}")
