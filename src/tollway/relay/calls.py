"""What a client asked the relay for: the mode, the model and the validated request body."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from tollway.billing import prices
from tollway.errors import InvalidRequest


class Mode(enum.StrEnum):
    CHAT = "chat"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    MODERATIONS = "moderations"
    IMAGES = "images"
    SPEECH = "speech"
    TRANSCRIPTION = "transcription"
    TRANSLATION = "translation"


PATHS: dict[Mode, str] = {
    Mode.CHAT: "/v1/chat/completions",
    Mode.COMPLETIONS: "/v1/completions",
    Mode.EMBEDDINGS: "/v1/embeddings",
    Mode.MODERATIONS: "/v1/moderations",
    Mode.IMAGES: "/v1/images/generations",
    Mode.SPEECH: "/v1/audio/speech",
    Mode.TRANSCRIPTION: "/v1/audio/transcriptions",
    Mode.TRANSLATION: "/v1/audio/translations",
}

# One API's defaults when a client leaves the model out of these calls.
DEFAULT_MODELS: dict[Mode, str] = {
    Mode.MODERATIONS: "text-moderation-stable",
    Mode.IMAGES: "dall-e-2",
    Mode.TRANSCRIPTION: "whisper-1",
    Mode.TRANSLATION: "whisper-1",
}

MAX_SPEECH_INPUT = 4096


@dataclass(slots=True)
class Upload:
    """One file of a multipart request."""

    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass(slots=True)
class Call:
    """One client request, parsed once and validated."""

    mode: Mode
    model: str
    raw: bytes
    content_type: str
    body: dict[str, Any] = field(default_factory=dict)
    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[Upload] = field(default_factory=list)
    # The prompt's exact token count, once something needed it (see billing/tokenizer.prompt_bound).
    prompt_tokens: int | None = None

    @property
    def path(self) -> str:
        return PATHS[self.mode]

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    @property
    def wants_usage(self) -> bool:
        """The client asked for a usage chunk at the end of the stream."""
        options = self.body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True

    @property
    def max_tokens(self) -> int:
        for name in ("max_completion_tokens", "max_tokens"):
            value = self.body.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return 0


def _check_type(body: dict[str, Any], name: str, kinds: tuple[type, ...], what: str) -> None:
    if name in body and body[name] is not None:
        value = body[name]
        if isinstance(value, bool) and bool not in kinds:
            raise InvalidRequest(f"'{name}' must be {what}", param=name)
        if not isinstance(value, kinds):
            raise InvalidRequest(f"'{name}' must be {what}", param=name)


def parse_json(mode: Mode, raw: bytes, *, path_model: str = "") -> Call:
    """Parse and validate a JSON relay request; raises InvalidRequest with a message that says what is wrong."""
    if not raw.strip():
        raise InvalidRequest("request body is empty; send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequest("request body must be a JSON object")
    if not body.get("model") and (path_model or mode in DEFAULT_MODELS):
        body["model"] = path_model or DEFAULT_MODELS[mode]
        # The upstream must see the model the client left out, so the body is encoded again.
        raw = orjson.dumps(body)
    model = body.get("model")
    if model is None or model == "":
        raise InvalidRequest("'model' is required", param="model")
    if not isinstance(model, str):
        raise InvalidRequest("'model' must be a string", param="model")
    _check_type(body, "stream", (bool,), "a boolean")
    _check_type(body, "max_tokens", (int,), "an integer")
    _check_type(body, "max_completion_tokens", (int,), "an integer")
    _check_type(body, "n", (int,), "an integer")
    _check_type(body, "temperature", (int, float), "a number")
    _check_type(body, "top_p", (int, float), "a number")
    _check_type(body, "stream_options", (dict,), "an object")
    _VALIDATORS[mode](body)
    return Call(mode=mode, model=model, raw=raw, content_type="application/json", body=body)


def _chat(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidRequest(f"messages[{index}] must be an object with a string 'role'", param="messages")
    _check_type(body, "tools", (list,), "an array")


def _completions(body: dict[str, Any]) -> None:
    if "prompt" in body and not isinstance(body["prompt"], str | list):
        raise InvalidRequest("'prompt' must be a string or an array", param="prompt")


def _needs_input(body: dict[str, Any]) -> None:
    if not isinstance(body.get("input"), str | list) or body.get("input") in ("", []):
        raise InvalidRequest("'input' is required and must be a string or an array", param="input")


def _images(body: dict[str, Any]) -> None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("'prompt' is required", param="prompt")
    body.setdefault("n", 1)
    body.setdefault("size", "1024x1024")
    model = body["model"]
    sizes = prices.IMAGE_SIZE_RATIO.get(model)
    if sizes is not None and body["size"] not in sizes:
        raise InvalidRequest(f"size {body['size']!r} is not supported by {model}; use one of {', '.join(sizes)}",
                             param="size")
    low, high = prices.IMAGE_N_RANGE.get(model, (1, 10))
    if not isinstance(body["n"], int) or not low <= body["n"] <= high:
        raise InvalidRequest(f"'n' must be between {low} and {high} for {model}", param="n")
    limit = prices.IMAGE_PROMPT_LIMIT.get(model)
    if limit is not None and len(prompt) > limit:
        raise InvalidRequest(f"prompt is longer than the {limit} characters {model} accepts", param="prompt")


def _speech(body: dict[str, Any]) -> None:
    text = body.get("input")
    if not isinstance(text, str) or not text:
        raise InvalidRequest("'input' is required", param="input")
    if len(text) > MAX_SPEECH_INPUT:
        raise InvalidRequest(f"'input' is longer than {MAX_SPEECH_INPUT} characters", param="input")


_VALIDATORS = {
    Mode.CHAT: _chat,
    Mode.COMPLETIONS: _completions,
    Mode.EMBEDDINGS: _needs_input,
    Mode.MODERATIONS: _needs_input,
    Mode.IMAGES: _images,
    Mode.SPEECH: _speech,
}


async def parse_multipart(mode: Mode, raw: bytes, content_type: str) -> Call:
    """Parse an audio upload (multipart/form-data) into fields and files."""
    if not content_type.startswith("multipart/form-data"):
        raise InvalidRequest("send the audio as multipart/form-data with a 'file' field")

    async def chunks() -> Any:
        yield raw

    headers = Headers({"content-type": content_type})
    try:
        form = await MultiPartParser(headers, chunks(), max_part_size=len(raw) + 1).parse()
    except MultiPartException as exc:
        raise InvalidRequest(f"malformed multipart body: {exc.message}") from exc
    fields: list[tuple[str, str]] = []
    files: list[Upload] = []
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            data = await value.read()
            files.append(Upload(name, value.filename or "audio", value.content_type or "application/octet-stream",
                                data))
        else:
            fields.append((name, value))
    if not any(upload.field == "file" for upload in files):
        raise InvalidRequest("'file' is required", param="file")
    model = next((value for name, value in fields if name == "model"), "") or DEFAULT_MODELS[mode]
    return Call(mode=mode, model=model, raw=raw, content_type=content_type, fields=fields, files=files,
                body={name: value for name, value in fields})
