"""The Bedrock adaptor as pure translation: SigV4 on AWS's vectors, event-stream decoding, requests, streams, errors."""

from __future__ import annotations

import base64
import datetime
import json
import unittest.mock
from typing import Any

import pytest

from tests.upstreams.aws_mock import chunk_frame, exception_frame, frame
from tollway.errors import UpstreamError
from tollway.relay.adaptors import aws_sigv4
from tollway.relay.adaptors.aws import AwsAdaptor, model_id
from tollway.relay.adaptors.aws_eventstream import Decoder
from tollway.relay.adaptors.base import Target
from tollway.relay.calls import Call, Mode, parse_json
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

# -- SigV4 on AWS's published vectors ---------------------------------------------------------------------------

EXAMPLE = aws_sigv4.Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
SUITE_TIME = 1440938160  # 2015-08-30T12:36:00Z, the SigV4 test suite's clock


def test_signing_key_vector() -> None:
    # AWS General Reference, "Examples of how to derive a signing key for Signature Version 4".
    key = aws_sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


@pytest.mark.parametrize("method,url,signature", [
    # aws-sig-v4-test-suite: get-vanilla, post-vanilla, get-vanilla-query-order-key-case.
    ("GET", "https://example.amazonaws.com/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("POST", "https://example.amazonaws.com/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("GET", "https://example.amazonaws.com/?Param2=value2&Param1=value1",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
])
def test_sigv4_test_suite(method: str, url: str, signature: str) -> None:
    headers = aws_sigv4.sign(method, url, {}, b"", EXAMPLE, region="us-east-1", service="service", now=SUITE_TIME)
    assert headers["X-Amz-Date"] == "20150830T123600Z" and headers["Host"] == "example.amazonaws.com"
    assert headers["Authorization"] == ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                                        f"aws4_request, SignedHeaders=host;x-amz-date, Signature={signature}")


def test_host_header_is_what_the_client_sends() -> None:
    assert aws_sigv4.host_of("https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke") == \
        "bedrock-runtime.us-east-1.amazonaws.com"
    assert aws_sigv4.host_of("https://h.example:443/a") == "h.example"
    assert aws_sigv4.host_of("http://127.0.0.1:8123/a") == "127.0.0.1:8123"


def test_signer_agrees_with_botocore_on_a_bedrock_request() -> None:
    auth = pytest.importorskip("botocore.auth")
    awsrequest = pytest.importorskip("botocore.awsrequest")
    botocredentials = pytest.importorskip("botocore.credentials")
    url = "https://bedrock-runtime.eu-west-3.amazonaws.com/model/anthropic.claude-3-haiku-20240307-v1:0/invoke"
    body = b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[]}'
    session = aws_sigv4.Credentials("AKIAEXAMPLE", "secret/key+1", "session-token")
    mine = aws_sigv4.sign("POST", url, {"Content-Type": "application/json", "Accept": "application/json"}, body,
                          session, region="eu-west-3", service="bedrock", now=SUITE_TIME)
    request = awsrequest.AWSRequest("POST", url, data=body, headers={
        "Content-Type": "application/json", "Accept": "application/json", "X-Amz-Date": mine["X-Amz-Date"]})
    signer = auth.SigV4Auth(botocredentials.Credentials("AKIAEXAMPLE", "secret/key+1", "session-token"),
                            "bedrock", "eu-west-3")
    # botocore's add_auth reads its own clock: pin it to the time Tollway signed at.
    moment = datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.UTC)
    with unittest.mock.patch("botocore.auth.get_current_datetime", return_value=moment):
        signer.add_auth(request)
    assert request.headers["Authorization"] == mine["Authorization"]


# -- event-stream decoding on AWS's published vectors (aws-event-stream / botocore test cases) ---------------------

