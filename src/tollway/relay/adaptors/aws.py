"""The AWS Bedrock Claude family (channel type 33): Anthropic's Messages API through SigV4-signed InvokeModel."""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from tollway.errors import UpstreamError
from tollway.relay.adaptors import aws_sigv4
from tollway.relay.adaptors.anthropic import whole_answer
from tollway.relay.adaptors.anthropic_messages import messages_body, unsupported
from tollway.relay.adaptors.anthropic_stream import ClaudeEvents
from tollway.relay.adaptors.aws_eventstream import Decoder, Message
from tollway.relay.adaptors.base import Adaptor, Answer, StreamState, StreamTranslator, Target, UpstreamRequest
from tollway.relay.adaptors.failures import body_text, json_of, misconfigured, provider_error
from tollway.relay.adaptors.passthrough import MESSAGES
from tollway.relay.calls import Call, Mode
from tollway.relay.usage import Usage

if TYPE_CHECKING:
    from tollway.relay.inbound.calls import Inbound

BEDROCK_VERSION = "bedrock-2023-05-31"
SERVICE = "bedrock"  # the signing name of bedrock-runtime

# Anthropic model names → Bedrock model ids (docs.aws.amazon.com/bedrock/latest/userguide/model-ids.html).
MODEL_IDS = {
    "claude-instant-1.2": "anthropic.claude-instant-v1",
    "claude-2.0": "anthropic.claude-v2",
    "claude-2.1": "anthropic.claude-v2:1",
    "claude-3-haiku-20240307": "anthropic.claude-3-haiku-20240307-v1:0",
    "claude-3-sonnet-20240229": "anthropic.claude-3-sonnet-20240229-v1:0",
    "claude-3-opus-20240229": "anthropic.claude-3-opus-20240229-v1:0",
    "claude-3-5-sonnet-20240620": "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "claude-3-5-sonnet-20241022": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3-5-sonnet-latest": "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "claude-3-5-haiku-20241022": "anthropic.claude-3-5-haiku-20241022-v1:0",
    "claude-3-7-sonnet-20250219": "anthropic.claude-3-7-sonnet-20250219-v1:0",
    "claude-sonnet-4-20250514": "anthropic.claude-sonnet-4-20250514-v1:0",
    "claude-opus-4-20250514": "anthropic.claude-opus-4-20250514-v1:0",
    "claude-opus-4-1-20250805": "anthropic.claude-opus-4-1-20250805-v1:0",
    "claude-sonnet-4-5-20250929": "anthropic.claude-sonnet-4-5-20250929-v1:0",
    "claude-haiku-4-5-20251001": "anthropic.claude-haiku-4-5-20251001-v1:0",
    "claude-opus-4-5-20251101": "anthropic.claude-opus-4-5-20251101-v1:0",
}
# Cross-region inference profiles put a geography before the id (us.anthropic.…); ARNs name profiles too.
_PROFILE_PREFIXES = ("us.", "eu.", "apac.", "jp.", "au.", "ca.", "us-gov.", "global.")

# Bedrock's exception names (lower-cased) → the status Tollway answers with.
EXCEPTION_STATUS = {
    "validationexception": 400,
    "unrecognizedclientexception": 401,
    "invalidsignatureexception": 401,
    "expiredtokenexception": 401,
    "incompletesignatureexception": 401,
    "accessdeniedexception": 403,
    "resourcenotfoundexception": 404,
    "throttlingexception": 429,
    "servicequotaexceededexception": 429,
    "modelnotreadyexception": 503,
    "internalserverexception": 500,
    "modelerrorexception": 502,
    "modelstreamerrorexception": 502,
    "serviceunavailableexception": 503,
    "modeltimeoutexception": 504,
}
_AUTH_HINTS = ("signature", "security token", "access key", "credential")


def model_id(name: str) -> str:
    """The Bedrock model id of a model name; names that already look like Bedrock ids pass through."""
    if name in MODEL_IDS:
        return MODEL_IDS[name]
    bare = name
    for prefix in _PROFILE_PREFIXES:
        bare = bare.removeprefix(prefix)
    if bare.startswith("anthropic.") or name.startswith("arn:"):
        return name
    raise UpstreamError(f"model {name} has no Bedrock model id; map it to one (such as "
                        f"anthropic.claude-3-haiku-20240307-v1:0) in the channel's model mapping",
                        status_code=400, code="model_not_supported", retryable=True)


def bedrock_error(status: int, message: str, exception: str = "") -> UpstreamError:
    """An UpstreamError for a Bedrock failure, named by its exception type when known, else by its status."""
    code = EXCEPTION_STATUS.get(exception.lower())
    if code is None:
        code = {408: 504, 424: 502}.get(status, status if status >= 400 else 502)
        if status == 403 and any(hint in message.lower() for hint in _AUTH_HINTS):
            code = 401  # a bad key or signature, which Bedrock also answers with 403
        elif status == 400 and "model identifier" in message.lower():
            code = 404  # this model is not enabled for the channel's account or region; another channel may have it
    return provider_error(message or f"Bedrock returned status {status}", code, exception or f"upstream_{code}",
                          kind=exception or "upstream_error")


def _message_of(data: Any) -> tuple[str, str]:
    """(message, exception type) of a Bedrock error body such as `{"message": "..."}`."""
    if not isinstance(data, dict):
        return "", ""
    message = data.get("message") or data.get("Message") or ""
    kind = str(data.get("__type") or "").rsplit("#", 1)[-1].split(":")[0]
    return str(message), kind


