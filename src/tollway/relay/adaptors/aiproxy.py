"""AI Proxy's knowledge-base API (`/api/library/ask`): the last user message is the query to a library.

The answer's reference documents are appended to the content as a numbered markdown list, under One
API's heading, so clients see the same text as before. The library reports no token usage.
"""

from __future__ import annotations

from typing import Any

import orjson

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay import sse
from tollway.relay.adaptors.base import Adaptor, Answer, Target, UpstreamRequest
from tollway.relay.adaptors.content import text_of
from tollway.relay.adaptors.failures import body_text, json_of, misconfigured, provider_error, unsupported
from tollway.relay.adaptors.line_stream import LineStream, data_object
from tollway.relay.adaptors.openai_out import ChunkWriter, text_answer
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage

DOCUMENTS_HEADING = "\n\n参考文档：\n"  # "Reference documents:", as One API writes it
# Words of AI Proxy's error messages that say whose fault it is (its errCode values are not documented).
_AUTH_WORDS = ("key", "token", "auth", "令牌", "密钥")
_QUOTA_WORDS = ("balance", "quota", "余额", "额度")


def documents_markdown(documents: Any) -> str:
    """The reference list appended to an answer; empty without documents."""
    items = [doc for doc in documents if isinstance(doc, dict)] if isinstance(documents, list) else []
    if not items:
        return ""
    lines = [f"{number}. [{doc.get('title') or ''}]({doc.get('url') or ''})\n" for number, doc in enumerate(items, 1)]
    return DOCUMENTS_HEADING + "".join(lines)


def query_of(call: Call) -> str:
    """The question for the library: the text of the last user message."""
    for message in reversed(call.body["messages"]):
        if isinstance(message, dict) and message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def library_error(status: int, data: Any, body: bytes) -> UpstreamError:
    """An AI Proxy failure (`success: false`, `message`, `errCode`) with a status that says whose fault it is."""
    message = str(data.get("message") or "") if isinstance(data, dict) else ""
    code = data.get("errCode") if isinstance(data, dict) else None
    if not message:
        message = body_text(body) or f"AI Proxy returned status {status}"
    if status < 400 or (status == 502 and _failed(data)):
        # Sent with HTTP 200 (the pipeline reports a JSON answer to a stream request as 502): only the
        # message says whether the key, the balance or the service failed.
        lowered = message.lower()
        if any(word in lowered for word in _AUTH_WORDS):
            status = 401
        elif any(word in lowered for word in _QUOTA_WORDS):
            status = 403
        else:
            status = 502
    return provider_error(message, status, f"aiproxy_{code}" if code else f"upstream_{status}", kind="upstream_error")


def _failed(data: Any) -> bool:
    return isinstance(data, dict) and (data.get("success") is False or bool(data.get("errCode")))


class AIProxyLibraryAdaptor(Adaptor):
    """Translator between chat completions and an AI Proxy knowledge base."""

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        if call.mode is not Mode.CHAT:
            raise unsupported(f"AI Proxy Library channels serve chat completions only, not {call.path}")
        library = str(target.channel.config.get("library_id") or "").strip()
        if not library:
            raise misconfigured(f"AI Proxy Library channel {target.channel.id} has no library id (config library_id)")
        query = query_of(call)
        if not query.strip():
            raise InvalidRequest("the library is asked the last user message, and it has no text", param="messages")
        body = {"model": target.model, "query": query, "libraryId": library, "stream": call.stream}
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {target.channel.key}"}
        if call.stream:
            headers["Accept"] = "text/event-stream"
        base = (target.channel.base_url or target.type.base_url).rstrip("/")
        return UpstreamRequest("POST", base + "/api/library/ask", headers, orjson.dumps(body), stream=call.stream)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        data = json_of(body)
        if not isinstance(data, dict) or _failed(data) or not isinstance(data.get("answer"), str):
            raise library_error(status, data, body)
        text = data["answer"]
        content = text + documents_markdown(data.get("documents"))
        return Answer(status, text_answer(call, call.model, content, None), "application/json", text=text)

    def translator(self, call: Call, target: Target) -> LibraryStream:
        return LibraryStream(call)

    def error(self, status: int, body: bytes) -> UpstreamError:
        return library_error(status, json_of(body), body)


class LibraryStream(LineStream):
    """`data:{"content","finish","documents"}` events become chunks; the documents close the answer."""

    def __init__(self, call: Call) -> None:
        super().__init__()
        self.writer = ChunkWriter(call, call.model, self.state, logprobs=False)
        self._documents: Any = None

    def line(self, line: bytes) -> list[bytes]:
        data = data_object(line)
        if data is None or self.state.error is not None or self.writer.finished:
            return []
        if _failed(data):
            return self.writer.error(library_error(200, data, sse.data_of(line) or b""))
        if isinstance(data.get("model"), str) and data["model"] and not self.writer.started:
            self.writer.model = data["model"]
        content = data.get("content")
        pieces = self.writer.content(content) if isinstance(content, str) and content else []
        if data.get("documents"):
            self._documents = data["documents"]
        if data.get("finish"):
            pieces += self._finish()
        return pieces

    def _finish(self) -> list[bytes]:
        documents = documents_markdown(self._documents)
        # The reference list is not generated text: it is sent but not counted.
        pieces = [self.writer.delta({"content": documents})] if documents else []
        return [*pieces, self.writer.finish("stop")]

    def end(self, usage: Usage | None) -> list[bytes]:
        # An answer cut off still gets its documents and its finish.
        rest = self._finish() if not self.writer.finished and self.state.error is None else []
        return rest + self.writer.close(usage)
