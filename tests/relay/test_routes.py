"""The other /v1 routes: embeddings, moderations, images, audio, models, billing dashboards, 501s and 404s."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.harness import ROOT_TOKEN, Gateway
from tests.upstreams.openai_mock import OpenAIMock

AUTH = {"Authorization": "Bearer sk-" + ROOT_TOKEN}


@pytest.fixture
def everything(gateway: Gateway, mock: OpenAIMock, mock_url: str) -> Gateway:
    """A gateway whose mock channel serves every kind of model."""
    gateway.add_channel(mock_url, models="gpt-4o-mini,text-embedding-3-small,omni-moderation-latest,"
                        "text-moderation-stable,dall-e-3,dall-e-2,tts-1,whisper-1")
    return gateway


def last_log(gateway: Gateway) -> dict[str, object]:
    gateway.flush()
    logs = gateway.api("GET", "/api/log/", params={"type": 2})
    return dict(logs[0])


def test_embeddings(everything: Gateway, mock: OpenAIMock) -> None:
    result = everything.openai().embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(result.data) == 2 and result.usage.prompt_tokens == 16
    assert last_log(everything)["prompt_tokens"] == 16


def test_engines_embeddings_path_takes_model_from_url(everything: Gateway, mock: OpenAIMock) -> None:
    response = httpx.post(everything.url + "/v1/engines/text-embedding-3-small/embeddings", headers=AUTH,
                          json={"input": "hello"})
    assert response.status_code == 200, response.text
    assert mock.requests[-1].json["model"] == "text-embedding-3-small"
    assert mock.requests[-1].path == "/v1/embeddings"


def test_moderations_default_model_and_local_count(everything: Gateway, mock: OpenAIMock) -> None:
    response = httpx.post(everything.url + "/v1/moderations", headers=AUTH, json={"input": "some text to check"})
    assert response.status_code == 200, response.text
    assert mock.requests[-1].json["model"] == "text-moderation-stable"
    log = last_log(everything)
    assert log["model_name"] == "text-moderation-stable" and int(str(log["prompt_tokens"])) > 0


def test_images_are_billed_per_image(everything: Gateway, mock: OpenAIMock) -> None:
    result = everything.openai().images.generate(model="dall-e-3", prompt="a red fox", size="1024x1792")
    assert result.data and result.data[0].url
    # dall-e-3 ratio 20 × size ratio 2 × 1000 = 40000 quota for one image.
    assert last_log(everything)["quota"] == 40000


def test_image_size_is_validated(everything: Gateway, mock: OpenAIMock) -> None:
    with pytest.raises(openai.BadRequestError, match="size"):
        everything.openai().images.generate(model="dall-e-3", prompt="x", size="256x256")
    assert mock.requests == []


def test_speech_returns_audio_bytes(everything: Gateway, mock: OpenAIMock) -> None:
    audio = everything.openai().audio.speech.create(model="tts-1", voice="alloy", input="Hello there")
    assert audio.content.startswith(b"ID3")
    # tts-1: ratio 7.5 per character × 11 characters.
    assert last_log(everything)["quota"] == 83


@pytest.mark.parametrize("route", ["transcriptions", "translations"])
def test_audio_upload_is_relayed_and_billed_with_ratio(everything: Gateway, mock: OpenAIMock, route: str) -> None:
    client = everything.openai()
    method = client.audio.transcriptions if route == "transcriptions" else client.audio.translations
    result = method.create(model="whisper-1", file=("voice.mp3", b"ID3 fake audio", "audio/mpeg"))
    assert result.text.startswith("The quick brown fox")
    assert mock.requests[-1].path == f"/v1/audio/{route}"
    log = last_log(everything)
    # whisper-1 ratio 15 applies to the transcript's tokens (One API forgot the ratio here).
    assert log["quota"] == 15 * int(str(log["prompt_tokens"]))


def test_transcription_as_plain_text(everything: Gateway, mock: OpenAIMock) -> None:
    response = httpx.post(everything.url + "/v1/audio/transcriptions", headers=AUTH,
                          files={"file": ("a.mp3", b"ID3", "audio/mpeg")},
                          data={"model": "whisper-1", "response_format": "text"})
    assert response.status_code == 200 and response.text.startswith("The quick")


def test_model_list_follows_group_and_token(everything: Gateway, mock: OpenAIMock) -> None:
    models = {m.id for m in everything.openai().models.list()}
    assert {"gpt-4o-mini", "dall-e-3", "whisper-1"} <= models
    _, client = everything.create_user("limited", quota=1000)
    key = everything.create_token(client, models="gpt-4o-mini")
    assert [m.id for m in everything.openai(key).models.list()] == ["gpt-4o-mini"]
    assert everything.openai().models.retrieve("gpt-4o-mini").id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        everything.openai().models.retrieve("no-such-model")


def test_billing_dashboards(everything: Gateway, mock: OpenAIMock) -> None:
    _, client = everything.create_user("payer", quota=1_000_000)
    key = everything.create_token(client, unlimited_quota=False, remain_quota=500_000)
    everything.openai(key).chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
    for prefix in ("", "/v1"):
        sub = httpx.get(f"{everything.url}{prefix}/dashboard/billing/subscription",
                        headers={"Authorization": f"Bearer {key}"}).json()
        assert sub["object"] == "billing_subscription" and sub["hard_limit_usd"] == 1.0  # 500000 quota = $1
        usage = httpx.get(f"{everything.url}{prefix}/dashboard/billing/usage",
                          headers={"Authorization": f"Bearer {key}"}).json()
        assert usage["object"] == "list" and usage["total_usage"] > 0


@pytest.mark.parametrize("method,path", [
    ("POST", "/v1/images/edits"), ("POST", "/v1/images/variations"), ("GET", "/v1/files"),
    ("POST", "/v1/fine_tuning/jobs"), ("GET", "/v1/assistants"), ("POST", "/v1/threads"),
    ("DELETE", "/v1/models/gpt-4o-mini"),
])
def test_unimplemented_routes_answer_501(gateway: Gateway, method: str, path: str) -> None:
    response = httpx.request(method, gateway.url + path, headers=AUTH)
    assert response.status_code == 501
    assert response.json()["error"]["code"] == "api_not_implemented"


def test_unknown_route_answers_invalid_url(gateway: Gateway) -> None:
    response = httpx.post(gateway.url + "/v1/no/such/thing", headers=AUTH)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Invalid URL (POST /v1/no/such/thing)"


def test_cors_preflight_on_relay(gateway: Gateway) -> None:
    response = httpx.options(gateway.url + "/v1/chat/completions", headers={
        "Origin": "https://chat.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://chat.example")


def test_gzip_request_body(everything: Gateway, mock: OpenAIMock) -> None:
    import gzip
    import json

    body = gzip.compress(json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}).encode())
    response = httpx.post(everything.url + "/v1/chat/completions", content=body,
                          headers={**AUTH, "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
