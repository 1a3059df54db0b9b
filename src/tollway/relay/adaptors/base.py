"""The adaptor contract: pure translation between OpenAI's format and one provider family.

An adaptor never does I/O. The relay pipeline asks it for the upstream request (and, where a provider
needs one, for a credential exchange), sends it over HTTP or a WebSocket, and hands the answer (whole,
or chunk by chunk for a stream) back to it for translation. An answer may ask for a follow-up request
(polling an asynchronous task); the pipeline sends it after the given wait.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tollway.errors import UpstreamError
from tollway.relay.adaptors.failures import upstream_error
from tollway.relay.calls import Call
from tollway.relay.usage import Usage
from tollway.routing.channel_types import ChannelType
from tollway.storage.cache import ChannelEntry

if TYPE_CHECKING:
    from tollway.relay.inbound.calls import Inbound


@dataclass(frozen=True, slots=True)
class Target:
    """Where one attempt goes: the channel, its type, the model name the upstream sees, and a credential."""

    channel: ChannelEntry
    type: ChannelType
    model: str
    # A token obtained through the adaptor's credential exchange (Baidu access token, Vertex OAuth token).
    credential: str = ""
    # The `note` of the request whose answer is being translated (state carried across follow-ups).
    note: Mapping[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class UpstreamRequest:
    """A request for the pipeline to send."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes = b""
    # Read the answer as a stream (fed to the adaptor's translator) rather than whole.
    stream: bool = False
    # "http", or "websocket": connect to `url` and send `frames`; every received message is a stream chunk.
    transport: str = "http"
    frames: list[str] = field(default_factory=list)
    # True when the channel's system prompt replaced or was added to the client's (logged as One API does).
    system_prompt_reset: bool = False
    # Anything the adaptor wants back with this request's answer (as `target.note`), e.g. what an
    # earlier poll of an asynchronous task found.
    note: Mapping[str, Any] = field(default_factory=dict)
    # Seconds the whole exchange may take (balance queries); None keeps the transport's RELAY_TIMEOUT.
    timeout: float | None = None


@dataclass(frozen=True)
class Exchange:
    """A credential the adaptor needs first: the request that obtains it and how to read the answer."""

    # Cache key: one credential per distinct upstream key (include the channel id and a key digest).
    key: str
    request: UpstreamRequest
    # (token, lifetime in seconds) from the exchange's status and body; raises UpstreamError on failure.
    read: Callable[[int, bytes], tuple[str, float]]


@dataclass(slots=True)
class Answer:
    """A whole upstream answer, translated for the client (OpenAI JSON for chat and completions)."""

    status: int
    content: bytes
    media_type: str
    usage: Usage | None = None
    # The completion's text, for counting tokens locally when the upstream reported no usage.
    text: str = ""
    # Text of a transcription, billed by its token count.
    transcript: str | None = None
    # Not done yet: send this request after `wait` seconds and translate its answer instead.
    follow: UpstreamRequest | None = None
    wait: float = 0.0


@dataclass(slots=True)
class StreamState:
    """What a stream translator has learned so far."""

    usage: Usage | None = None
    text: list[str] = field(default_factory=list)
    error: UpstreamError | None = None
    finished: bool = False


class StreamTranslator:
    """Turns the upstream's stream bytes into OpenAI SSE bytes, chunk by chunk."""

    state: StreamState

    def feed(self, data: bytes) -> list[bytes]:
        """Bytes to send to the client for this piece of upstream stream."""
        raise NotImplementedError

    def close(self, usage: Usage | None) -> list[bytes]:
        """The stream's last bytes (a usage chunk when one is owed, then `data: [DONE]`)."""
        raise NotImplementedError

    def text(self) -> str:
        """The text generated so far, for counting tokens when the upstream reports no usage."""
        return "".join(self.state.text)


class Adaptor:
    """Translator for one provider family; subclasses override what their provider needs."""

    # Image URLs in chat messages are fetched and inlined as data URLs before `request` is called.
    inline_images: bool = False

    def credential(self, target: Target) -> Exchange | None:
        """The credential exchange this target needs before its request, if any."""
        return None

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        """The upstream request for a call."""
        raise NotImplementedError

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        """Translate a whole successful answer; raises UpstreamError when the body is an error."""
        raise NotImplementedError

    def translator(self, call: Call, target: Target) -> StreamTranslator:
        """A fresh translator for one streamed answer."""
        raise NotImplementedError

    def error(self, status: int, body: bytes) -> UpstreamError:
        """Translate a failed answer (status ≥ 400, or an error body) into an UpstreamError."""
        return upstream_error(status, body)

    def native(self, inbound: Inbound, target: Target) -> Adaptor | None:
        """The adaptor that passes a call of another API (relay/inbound) through as the client sent it, when this
        target speaks that API (adaptors/passthrough.py); None when the call is translated to OpenAI chat."""
        return None
