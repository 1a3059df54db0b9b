"""DeepL's translate API as a chat model: `deepl-<lang>` translates the last user message into <lang>.

Usage is counted in characters, as DeepL bills them: prompt = characters sent, completion = characters
returned (the built-in prices charge only the prompt side, like One API). Streams are simulated: the
pipeline replays the whole answer as chunks.
"""

from __future__ import annotations

import orjson

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.adaptors.content import text_of
from tollway.relay.adaptors.failures import body_text, json_of, table_error, unsupported
from tollway.relay.adaptors.openai_out import text_answer
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage

DEFAULT_LANGUAGE = "ZH"
_FREE_API = "https://api-free.deepl.com"
_PRO_API = "https://api.deepl.com"
# DeepL's statuses → (status for the client, OpenAI error type, retry on another channel).
_STATUSES: dict[int, tuple[int, str, bool]] = {
    400: (400, "invalid_request_error", False),
    401: (401, "authentication_error", True),
    403: (401, "authentication_error", True),  # DeepL answers a bad or wrong-plan key with 403
    404: (404, "not_found_error", True),
    413: (413, "invalid_request_error", False),
    414: (400, "invalid_request_error", False),
    429: (429, "rate_limit_error", True),
    456: (403, "insufficient_quota", True),  # character quota of the billing period used up
    529: (429, "rate_limit_error", True),  # "too many requests" on older API hosts
}


def target_language(model: str) -> str:
    """`deepl-zh` → ZH, `deepl-en-us` → EN-US; a name without a language means Chinese (One API's default)."""
    _, _, language = model.partition("-")
    return language.upper() or DEFAULT_LANGUAGE


def source_text(call: Call) -> str:
    """The text to translate: the last user message (system prompts are instructions, not text)."""
    for message in reversed(call.body["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def base_url(target: Target) -> str:
    """The channel's base URL, else the host the key belongs to: Free API keys end in `:fx`."""
    if target.channel.base_url:
        return target.channel.base_url.rstrip("/")
    return _FREE_API if target.channel.key.endswith(":fx") else _PRO_API


class DeepLAdaptor(Adaptor):
    """Translator between chat completions and DeepL's `/v2/translate`."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        if call.mode is not Mode.CHAT:
            raise unsupported(f"DeepL channels serve chat completions only, not {call.path}")
        text = source_text(call)
        if not text.strip():
            raise InvalidRequest("DeepL translates the last user message, and it has no text", param="messages")
        body = {"text": [text], "target_lang": target_language(target.model)}
        headers = {"Content-Type": "application/json", "Authorization": f"DeepL-Auth-Key {target.channel.key}"}
        return UpstreamRequest("POST", base_url(target) + "/v2/translate", headers, orjson.dumps(body))

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json_of(body)
        translations = data.get("translations") if isinstance(data, dict) else None
        if not isinstance(translations, list):
            raise self.error(status if status >= 400 else 502, body)
        text = "".join(str(item.get("text") or "") for item in translations if isinstance(item, dict))
        usage = Usage(len(source_text(call)), len(text))
        return Answer(status, text_answer(call, call.model, text, usage), "application/json", usage=usage, text=text)

    def error(self, status: int, body: bytes) -> UpstreamError:
        data = json_of(body)
        text = ""
        if isinstance(data, dict):
            text = str(data.get("message") or "")
            if data.get("detail"):
                text = f"{text}: {data['detail']}" if text else str(data["detail"])
        text = text or body_text(body) or f"DeepL returned status {status}"
        return table_error(status, text, f"deepl_{status}", _STATUSES)