ALL_HEADER_TYPES = (b"\x00\x00\x00\x62\x00\x00\x00\x52\x03\xb5\xcb\x9c"
                    b"\x010\x00" b"\x011\x01" b"\x012\x02\x02" b"\x013\x03\x00\x03" b"\x014\x04\x00\x00\x00\x04"
                    b"\x015\x05\x00\x00\x00\x00\x00\x00\x00\x05" b"\x016\x06\x00\x05bytes" b"\x017\x07\x00\x04utf8"
                    b"\x018\x08\x00\x00\x00\x00\x00\x00\x00\x08" b"\x019\x090123456789abcdef"
                    b"\x63\x35\x36\x71")
ONE_HEADER_AND_PAYLOAD = (b"\x00\x00\x00\x3d\x00\x00\x00\x20\x07\xfd\x83\x96"
                          b"\x0ccontent-type\x07\x00\x10application/json{'foo':'bar'}\x8d\x9c\x08\xb1")
EMPTY = b"\x00\x00\x00\x10\x00\x00\x00\x00\x05\xc2\x48\xeb\x7d\x98\xc8\xff"


def test_decodes_every_header_type() -> None:
    (message,) = Decoder().feed(ALL_HEADER_TYPES)
    assert message.payload == b""
    assert message.headers == {"0": True, "1": False, "2": 2, "3": 3, "4": 4, "5": 5, "6": b"bytes", "7": "utf8",
                               "8": 8, "9": "30313233-3435-3637-3839-616263646566"}


def test_decodes_messages_split_anywhere_and_run_together() -> None:
    stream = EMPTY + ONE_HEADER_AND_PAYLOAD + EMPTY
    decoder = Decoder()
    messages = []
    for index in range(len(stream)):
        messages += decoder.feed(stream[index:index + 1])
    assert [(m.headers, m.payload) for m in messages] == [
        ({}, b""), ({"content-type": "application/json"}, b"{'foo':'bar'}"), ({}, b"")]
    assert decoder.pending == 0
    assert len(Decoder().feed(stream)) == 3


@pytest.mark.parametrize("corrupted", [
    b"\x01\x00\x00\x1d\x00\x00\x00\x00\xfd\x52\x8c\x5a{'foo':'bar'}\xc3\x65\x39\x36",  # length (prelude CRC)
    b"\x00\x00\x00\x1d\x00\x00\x00\x00\xfd\x52\x8c\x5a{'foo':'bar'\x8d\xc3\x65\x39\x36",  # payload (message CRC)
    b"\x00\x00\x00\x3d\xff\x00\x01\x02\x15\x83\xf5\xc2\x0ccontent-type\x07\x00\x10application/json{'foo':'bar'}"
    b"\x2f\x37\x7f\x5d",  # headers length larger than the message
])
def test_corrupted_messages_are_upstream_errors(corrupted: bytes) -> None:
    with pytest.raises(UpstreamError) as caught:
        Decoder().feed(corrupted)
    assert caught.value.status_code == 502 and caught.value.retryable


def test_mock_frames_are_what_botocore_reads() -> None:
    eventstream = pytest.importorskip("botocore.eventstream")
    buffer = eventstream.EventStreamBuffer()
    buffer.add_data(chunk_frame({"type": "ping"}))
    (message,) = list(buffer)
    assert message.headers[":event-type"] == "chunk"
    assert base64.b64decode(json.loads(message.payload)["bytes"]) == b'{"type": "ping"}'


# -- requests ----------------------------------------------------------------------------------------------------

CONFIG = {"region": "us-west-2", "ak": "AKIAEXAMPLE", "sk": "secret"}


def target(model: str = "claude-3-5-sonnet-20241022", base_url: str = "", config: dict[str, Any] | None = None,
           key: str = "unused", **extra: Any) -> Target:
    fields: dict[str, Any] = {
        "id": 1, "type": 33, "key": key, "status": 1, "name": "c", "weight": 0, "priority": 0, "base_url": base_url,
        "models": [], "groups": ["default"], "model_mapping": {}, "config": CONFIG if config is None else config,
        "system_prompt": "", **extra,
    }
    return Target(ChannelEntry(**fields), channel_types.get(33), model)


