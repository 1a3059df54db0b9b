"""What a client asked the relay for: the mode, the model and the validated request body."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from starlette.datastructures import Headers, UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from tollway.billing import prices
from tollway.errors import InvalidRequest
from tollway.json_objects import body_object
from tollway.relay import call_fields as checks

if TYPE_CHECKING:
    from tollway.relay.inbound.calls import Inbound


class Mode(enum.StrEnum):
    CHAT = "chat"
    COMPLETIONS = "completions"
    EMBEDDINGS = "embeddings"
    MODERATIONS = "moderations"
    IMAGES = "images"
    SPEECH = "speech"
    TRANSCRIPTION = "transcription"
    TRANSLATION = "translation"
    RERANK = "rerank"  # Cohere/Jina-style document ranking (FastGPT's knowledge base)


PATHS: dict[Mode, str] = {
    Mode.CHAT: "/v1/chat/completions",
    Mode.COMPLETIONS: "/v1/completions",
    Mode.EMBEDDINGS: "/v1/embeddings",
    Mode.MODERATIONS: "/v1/moderations",
    Mode.IMAGES: "/v1/images/generations",
    Mode.SPEECH: "/v1/audio/speech",
    Mode.TRANSCRIPTION: "/v1/audio/transcriptions",
    Mode.TRANSLATION: "/v1/audio/translations",
    Mode.RERANK: "/v1/rerank",
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
    # Set when the client spoke another API (Anthropic Messages, Responses, Gemini): this call is its translation.
    inbound: Inbound | None = None
    # Tollway: the stream ends with a usage chunk whether or not the client asked (the admin key, StreamUsageAlways).
    usage_owed: bool = False

    @property
    def path(self) -> str:
        return PATHS[self.mode]

    @property
    def stream(self) -> bool:
        return self.body.get("stream") is True

    @property
    def wants_usage(self) -> bool:
        """The stream owes the client a usage chunk at its end."""
        return self.usage_owed or self.asked_usage

    @property
    def asked_usage(self) -> bool:
        """The client's body asks for the usage chunk (`stream_options.include_usage`)."""
        options = self.body.get("stream_options")
        return isinstance(options, dict) and options.get("include_usage") is True

    @property
    def max_tokens(self) -> int:
        for name in ("max_completion_tokens", "max_tokens"):
            value = self.body.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
        return 0


def with_system_prompt(call: Call, prompt: str) -> Call:
    """The chat call with a channel's system prompt: it replaces the first system message's content, or goes first."""
    messages = call.body["messages"]
    if messages and isinstance(messages[0], dict) and messages[0].get("role") == "system":
        messages = [{**messages[0], "content": prompt}, *messages[1:]]
    else:
        messages = [{"role": "system", "content": prompt}, *messages]
    body = {**call.body, "messages": messages}
    return dataclasses.replace(call, body=body, raw=orjson.dumps(body))


def parse_json(mode: Mode, raw: bytes, *, path_model: str = "") -> Call:
    """Parse and validate a JSON relay request; raises InvalidRequest with a message that says what is wrong."""
    body = body_object(raw)
    if not body.get("model") and (path_model or mode in DEFAULT_MODELS):
        body["model"] = path_model or DEFAULT_MODELS[mode]
        # The upstream must see the model the client left out, so the body is encoded again.
        raw = orjson.dumps(body)
    model = body.get("model")
    if model is None or model == "":
        raise InvalidRequest("'model' is required", param="model")
    if not isinstance(model, str):
        raise InvalidRequest("'model' must be a string", param="model")
    checks.common(body)
    _VALIDATORS[mode](body)
    return Call(mode=mode, model=model, raw=raw, content_type="application/json", body=body)


