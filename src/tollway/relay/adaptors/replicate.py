"""Replicate predictions: chat streamed from the prediction's SSE URL, images polled until they are ready.

A chat call creates a prediction (`POST /v1/models/{owner}/{name}/predictions`, 201) whose `urls.stream`
the pipeline then follows as a stream of `event: output` / `done` / `error`. A model without streaming is
polled through `urls.get` until it succeeds. Images are polled the same way; their outputs are URLs, or
base64 when the client asks for `b64_json` (the pipeline fetches the file as one more follow-up).
"""

from __future__ import annotations

import base64
import math
import time
from typing import Any
from urllib.parse import urlsplit

import orjson

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.adaptors.content import stop_list, text_of
from tollway.relay.adaptors.failures import bad_answer, body_text, json_of, obj, table_error, unsupported
from tollway.relay.adaptors.line_stream import LineStream
from tollway.relay.adaptors.openai_out import ChunkWriter, text_answer
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage

POLL_INTERVAL = 1.0  # seconds between polls of an unfinished prediction (One API waits 3)
DEFAULT_MAX_TOKENS = 500  # One API's default when the client sets none
ASPECT_RATIOS = frozenset({"1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"})
_FAILED = ("failed", "canceled", "aborted")
# Chat fields the usual language-model inputs share with OpenAI.
_CHAT_FIELDS = ("temperature", "top_p", "top_k", "presence_penalty", "frequency_penalty", "seed")
# Replicate's statuses → (status for the client, OpenAI error type, retry on another channel).
_STATUSES: dict[int, tuple[int, str, bool]] = {
    400: (400, "invalid_request_error", False),
    401: (401, "authentication_error", True),
    402: (403, "insufficient_quota", True),  # "Payment Required": the account is out of credit
    403: (403, "permission_error", True),
    404: (404, "not_found_error", True),
    422: (400, "invalid_request_error", False),  # input validation failed
    429: (429, "rate_limit_error", True),
}


def api_root(target: Target) -> str:
    """The API host of the channel; the type's default base URL ends in `/v1/models/`, a custom one may not."""
    base = (target.channel.base_url or target.type.base_url).rstrip("/")
    return base.removesuffix("/models").removesuffix("/v1")


def create_url(target: Target) -> str:
    """Where a prediction is created: the model's endpoint, or `/v1/predictions` for `owner/name:version`."""
    model = target.model
    if "/" not in model:
        raise InvalidRequest(f"Replicate models are named owner/name, not {model!r}", param="model")
    if ":" in model:
        return api_root(target) + "/v1/predictions"
    return f"{api_root(target)}/v1/models/{model}/predictions"


def chat_input(call: Call, messages: list[Any]) -> dict[str, Any]:
    """A language model's input: system messages as `system_prompt`, the rest as `role: text` lines (One API)."""
    system, prompt = [], []
    for message in messages:
        if not isinstance(message, dict):
            continue
        text = text_of(message.get("content"))
        if message.get("role") in ("system", "developer"):
            system.append(text)
        elif text:
            prompt.append(f"{message.get('role')}: {text}\n")
    max_tokens = call.max_tokens or DEFAULT_MAX_TOKENS
    # Llama 3 and most newer models read max_tokens; Llama 2 era models read max_new_tokens.
    data: dict[str, Any] = {"prompt": "".join(prompt), "max_tokens": max_tokens, "max_new_tokens": max_tokens}
    if any(system):
        data["system_prompt"] = "\n".join(part for part in system if part)
    data.update({name: call.body[name] for name in _CHAT_FIELDS if call.body.get(name) is not None})
    stop = stop_list(call.body.get("stop"))
    if stop:
        data["stop_sequences"] = ",".join(stop)
    return data