def chat(**body: Any) -> Call:
    body.setdefault("model", "claude-3-5-sonnet-20241022")
    body.setdefault("messages", [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])
    return parse_json(Mode.CHAT, json.dumps(body).encode())


ADAPTOR = AwsAdaptor(clock=lambda: SUITE_TIME)


@pytest.mark.parametrize("name,expected", [
    ("claude-3-5-sonnet-20241022", "anthropic.claude-3-5-sonnet-20241022-v2:0"),
    ("claude-3-haiku-20240307", "anthropic.claude-3-haiku-20240307-v1:0"),
    ("claude-3-7-sonnet-20250219", "anthropic.claude-3-7-sonnet-20250219-v1:0"),
    ("claude-sonnet-4-20250514", "anthropic.claude-sonnet-4-20250514-v1:0"),
    ("anthropic.claude-opus-4-1-20250805-v1:0", "anthropic.claude-opus-4-1-20250805-v1:0"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", "us.anthropic.claude-sonnet-4-20250514-v1:0"),
])
def test_model_ids(name: str, expected: str) -> None:
    assert model_id(name) == expected


def test_unknown_model_fails_over() -> None:
    with pytest.raises(UpstreamError) as caught:
        model_id("gpt-4o")
    assert caught.value.status_code == 400 and caught.value.retryable


def test_invoke_request() -> None:
    request = ADAPTOR.request(chat(user="u-1"), target())
    assert request.url == ("https://bedrock-runtime.us-west-2.amazonaws.com/model/"
                           "anthropic.claude-3-5-sonnet-20241022-v2:0/invoke")
    assert request.stream is False
    assert json.loads(request.content) == {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 4096,
                                           "messages": [{"role": "user", "content": "hi"}], "system": "Be brief."}
    headers = request.headers
    assert headers["Host"] == "bedrock-runtime.us-west-2.amazonaws.com" and headers["X-Amz-Date"] == "20150830T123600Z"
    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20150830/us-west-2/bedrock/"
                                               "aws4_request, SignedHeaders=accept;content-type;host;x-amz-date, ")


def test_stream_request_base_url_and_arn_quoting() -> None:
    arn = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0"
    request = ADAPTOR.request(chat(stream=True), target(arn, base_url="http://127.0.0.1:9000/"))
    assert request.url == ("http://127.0.0.1:9000/model/arn:aws:bedrock:us-west-2:123456789012:inference-profile"
                           "%2Fus.anthropic.claude-3-haiku-20240307-v1:0/invoke-with-response-stream")
    assert request.stream is True and "stream" not in json.loads(request.content)
    assert request.headers["Host"] == "127.0.0.1:9000"
    assert request.headers["Accept"] == "application/vnd.amazon.eventstream"


def test_credentials_from_the_key_session_tokens_and_api_keys() -> None:
    request = ADAPTOR.request(chat(), target(config={}, key="AKIAKEY|secret|eu-central-1"))
    assert "Credential=AKIAKEY/20150830/eu-central-1/bedrock/" in request.headers["Authorization"]
    request = ADAPTOR.request(chat(), target(config={**CONFIG, "session_token": "tok"}))
    assert request.headers["X-Amz-Security-Token"] == "tok"
    assert "x-amz-security-token" in request.headers["Authorization"]
    request = ADAPTOR.request(chat(), target(config={"region": "us-east-1"}, key="ABSKexample"))
    assert request.headers["Authorization"] == "Bearer ABSKexample"
    with pytest.raises(UpstreamError, match="region"):
        ADAPTOR.request(chat(), target(config={"ak": "a", "sk": "b"}))


# -- answers, streams and errors --------------------------------------------------------------------------------