def _chat(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    for index, message in enumerate(messages):
        checks.message(message, index)
    checks.tools(body)
    checks.kind(body, "tool_choice", lambda v: isinstance(v, str | dict), "a string or an object")
    checks.kind(body, "response_format", lambda v: isinstance(v, dict), "an object")
    checks.kind(body, "stop", checks.strings, "a string or an array of strings")


def _completions(body: dict[str, Any]) -> None:
    if "prompt" in body and body["prompt"] != "" and not checks.token_lists(body["prompt"]):
        raise InvalidRequest("'prompt' must be a string, an array of strings or an array of token ids", param="prompt")
    checks.positive(body, "best_of", checks.MAX_CHOICES)
    checks.kind(body, "stop", checks.strings, "a string or an array of strings")


def _embeddings(body: dict[str, Any]) -> None:
    if body.get("input") == "" or not checks.token_lists(body.get("input")):
        raise InvalidRequest("'input' is required: a string, an array of strings or an array of token ids",
                             param="input")
    checks.positive(body, "dimensions")
    checks.kind(body, "encoding_format", checks.string, "a string")


def _moderations(body: dict[str, Any]) -> None:
    value = body.get("input")
    if value in ("", []) or not checks.strings(value):
        raise InvalidRequest("'input' is required and must be a string or an array of strings", param="input")


def _images(body: dict[str, Any]) -> None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise InvalidRequest("'prompt' is required", param="prompt")
    checks.kind(body, "size", checks.string, "a string such as \"1024x1024\"")
    for name in ("quality", "style", "response_format"):
        checks.kind(body, name, checks.string, "a string")
    body.setdefault("n", 1)
    body.setdefault("size", "1024x1024")
    model = body["model"]
    sizes = prices.IMAGE_SIZE_RATIO.get(model)
    if sizes is not None and body["size"] not in sizes:
        raise InvalidRequest(f"size {body['size']!r} is not supported by {model}; use one of {', '.join(sizes)}",
                             param="size")
    low, high = prices.IMAGE_N_RANGE.get(model, (1, 10))
    if not checks.is_int(body["n"]) or not low <= body["n"] <= high:
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
    for name in ("voice", "response_format", "instructions"):
        checks.kind(body, name, checks.string, "a string")
    checks.kind(body, "speed", lambda v: checks.is_number(v) and 0.25 <= v <= 4.0, "a number from 0.25 to 4.0")


def _rerank(body: dict[str, Any]) -> None:
    query = body.get("query")
    if not isinstance(query, str) or not query:
        raise InvalidRequest("'query' is required", param="query")
    documents = body.get("documents")
    if not isinstance(documents, list) or not documents or not all(
            isinstance(d, str) or (isinstance(d, dict) and isinstance(d.get("text"), str)) for d in documents):
        raise InvalidRequest("'documents' must be a non-empty array of strings (or of objects with a 'text')",
                             param="documents")
    checks.positive(body, "top_n")
    checks.kind(body, "return_documents", lambda v: isinstance(v, bool), "true or false")


_VALIDATORS = {
    Mode.CHAT: _chat,
    Mode.COMPLETIONS: _completions,
    Mode.EMBEDDINGS: _embeddings,
    Mode.MODERATIONS: _moderations,
    Mode.IMAGES: _images,
    Mode.SPEECH: _speech,
    Mode.RERANK: _rerank,
}


def _multipart_fields(fields: list[tuple[str, str]]) -> None:
    """The form fields Tollway reads: one model, and a temperature that is a number."""
    names = [name for name, _ in fields]
    if names.count("model") > 1:
        raise InvalidRequest("'model' is given more than once", param="model")
    for name, value in fields:
        if name == "temperature":
            try:
                float(value)
            except ValueError:
                raise InvalidRequest("'temperature' must be a number", param="temperature") from None


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
    uploads = [upload.field for upload in files]
    if uploads.count("file") != 1:
        raise InvalidRequest("send exactly one 'file'" if uploads.count("file") else "'file' is required", param="file")
    for upload in uploads:
        if upload != "file":
            raise InvalidRequest(f"'{upload}' must be a text field, not a file", param=upload)
    _multipart_fields(fields)
    model = next((value for name, value in fields if name == "model"), "") or DEFAULT_MODELS[mode]
    return Call(mode=mode, model=model, raw=raw, content_type=content_type, fields=fields, files=files,
                body={name: value for name, value in fields})
