"""Google PaLM 2 (channel type 11, `generateMessage` of the retired v1beta2 API), mapped as One API maps it.

PaLM never streamed: a streaming client gets the whole answer replayed as SSE by the pipeline. The API
reports no usage, so tokens are counted locally (tiktoken), as One API counts them.
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.billing.tokenizer import Counter
from tollway.errors import UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.adaptors.content import text_of
from tollway.relay.adaptors.failures import json_object, not_served
from tollway.relay.adaptors.gemini_errors import google_error, rpc_error
from tollway.relay.adaptors.openai_out import assistant_message, choice, completion
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage

# One API always calls this model, whatever the channel's model is named ("PaLM-2").
PATH = "/v1beta2/models/chat-bison-001:generateMessage"


def palm_body(call: Call) -> dict[str, Any]:
    """The generateMessage body: user turns are author "0", every other turn author "1", system text the context."""
    messages = call.body["messages"]
    context: list[str] = []
    turns = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        if message.get("role") in ("system", "developer"):
            context.append(text_of(message.get("content")))
        else:
            turns.append({"author": "0" if message.get("role") == "user" else "1",
                          "content": text_of(message.get("content"))})
    prompt: dict[str, Any] = {"messages": turns}
    if any(context):
        prompt["context"] = "\n".join(c for c in context if c)
    body: dict[str, Any] = {"prompt": prompt}
    for name, key in (("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("n", "candidateCount")):
        value = call.body.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and value:
            body[key] = value
    return body


def palm_answer(call: Call, body: bytes, model: str = "") -> Answer:
    """An OpenAI chat.completion from a generateMessage answer, with usage counted locally as One API does."""
    data = json_object(body, other="an unexpected JSON body")
    if isinstance(data.get("error"), dict) and data["error"].get("code"):
        raise rpc_error(data["error"])
    candidates = [c for c in data.get("candidates") or () if isinstance(c, dict)]
    if not candidates:
        filters = [f for f in data.get("filters") or () if isinstance(f, dict)]
        if filters:
            reason = filters[0].get("message") or filters[0].get("reason") or "OTHER"
            raise UpstreamError(f"PaLM filtered the conversation ({reason})", status_code=400,
                                error_type="invalid_request_error", code="content_filter")
        raise UpstreamError("PaLM returned no candidates", status_code=502, code="no_candidates", retryable=True)
    texts = [str(candidate.get("content") or "") for candidate in candidates]
    choices = [choice(index, assistant_message(text), "stop") for index, text in enumerate(texts)]
    # PaLM reports no usage; the client still gets one, the same figures billing uses.
    counter = Counter(model or call.model)
    usage = Usage(counter.prompt(call.body), counter.text("".join(texts)))
    return Answer(200, completion(call, call.model, choices, usage), "application/json", usage=usage,
                  text="".join(texts))


class PaLMAdaptor(Adaptor):
    """Translator for PaLM 2 channels: chat only, answered whole."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        if call.mode is not Mode.CHAT:
            raise not_served(target.type.label, call.path)
        channel = target.channel
        base = (channel.base_url or target.type.base_url).rstrip("/")
        headers = {"Content-Type": "application/json", "x-goog-api-key": channel.key}
        return UpstreamRequest("POST", base + PATH, headers, orjson.dumps(palm_body(call)))

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        return palm_answer(call, body, target.model)

    def error(self, status: int, body: bytes) -> UpstreamError:
        return google_error(status, body)