def image_input(call: Call) -> dict[str, Any]:
    """An image model's input: the prompt, the size as width/height and aspect ratio, and the count."""
    body = call.body
    data: dict[str, Any] = {"prompt": body["prompt"]}
    count = body.get("n", 1)
    if isinstance(count, int) and count > 1:
        data["num_outputs"] = count
    width, _, height = str(body.get("size") or "").partition("x")
    if width.isdigit() and height.isdigit() and int(width) and int(height):
        # Flux models take an aspect ratio, SDXL-style models width and height; each ignores the other.
        data["width"], data["height"] = int(width), int(height)
        divisor = math.gcd(int(width), int(height))
        ratio = f"{int(width) // divisor}:{int(height) // divisor}"
        if ratio in ASPECT_RATIOS:
            data["aspect_ratio"] = ratio
    if body.get("response_format") == "b64_json":
        data["output_format"] = "png"
    return data


def prediction_error(prediction: dict[str, Any]) -> UpstreamError:
    """A prediction that failed or was canceled: the model ran (and was billed), so another channel won't help."""
    state = str(prediction.get("status") or "failed")
    message = str(prediction.get("error") or f"Replicate prediction {state}")
    return UpstreamError(message, status_code=500, code=f"replicate_{state}", retryable=False)


class ReplicateAdaptor(Adaptor):
    """Translator for Replicate's predictions API (chat and image generation)."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        if call.mode is Mode.CHAT:
            data = chat_input(call, call.body["messages"])
        elif call.mode is Mode.IMAGES:
            if call.body.get("response_format") == "b64_json" and call.body.get("n", 1) != 1:
                raise InvalidRequest("Replicate channels return b64_json for one image per request; "
                                     "ask for n=1 or response_format=url", param="n")
            data = image_input(call)
        else:
            raise unsupported(f"Replicate channels serve chat and images, not {call.path}")
        if isinstance(call.body.get("input"), dict):
            data.update(call.body["input"])  # model-specific inputs sent through the OpenAI SDK's extra_body
        body: dict[str, Any] = {"input": data}
        if call.mode is Mode.CHAT:
            body["stream"] = True
        url = create_url(target)
        if ":" in target.model:
            body["version"] = target.model.rpartition(":")[2]
        return UpstreamRequest("POST", url, _auth(target), orjson.dumps(body))

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        if call.mode is Mode.IMAGES and not media_type.startswith("application/json"):
            return _image_file(body)
        prediction = _prediction(body)
        state = prediction.get("status")
        if state in _FAILED:
            raise prediction_error(prediction)
        urls = _urls(prediction)
        if call.mode is Mode.CHAT:
            if state == "succeeded":
                text = _text(prediction.get("output"))
                return Answer(200, text_answer(call, call.model, text, None), "application/json", text=text)
            stream = urls.get("stream")
            if isinstance(stream, str) and stream:
                headers = {**_auth(target), "Accept": "text/event-stream", "Cache-Control": "no-store"}
                headers.pop("Content-Type")
                return Answer(200, b"", "", follow=UpstreamRequest("GET", stream, headers, stream=True))
            return _poll(target, prediction)
        if state != "succeeded":
            return _poll(target, prediction)
        files = _files(prediction.get("output"))
        if not files:
            raise bad_answer("Replicate finished the prediction without any image")
        if call.body.get("response_format") == "b64_json":
            # Replicate serves files from its own CDN; the key goes only to the API host.
            same_host = urlsplit(files[0]).netloc == urlsplit(api_root(target)).netloc
            headers = {"Authorization": f"Bearer {target.channel.key}"} if same_host else {}
            return Answer(200, b"", "", follow=UpstreamRequest("GET", files[0], headers))
        answer = {"created": int(time.time()), "data": [{"url": url} for url in files]}
        return Answer(200, orjson.dumps(answer), "application/json")

    def translator(self, call: Call, target: Target) -> ReplicateStream:
        return ReplicateStream(call)

    def error(self, status: int, body: bytes) -> UpstreamError:
        # Replicate's errors are problem details: {"title", "detail", "status"}.
        data = obj(json_of(body))
        text = str(data.get("detail") or data.get("title") or data.get("error") or "")
        text = text or body_text(body) or f"Replicate returned status {status}"
        return table_error(status, text, f"replicate_{status}", _STATUSES)


def _auth(target: Target) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.channel.key}", "Content-Type": "application/json"}


def _prediction(body: bytes) -> dict[str, Any]:
    data = json_of(body)
    if not isinstance(data, dict) or not (data.get("status") or data.get("id")):
        raise bad_answer("Replicate returned something other than a prediction")
    return data


def _urls(prediction: dict[str, Any]) -> dict[str, Any]:
    urls = prediction.get("urls")
    return urls if isinstance(urls, dict) else {}


def _poll(target: Target, prediction: dict[str, Any]) -> Answer:
    urls = _urls(prediction)
    url = urls.get("get")
    if not isinstance(url, str) or not url:
        if not prediction.get("id"):
            raise bad_answer("Replicate returned a prediction without a URL to poll")
        url = f"{api_root(target)}/v1/predictions/{prediction['id']}"
    headers = _auth(target)
    headers.pop("Content-Type")
    return Answer(200, b"", "", follow=UpstreamRequest("GET", url, headers), wait=POLL_INTERVAL)


def _text(output: Any) -> str:
    """A language model's whole output: a list of text pieces, or one string."""
    if isinstance(output, list):
        return "".join(str(piece) for piece in output if piece is not None)
    return output if isinstance(output, str) else ""


