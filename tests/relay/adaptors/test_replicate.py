"""The Replicate adaptor as pure translation: prediction bodies, follow-ups (stream URL, polling, files), SSE events."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tollway.errors import InvalidRequest, UpstreamError
from tollway.relay.adaptors import replicate
from tollway.relay.adaptors.base import Target
from tollway.relay.adaptors.replicate import ReplicateAdaptor, chat_input, create_url, image_input
from tollway.relay.calls import Call, Mode, parse_json, with_system_prompt
from tollway.routing import channel_types
from tollway.storage.cache import ChannelEntry

ADAPTOR = ReplicateAdaptor()
LLAMA = "meta/meta-llama-3-8b-instruct"
FLUX = "black-forest-labs/flux-schnell"
API = "https://api.replicate.com"


def target(model: str = LLAMA, base_url: str = "", system_prompt: str = "") -> Target:
    channel = ChannelEntry(id=1, type=46, key="r8_key", status=1, name="c", weight=0, priority=0, base_url=base_url,
                           models=[], groups=["default"], model_mapping={}, config={}, system_prompt=system_prompt)
    return Target(channel, channel_types.get(46), model)


def chat(**body: Any) -> Call:
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return parse_json(Mode.CHAT, json.dumps({"model": LLAMA, **body}).encode())


def image(**body: Any) -> Call:
    return parse_json(Mode.IMAGES, json.dumps({"model": FLUX, "prompt": "a red fox", **body}).encode())


def prediction(status: str, **extra: Any) -> bytes:
    """A prediction as Replicate returns it (fields of its API reference; ids shortened)."""
    data = {"id": "gm3qorzdhgbfurvjtvhg6dckhu", "model": LLAMA, "version": "dp-abc", "input": {"prompt": "hi"},
            "logs": "", "output": None, "data_removed": False, "error": None, "status": status,
            "created_at": "2024-07-22T16:59:48.112Z",
            "urls": {"cancel": f"{API}/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu/cancel",
                     "get": f"{API}/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu",
                     "stream": "https://stream.replicate.com/v1/files/qcew-cytfrcbmxsxvscuhzcvbbhywykkewgd",
                     "web": "https://replicate.com/p/gm3qorzdhgbfurvjtvhg6dckhu"}, **extra}
    return json.dumps(data).encode()


def events(pieces: list[bytes]) -> list[Any]:
    found: list[Any] = []
    for block in b"".join(pieces).split(b"\n\n"):
        if block:
            payload = block.removeprefix(b"data: ")
            found.append("[DONE]" if payload == b"[DONE]" else json.loads(payload))
    return found


# -- requests -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base,model,expected", [
    ("", LLAMA, f"{API}/v1/models/{LLAMA}/predictions"),  # the type's default base ends in /v1/models/
    (API, LLAMA, f"{API}/v1/models/{LLAMA}/predictions"),
    ("http://127.0.0.1:9/v1", FLUX, f"http://127.0.0.1:9/v1/models/{FLUX}/predictions"),
    ("", "owner/model:5c7d5dc6dd8bf75c1acaa8565735e7986bc5b66206b55cca93cb72c9bf15ccaa", f"{API}/v1/predictions"),
])
def test_create_urls(base: str, model: str, expected: str) -> None:
    assert create_url(target(model, base)) == expected


def test_model_names_need_an_owner() -> None:
    with pytest.raises(InvalidRequest):
        create_url(target("llama3"))


def test_chat_prediction_body() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": [{"type": "text", "text": "how are you?"}]}]
    request = ADAPTOR.request(chat(messages=messages, temperature=0.5, stop=["\n\n"], stream=True), target())
    assert request.method == "POST" and not request.stream  # the prediction is created first
    assert request.headers["Authorization"] == "Bearer r8_key"
    body = json.loads(request.content)
    assert body["stream"] is True
    assert body["input"] == {"prompt": "user: hi\nassistant: hello\nuser: how are you?\n", "system_prompt": "Be brief.",
                             "max_tokens": 500, "max_new_tokens": 500, "temperature": 0.5, "stop_sequences": "\n\n"}


def test_chat_input_extras() -> None:
    data = chat_input(chat(max_tokens=64, seed=3, input={"prompt_template": "{prompt}"}), [])
    assert (data["max_tokens"], data["seed"]) == (64, 3) and data["prompt"] == ""
    body = json.loads(ADAPTOR.request(chat(input={"prompt_template": "{prompt}"}), target()).content)
    assert body["input"]["prompt_template"] == "{prompt}"
    versioned = target("owner/model:abc123")
    assert json.loads(ADAPTOR.request(chat(), versioned).content)["version"] == "abc123"
    prompted = ADAPTOR.request(with_system_prompt(chat(), "You are Tollway."), target())
    assert json.loads(prompted.content)["input"]["system_prompt"] == "You are Tollway."


def test_image_input() -> None:
    assert image_input(image()) == {"prompt": "a red fox", "width": 1024, "height": 1024, "aspect_ratio": "1:1"}
    wide = image_input(image(size="1792x1024", n=2, response_format="url"))
    assert wide == {"prompt": "a red fox", "num_outputs": 2, "width": 1792, "height": 1024}
    assert image_input(image(size="1024x576"))["aspect_ratio"] == "16:9"
    assert image_input(image(response_format="b64_json"))["output_format"] == "png"
    with pytest.raises(InvalidRequest):
        ADAPTOR.request(image(n=2, response_format="b64_json"), target(FLUX))
    with pytest.raises(UpstreamError):
        ADAPTOR.request(parse_json(Mode.EMBEDDINGS, b'{"model":"a/b","input":"x"}'), target())


# -- follow-ups -----------------------------------------------------------------------------------------------


def test_created_chat_prediction_follows_its_stream() -> None:
    answer = ADAPTOR.answer(chat(), target(), 201, "application/json", prediction("starting"))
    follow = answer.follow
    assert follow is not None and follow.stream and follow.method == "GET" and answer.wait == 0
    assert follow.url == "https://stream.replicate.com/v1/files/qcew-cytfrcbmxsxvscuhzcvbbhywykkewgd"
    assert follow.headers == {"Authorization": "Bearer r8_key", "Accept": "text/event-stream",
                              "Cache-Control": "no-store"}


def test_chat_without_stream_url_is_polled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(replicate, "POLL_INTERVAL", 0.25)
    body = json.loads(prediction("processing"))
    del body["urls"]["stream"]
    answer = ADAPTOR.answer(chat(), target(), 201, "application/json", json.dumps(body).encode())
    assert answer.follow is not None and not answer.follow.stream and answer.wait == 0.25
    assert answer.follow.url == f"{API}/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu"
    done = ADAPTOR.answer(chat(), target(), 200, "application/json",
                          prediction("succeeded", output=["Hello", " there", "!"]))
    assert done.follow is None and done.text == "Hello there!"
    assert json.loads(done.content)["choices"][0]["message"]["content"] == "Hello there!"


def test_failed_and_canceled_predictions() -> None:
    with pytest.raises(UpstreamError) as raised:
        ADAPTOR.answer(chat(), target(), 200, "application/json",
                       prediction("failed", error="CUDA error: out of memory"))
    assert raised.value.message == "CUDA error: out of memory" and not raised.value.retryable
    with pytest.raises(UpstreamError) as canceled:
        ADAPTOR.answer(image(), target(FLUX), 200, "application/json", prediction("canceled"))
    assert canceled.value.code == "replicate_canceled"


def test_images_are_polled_then_answered_with_urls() -> None:
    pending = ADAPTOR.answer(image(), target(FLUX), 201, "application/json", prediction("starting"))
    assert pending.follow is not None and pending.follow.url.endswith("/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu")
    assert pending.wait == replicate.POLL_INTERVAL
    files = ["https://replicate.delivery/xezq/a.webp", "https://replicate.delivery/xezq/b.webp"]
    done = ADAPTOR.answer(image(n=2), target(FLUX), 200, "application/json", prediction("succeeded", output=files))
    assert [item["url"] for item in json.loads(done.content)["data"]] == files
    single = ADAPTOR.answer(image(), target(FLUX), 200, "application/json",
                            prediction("succeeded", output=files[0]))
    assert json.loads(single.content)["data"] == [{"url": files[0]}]


def test_b64_json_fetches_the_file_without_the_key() -> None:
    url = "https://replicate.delivery/xezq/out-0.png"
    done = ADAPTOR.answer(image(response_format="b64_json"), target(FLUX), 200, "application/json",
                          prediction("succeeded", output=[url]))
    assert done.follow is not None and done.follow.url == url and done.follow.headers == {}
    png = b"\x89PNG\r\n\x1a\nfake"
    data = ADAPTOR.answer(image(response_format="b64_json"), target(FLUX), 200, "image/png", png)
    assert json.loads(data.content)["data"] == [{"b64_json": base64.b64encode(png).decode()}]


@pytest.mark.parametrize("status,body,expected,kind,retryable", [
    (401, b'{"title":"Unauthenticated","detail":"You did not pass a valid authentication token","status":401}',
     401, "authentication_error", True),
    (402, b'{"title":"Insufficient credit","detail":"You have insufficient credit to run this model.","status":402}',
     403, "insufficient_quota", True),
    (404, b'{"title":"Not found","detail":"The requested resource could not be found.","status":404}', 404,
     "not_found_error", True),
    (422, b'{"title":"Input validation failed","detail":"- input: prompt is required","status":422,'
          b'"invalid_fields":[{"type":"required","field":"input","description":"prompt is required"}]}', 400,
     "invalid_request_error", False),
    (429, b'{"title":"Request was throttled.","detail":"Request was throttled. Expected available in 1 second.",'
          b'"status":429}', 429, "rate_limit_error", True),
    (500, b"Internal Server Error", 500, "upstream_error", True),
])
def test_errors(status: int, body: bytes, expected: int, kind: str, retryable: bool) -> None:
    error = ADAPTOR.error(status, body)
    assert (error.status_code, error.error_type, error.retryable) == (expected, kind, retryable)
    assert "{" not in error.message


# -- the prediction's event stream ----------------------------------------------------------------------------

# Replicate's documented example event, then pieces including one that holds a newline (two data lines).
EVENTS = (b"event: output\nid: 1690212292:0\ndata: Once upon a time...\n\n"
          b"event: output\nid: 1690212292:1\ndata:  there\ndata: was\n\n"
          b": keep-alive\n\n"
          b"event: logs\nid: 1690212292:2\ndata: generated 3 tokens\n\n"
          b"event: done\nid: 1690212292:3\ndata: {}\n\n")


def test_stream_events_become_chunks_split_anywhere() -> None:
    for size in (1, 9, len(EVENTS)):
        stream = ADAPTOR.translator(chat(stream=True), target())
        pieces = [p for i in range(0, len(EVENTS), size) for p in stream.feed(EVENTS[i:i + size])]
        found = events(pieces + stream.close(None))
        assert [e["choices"][0]["delta"] for e in found[:3]] == [
            {"role": "assistant", "content": "Once upon a time..."}, {"content": " there\nwas"}, {}]
        assert found[2]["choices"][0]["finish_reason"] == "stop" and found[3] == "[DONE]"
        assert "".join(stream.state.text) == "Once upon a time... there\nwas" and stream.state.finished


def test_whole_answer_from_the_stream_carries_usage() -> None:
    from tollway.relay.usage import Usage

    stream = ADAPTOR.translator(chat(), target())  # the client asked for one whole answer
    found = events(stream.feed(EVENTS) + stream.close(Usage(9, 7)))
    assert found[-2]["usage"] == {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16}


def test_error_event_first_and_later() -> None:
    first = ADAPTOR.translator(chat(stream=True), target())
    assert first.feed(b'event: error\ndata: {"detail": "Prediction interrupted; please retry (code: PA)"}\n\n') == []
    assert first.state.error is not None and "interrupted" in first.state.error.message
    later = ADAPTOR.translator(chat(stream=True), target())
    first_event = EVENTS.split(b"\n\n")[0] + b"\n\n"
    found = events(later.feed(first_event + b'event: error\ndata: {"detail": "model crashed"}\n\n'))
    assert found[-1]["error"]["message"] == "model crashed"
    canceled = ADAPTOR.translator(chat(stream=True), target())
    canceled.feed(b'event: done\ndata: {"reason": "canceled"}\n\n')
    assert canceled.state.error is not None and canceled.state.error.code == "replicate_canceled"


def test_stream_ending_without_done() -> None:
    stream = ADAPTOR.translator(chat(stream=True), target())
    found = events(stream.feed(b"event: output\ndata: partial") + stream.close(None))
    assert found[0]["choices"][0]["delta"]["content"] == "partial"
    assert found[1]["choices"][0]["finish_reason"] == "stop" and found[2] == "[DONE]"