def test_whole_answer_is_anthropic_json() -> None:
    body = {"id": "msg_bdrk_01", "type": "message", "role": "assistant", "model": "claude-3-5-sonnet-20241022",
            "content": [{"type": "text", "text": "Hi!"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 12, "output_tokens": 3}}
    answer = ADAPTOR.answer(chat(), target(), 200, "application/json", json.dumps(body).encode())
    data = json.loads(answer.content)
    assert data["choices"][0]["message"]["content"] == "Hi!"
    assert data["usage"] == {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def events_stream(*events: dict[str, Any]) -> bytes:
    return b"".join(chunk_frame(event) for event in events)


START = {"type": "message_start", "message": {"id": "msg_bdrk_1", "model": "claude-3-5-sonnet-20241022",
                                              "usage": {"input_tokens": 40, "output_tokens": 1}}}
TEXT = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}


def test_stream_chunks_are_anthropic_events() -> None:
    translator = ADAPTOR.translator(chat(stream=True), target())
    stream = events_stream(START, TEXT, {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                         "usage": {"output_tokens": 7}},
                           {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                               "inputTokenCount": 99, "outputTokenCount": 99}})
    out: list[bytes] = []
    for index in range(0, len(stream), 5):
        out += translator.feed(stream[index:index + 5])
    text = b"".join(out).decode()
    assert '"content":"Hello"' in text and '"finish_reason":"stop"' in text
    usage = translator.state.usage
    # The Anthropic usage wins over the invocation metrics.
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (40, 7)


def test_invocation_metrics_when_the_events_carry_no_usage() -> None:
    translator = ADAPTOR.translator(chat(stream=True), target())
    translator.feed(events_stream({"type": "message_start", "message": {"id": "m"}}, TEXT,
                                  {"type": "message_delta", "delta": {"stop_reason": "end_turn"}},
                                  {"type": "message_stop", "amazon-bedrock-invocationMetrics": {
                                      "inputTokenCount": 40, "outputTokenCount": 7, "invocationLatency": 500,
                                      "firstByteLatency": 200}}))
    usage = translator.state.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (40, 7)


def test_exception_frame_first_is_the_attempts_failure() -> None:
    translator = ADAPTOR.translator(chat(stream=True), target())
    assert translator.feed(exception_frame("throttlingException", "Too many requests, please wait.")) == []
    error = translator.state.error
    assert error is not None and error.status_code == 429 and error.retryable
    assert error.message == "Too many requests, please wait." and error.code == "throttlingException"


def test_exception_frame_mid_stream_is_an_openai_error_event() -> None:
    translator = ADAPTOR.translator(chat(stream=True), target())
    out = translator.feed(events_stream(START, TEXT) + exception_frame("modelStreamErrorException", "boom"))
    last = json.loads(b"".join(out).split(b"\n\n")[-2][6:])
    assert last["error"]["message"] == "boom" and last["error"]["code"] == "modelStreamErrorException"
    assert translator.state.error is not None and translator.state.error.status_code == 502


def test_event_stream_error_message() -> None:
    translator = ADAPTOR.translator(chat(stream=True), target())
    translator.feed(frame({":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, b""))
    assert translator.state.error is not None and translator.state.error.message == "oops"


@pytest.mark.parametrize("status,message,expected,retryable", [
    (400, "Malformed input request: #: extraneous key [foo] is not permitted", 400, False),
    (400, "The provided model identifier is invalid.", 404, True),
    (403, "The request signature we calculated does not match the signature you provided.", 401, True),
    (403, "The security token included in the request is invalid.", 401, True),
    (403, "You don't have access to the model with the specified model ID.", 403, True),
    (408, "Model has timed out in processing the request.", 504, True),
    (424, "Model returned an error", 502, True),
    (429, "Too many requests, please wait before trying again.", 429, True),
    (503, "Service unavailable", 503, True),
])
def test_http_errors(status: int, message: str, expected: int, retryable: bool) -> None:
    error = ADAPTOR.error(status, json.dumps({"message": message}).encode())
    assert (error.status_code, error.retryable, error.message) == (expected, retryable, message)