def _files(output: Any) -> list[str]:
    """An image model's output: one URL or a list of them."""
    if isinstance(output, str):
        return [output]
    if isinstance(output, list):
        return [item for item in output if isinstance(item, str) and item]
    return []


def _image_file(body: bytes) -> Answer:
    answer = {"created": int(time.time()), "data": [{"b64_json": base64.b64encode(body).decode()}]}
    return Answer(200, orjson.dumps(answer), "application/json")


class ReplicateStream(LineStream):
    """A prediction's server-sent events (`output` text pieces, `error`, `done`) become OpenAI chunks."""

    def __init__(self, call: Call) -> None:
        super().__init__()
        self.writer = ChunkWriter(call, call.model, self.state, logprobs=False)
        self._event = ""
        self._data: list[str] = []

    def line(self, line: bytes) -> list[bytes]:
        if not line:
            return self._dispatch()
        if line.startswith(b":"):
            return []
        name, _, value = line.partition(b":")
        if value.startswith(b" "):
            value = value[1:]
        if name == b"event":
            self._event = value.decode("utf-8", "replace").strip()
        elif name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
        return []

    def _dispatch(self) -> list[bytes]:
        # Several data lines make one value joined by newlines: that is how a piece containing "\n" arrives.
        event, data = self._event or "message", "\n".join(self._data)
        self._event, self._data = "", []
        if self.state.error is not None or self.writer.finished:
            return []
        if event == "output":
            return self.writer.content(data) if data else []
        if event == "error":
            return self._fail(_detail(data) or "Replicate prediction failed", "replicate_failed")
        if event == "done":
            if _detail(data, "reason") == "canceled":
                return self._fail("Replicate prediction canceled", "replicate_canceled")
            return [self.writer.finish("stop")]
        return []  # logs

    def _fail(self, message: str, code: str) -> list[bytes]:
        return self.writer.error(UpstreamError(message, status_code=500, code=code, retryable=False))

    def end(self, usage: Usage | None) -> list[bytes]:
        # An event the stream ended without a blank line after; then the answer ends even if it said nothing.
        return self._dispatch() + self.writer.end(usage, finish_empty=True)


def _detail(data: str, field: str = "detail") -> str:
    """A field of an event's JSON data, or the data itself when it is plain text."""
    try:
        parsed = orjson.loads(data) if data.strip() else None
    except orjson.JSONDecodeError:
        return data.strip() if field == "detail" else ""
    if isinstance(parsed, dict):
        return str(parsed.get(field) or "")
    return data.strip() if field == "detail" and isinstance(parsed, str) else ""