def stream_failure(message: Message) -> UpstreamError | None:
    """The failure an event-stream message reports (an `exception` or `error` message), else None."""
    kind = message.headers.get(":message-type")
    if kind == "exception":
        exception = str(message.headers.get(":exception-type") or "")
        try:
            text, _ = _message_of(orjson.loads(message.payload))
        except orjson.JSONDecodeError:
            text = message.payload.decode("utf-8", "replace")
        return bedrock_error(500, text or exception, exception)
    if kind == "error":
        code = str(message.headers.get(":error-code") or "")
        return bedrock_error(500, str(message.headers.get(":error-message") or code), code)
    return None


class BedrockStream(StreamTranslator):
    """Decodes InvokeModelWithResponseStream's binary events; each chunk holds one Anthropic event in base64."""

    def __init__(self, call: Call, model: str) -> None:
        self.state = StreamState()
        self.events = ClaudeEvents(call, model, self.state)
        self._decoder = Decoder()

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        for message in self._decoder.feed(data):
            out.extend(self._message(message))
        return out

    def _message(self, message: Message) -> list[bytes]:
        kind = message.headers.get(":message-type")
        if kind == "event":
            if message.headers.get(":event-type") != "chunk":
                return []
            try:
                event = orjson.loads(base64.b64decode(orjson.loads(message.payload)["bytes"], validate=True))
            except (orjson.JSONDecodeError, binascii.Error, KeyError, TypeError) as exc:
                return self.events.fail(UpstreamError(f"Bedrock sent an unreadable chunk: {exc!r}", status_code=502,
                                                      code="bad_upstream_stream", retryable=True))
            return self.events.event(event) if isinstance(event, dict) else []
        error = stream_failure(message)
        return self.events.fail(error) if error is not None else []

    def close(self, usage: Usage | None) -> list[bytes]:
        return self.events.close(usage)


class AwsAdaptor(Adaptor):
    """Translator for Bedrock's InvokeModel API with Claude models."""

    inline_images = True  # Bedrock takes base64 images only

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock

    @staticmethod
    def account(target: Target) -> tuple[str, aws_sigv4.Credentials | None, str]:
        """(region, signing credentials, Bedrock API key): config region/ak/sk, or a key `ak|sk|region`."""
        config, key = target.channel.config, target.channel.key.strip()
        region, ak, sk = (str(config.get(name) or "").strip() for name in ("region", "ak", "sk"))
        token = str(config.get("session_token") or "").strip()
        if not (ak and sk) and key.count("|") >= 2:
            ak, sk, key_region = (part.strip() for part in key.split("|")[:3])
            region = region or key_region
        if not region:
            raise misconfigured("this AWS channel has no region in its config")
        if ak and sk:
            return region, aws_sigv4.Credentials(ak, sk, token), ""
        if key.startswith(("ABSK", "bedrock-api-key-")):
            return region, None, key  # a Bedrock API key, sent as a bearer token
        raise misconfigured("this AWS channel needs ak and sk in its config")

    def request(self, call: Call, target: Target) -> UpstreamRequest:
        if call.mode is not Mode.CHAT:
            raise unsupported(call.path)
        region, credentials, api_key = self.account(target)
        channel = target.channel
        body = messages_body(call, target.model)
        # Bedrock names the model in the URL and the operation, and refuses keys it does not know.
        for name in ("model", "stream", "metadata"):
            body.pop(name, None)
        body = {"anthropic_version": BEDROCK_VERSION, **body}
        content = orjson.dumps(body)
        base = (channel.base_url or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
        operation = "invoke-with-response-stream" if call.stream else "invoke"
        url = f"{base}/model/{quote(model_id(target.model), safe=':')}/{operation}"
        headers = {"Content-Type": "application/json",
                   "Accept": "application/vnd.amazon.eventstream" if call.stream else "application/json"}
        headers = self.authorized(url, headers, content, region, credentials, api_key)
        return UpstreamRequest("POST", url, headers, content, stream=call.stream)

    def authorized(self, url: str, headers: dict[str, str], content: bytes, region: str,
                   credentials: aws_sigv4.Credentials | None, api_key: str) -> dict[str, str]:
        """The headers with the request's authorization: a SigV4 signature, or the Bedrock API key."""
        if credentials is None:
            return {**headers, "Authorization": f"Bearer {api_key}"}
        return aws_sigv4.sign("POST", url, headers, content, credentials, region=region, service=SERVICE,
                              now=self.clock())

    def native(self, inbound: Inbound, target: Target) -> Adaptor | None:
        if inbound.api != MESSAGES:
            return None
        # Imported here: the passthrough builds on this module's reading of Bedrock.
        from tollway.relay.adaptors.bedrock_native import BedrockNative

        return BedrockNative(self)

    def answer(self, call: Call, target: Target, status: int, media_type: str, body: bytes) -> Answer:
        return whole_answer(call, status, body, target.model)

    def translator(self, call: Call, target: Target) -> BedrockStream:
        return BedrockStream(call, target.model)

    def error(self, status: int, body: bytes) -> UpstreamError:
        message, exception = _message_of(json_of(body))
        if not message:
            text = body_text(body)
            message = f"Bedrock returned status {status}" + (f": {text}" if text else "")
        return bedrock_error(status, message, exception)
