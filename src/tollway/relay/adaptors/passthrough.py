"""Passing a client's own request through to a channel that speaks the client's API (Anthropic, Responses, Gemini).

A client of another API than OpenAI's chat (relay/inbound) reaches a channel of its own kind without translation:
its body goes upstream with only the model mapped, and the answer comes back as the provider wrote it, while
the usage is read on the way for the bill. Like every adaptor, these only build requests and read answers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import orjson

from tollway.errors import UpstreamError
from tollway.relay import sse
from tollway.relay.adaptors.base import Adaptor, Exchange, StreamState, StreamTranslator, Target
from tollway.relay.adaptors.line_stream import data_object
from tollway.relay.calls import Call
from tollway.relay.usage import Usage

if TYPE_CHECKING:
    from tollway.relay.inbound.calls import Inbound

# The inbound APIs, as `Inbound.api` names them (and the consume log records them).
MESSAGES = "anthropic"
RESPONSES = "responses"
GEMINI = "gemini"


def inbound_of(call: Call) -> Inbound:
    """The client's own request of a call from another API (passthrough adaptors serve no other calls)."""
    inbound = call.inbound
    if inbound is None:
        raise TypeError("a passthrough adaptor was given an OpenAI call")
    return inbound


def mapped_body(inbound: Inbound, model: str | None, *, drop: Iterable[str] = (),
                extra: dict[str, Any] | None = None) -> bytes:
    """The client's body with the model mapped (`None`: the model is named elsewhere and dropped from the body).

    `drop` names fields the upstream refuses, `extra` fields it needs (they win over the client's). The client's
    bytes go as they came whenever nothing has to change.
    """
    body = inbound.body
    dropped = [name for name in drop if name in body]
    if model is None and "model" in body:
        dropped.append("model")
    renamed = model is not None and body.get("model") != model
    if not (dropped or renamed or extra):
        return inbound.raw
    added = extra or {}
    changed = {**added, **{name: value for name, value in body.items() if name not in dropped and name not in added}}
    if renamed:
        changed["model"] = model
    return orjson.dumps(changed)


class Passthrough(Adaptor):
    """An adaptor that sends the client's own request to a channel of its API, on behalf of the family's adaptor."""

    # The body is the client's: nothing in it is rewritten, images included.
    inline_images = False

    def __init__(self, family: Adaptor) -> None:
        # The channel family's own adaptor: its credential exchange and its reading of error bodies hold here too.
        self.family = family

    def credential(self, target: Target) -> Exchange | None:
        return self.family.credential(target)

    def error(self, status: int, body: bytes) -> UpstreamError:
        return self.family.error(status, body)


class HeldStream(StreamTranslator):
    """Relays a stream as it comes, holding its opening events until the upstream says more.

    An error the upstream sends before anything but the opening (message_start, response.created) is then still a
    failure the pipeline may retry on another channel; after that the stream goes out byte for byte.
    """

    def __init__(self) -> None:
        self.state = StreamState()
        # Something more than the opening came (before any error): the stream goes out from here on.
        self.sent = False
        self._held: list[bytes] = []

    def read(self, event: dict[str, Any]) -> bool:
        """Take note of one event (usage, text, an error, the end); True for an opening event that may be held."""
        raise NotImplementedError

    def note(self, event: dict[str, Any]) -> None:
        """Read one event, in the order events came (an error after content is the client's to hear)."""
        if not self.read(event) and self.state.error is None:
            self.sent = True

    def relay(self, data: bytes) -> list[bytes]:
        """What to send of `data`: nothing while only opening events came (or an error came first), else all so far."""
        if self.sent:
            if self._held:
                data = b"".join([*self._held, data])
                self._held = []
            return [data]
        if self.state.error is not None:
            self._held = []  # nothing was sent: the pipeline may still try another channel
        else:
            self._held.append(data)
        return []

    def close(self, usage: Usage | None) -> list[bytes]:
        held, self._held = self._held, []
        return [b"".join(held)] if held and self.state.error is None else []


class EventStream(HeldStream):
    """An SSE stream relayed byte for byte; the JSON object of each `data:` line is read."""

    def __init__(self) -> None:
        super().__init__()
        self._lines = sse.LineSplitter()

    def feed(self, data: bytes) -> list[bytes]:
        for line in self._lines.feed(data):
            event = data_object(line)
            if event is not None:
                self.note(event)
        return self.relay(data)

    def close(self, usage: Usage | None) -> list[bytes]:
        for line in self._lines.close():  # a last line without its newline
            event = data_object(line)
            if event is not None:
                self.note(event)
        return super().close(usage)
