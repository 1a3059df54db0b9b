"""Default model lists per channel type: prefilled in the channel form and listed by `/api/models`."""

from __future__ import annotations

from tollway.routing import channel_types

OPENAI_MODELS = [
    "gpt-3.5-turbo", "gpt-3.5-turbo-0125", "gpt-3.5-turbo-1106", "gpt-3.5-turbo-16k", "gpt-3.5-turbo-instruct",
    "gpt-4", "gpt-4-0613", "gpt-4-32k", "gpt-4-turbo", "gpt-4-turbo-2024-04-09", "gpt-4-turbo-preview",
    "gpt-4-1106-preview", "gpt-4-0125-preview", "gpt-4-vision-preview",
    "gpt-4o", "gpt-4o-2024-05-13", "gpt-4o-2024-08-06", "gpt-4o-2024-11-20", "chatgpt-4o-latest",
    "gpt-4o-mini", "gpt-4o-mini-2024-07-18", "gpt-4o-audio-preview", "gpt-4o-search-preview",
    "gpt-4o-mini-search-preview", "gpt-4.1", "gpt-4.1-2025-04-14", "gpt-4.1-mini", "gpt-4.1-nano",
    "gpt-4.5-preview", "gpt-5", "gpt-5-chat-latest", "gpt-5-mini", "gpt-5-nano", "gpt-5.1",
    "o1", "o1-preview", "o1-mini", "o1-pro", "o3", "o3-pro", "o3-mini", "o4-mini",
    "davinci-002", "babbage-002",
    "text-embedding-ada-002", "text-embedding-3-small", "text-embedding-3-large",
    "text-moderation-latest", "text-moderation-stable", "omni-moderation-latest",
    "dall-e-2", "dall-e-3", "gpt-image-1",
    "whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe",
    "tts-1", "tts-1-1106", "tts-1-hd", "tts-1-hd-1106", "gpt-4o-mini-tts",
]

ANTHROPIC_MODELS = [
    "claude-3-haiku-20240307", "claude-3-5-haiku-20241022", "claude-haiku-4-5-20251001",
    "claude-3-sonnet-20240229", "claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20241022",
    "claude-3-7-sonnet-20250219", "claude-sonnet-4-20250514", "claude-sonnet-4-5-20250929",
    "claude-3-opus-20240229", "claude-opus-4-20250514", "claude-opus-4-1-20250805",
]

GEMINI_MODELS = [
    "gemini-1.5-pro", "gemini-1.5-flash", "gemini-2.0-flash", "gemini-2.0-flash-lite",
    "gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "text-embedding-004", "gemini-embedding-001",
]

MODELS_BY_TYPE: dict[int, list[str]] = {
    1: OPENAI_MODELS,
    3: OPENAI_MODELS,
    11: ["PaLM-2"],
    14: [*ANTHROPIC_MODELS, "claude-opus-4-5-20251101"],
    15: ["ERNIE-4.0-Turbo-8K", "ERNIE-4.0-8K", "ERNIE-3.5-8K", "ERNIE-3.5-128K", "ERNIE-Speed-8K",
         "ERNIE-Speed-128K", "ERNIE-Lite-8K", "ERNIE-Tiny-8K", "Embedding-V1", "bge-large-zh", "bge-large-en",
         "tao-8k"],
    16: ["glm-4-plus", "glm-4-air", "glm-4-flash", "glm-4-long", "glm-4.5", "glm-4", "glm-4v", "glm-4v-plus",
         "embedding-2", "embedding-3", "cogview-3", "chatglm_turbo", "chatglm_pro", "chatglm_std", "chatglm_lite"],
    17: ["qwen-turbo", "qwen-plus", "qwen-max", "qwen-long", "qwen-vl-max", "qwen-vl-plus", "text-embedding-v1",
         "text-embedding-v2", "text-embedding-v3", "wanx-v1", "ali-stable-diffusion-xl", "ali-stable-diffusion-v1.5"],
    18: ["Spark-Lite", "Spark-Pro", "Spark-Pro-128K", "Spark-Max", "Spark-Max-32K", "Spark-4.0-Ultra"],
    19: ["360GPT_S2_V9", "embedding-bert-512-v1", "embedding_s1_v1", "semantic_similarity_s1_v1"],
    21: ["gpt-3.5-turbo", "gpt-4o-mini", "gpt-4o", "gpt-4.1-mini", "gpt-4.1"],  # the library's answering model
    23: ["hunyuan-lite", "hunyuan-standard", "hunyuan-standard-256K", "hunyuan-pro", "hunyuan-turbo",
         "hunyuan-functioncall", "hunyuan-vision", "hunyuan-embedding"],
    24: [*GEMINI_MODELS, "gemini-3-pro-preview"],
    25: ["moonshot-v1-8k", "moonshot-v1-32k", "moonshot-v1-128k", "kimi-k2-0905-preview"],
    26: ["Baichuan4", "Baichuan3-Turbo", "Baichuan-Text-Embedding"],
    27: ["abab6.5s-chat", "MiniMax-Text-01"],
    28: ["mistral-large-latest", "mistral-medium-latest", "mistral-small-latest", "open-mistral-nemo",
         "codestral-latest", "mistral-embed"],
    29: ["llama-3.1-8b-instant", "llama-3.3-70b-versatile", "gemma2-9b-it"],
    30: ["llama3.2", "llama3.1", "qwen3", "qwen2.5", "deepseek-r1", "gemma3", "llava", "nomic-embed-text",
         "all-minilm"],
    31: ["yi-lightning", "yi-large"],
    32: ["step-1-8k", "step-2-16k"],
    33: ["claude-3-haiku-20240307", "claude-3-5-haiku-20241022", "claude-3-5-sonnet-20240620",
         "claude-3-5-sonnet-20241022", "claude-3-7-sonnet-20250219", "claude-sonnet-4-20250514",
         "claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-3-opus-20240229",
         "claude-opus-4-20250514", "claude-opus-4-1-20250805", "claude-opus-4-5-20251101"],
    34: [],
    35: ["command-r", "command-r-plus", "command-r-08-2024", "command-r-plus-08-2024", "command-r7b-12-2024",
         "command-a-03-2025", "command-r-internet", "command-r-plus-internet", "command-a-03-2025-internet"],
    36: ["deepseek-chat", "deepseek-reasoner"],
    37: ["@cf/meta/llama-3.1-8b-instruct", "@cf/meta/llama-3.3-70b-instruct-fp8-fast", "@cf/meta/llama-3.2-3b-instruct",
         "@cf/mistral/mistral-7b-instruct-v0.1", "@cf/qwen/qwq-32b", "@cf/deepseek-ai/deepseek-r1-distill-qwen-32b",
         "@cf/openai/gpt-oss-120b", "@cf/openai/gpt-oss-20b", "@cf/baai/bge-base-en-v1.5", "@cf/baai/bge-m3"],
    38: ["deepl-zh", "deepl-en", "deepl-ja", "deepl-en-us", "deepl-en-gb", "deepl-de", "deepl-fr"],
    39: ["meta-llama/Llama-3.3-70B-Instruct-Turbo"],
    40: ["doubao-pro-32k", "doubao-lite-32k"],
    41: ["meta-llama/llama-3.1-8b-instruct"],
    42: ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash",
         "claude-sonnet-4-5@20250929", "claude-opus-4-1@20250805", "claude-3-7-sonnet@20250219",
         "claude-3-5-haiku@20241022"],
    44: ["Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-72B-Instruct", "deepseek-ai/DeepSeek-V3",
         "deepseek-ai/DeepSeek-R1"],
    45: ["grok-2", "grok-3", "grok-3-mini", "grok-4"],
    46: ["meta/meta-llama-3-8b-instruct", "meta/meta-llama-3-70b-instruct", "meta/meta-llama-3.1-405b-instruct",
         "mistralai/mistral-7b-instruct-v0.2", "mistralai/mixtral-8x7b-instruct-v0.1",
         "black-forest-labs/flux-schnell", "black-forest-labs/flux-dev", "black-forest-labs/flux-pro",
         "black-forest-labs/flux-1.1-pro", "black-forest-labs/flux-1.1-pro-ultra",
         "stability-ai/stable-diffusion-3.5-large", "stability-ai/stable-diffusion-3.5-large-turbo",
         "ideogram-ai/ideogram-v2", "recraft-ai/recraft-v3"],
    47: ["ernie-4.0-8k", "ernie-speed-128k"],
    48: ["lite", "generalv3.5", "4.0Ultra"],
    49: ["qwen-turbo", "qwen-plus", "qwen-max", "text-embedding-v3"],
    51: GEMINI_MODELS,
}


def _owners() -> dict[str, str]:
    owners: dict[str, str] = {}
    for type_id, models in MODELS_BY_TYPE.items():
        for model in models:
            owners.setdefault(model, channel_types.get(type_id).name.lower())
    return owners


def owner(model: str) -> str:
    """`owned_by` of a model in `/v1/models`: the first type that lists it, else "custom" (as One API)."""
    return _OWNERS.get(model, "custom")


def default_models(type_id: int) -> list[str]:
    """The models a new channel of this type serves until the operator says otherwise."""
    return list(MODELS_BY_TYPE.get(type_id, OPENAI_MODELS))


def all_models() -> list[str]:
    """Every model any type lists, once each, in first-seen order."""
    seen: dict[str, None] = {}
    for models in (OPENAI_MODELS, *MODELS_BY_TYPE.values()):
        for model in models:
            seen.setdefault(model, None)
    return list(seen)


_OWNERS = _owners()
