"""FastGPT's call-log tab: failed calls logged as AI Proxy keeps them, with their bodies; search and detail."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.admin.support import dicts
from tests.aiproxy.conftest import ADMIN_KEY
from tests.aiproxy.fastgpt import FastGPT, Rejected
from tests.harness import ROOT_PASSWORD, Gateway, settings_for
from tests.upstreams.openai_mock import OpenAIMock
from tollway.storage import log_details

HI = [{"role": "user", "content": "hi"}]
UPSTREAM_KEY = "sk-upstream-secret-0123456789"


def ms(seconds: float) -> int:
    return int(seconds * 1000)


def fastgpt_window() -> dict[str, int]:
    """FastGPT's default: yesterday 00:00 to today 23:59:59.999 (here: a day either side of now), in ms."""
    now = time.time()
    return {"start_timestamp": ms(now - 86400), "end_timestamp": ms(now + 86400)}


def setup_channel(fastgpt: FastGPT, mock_url: str) -> int:
    created = fastgpt.post_create_channel({"type": 1, "name": "mock", "base_url": f"{mock_url}/v1",
                                           "models": ["gpt-4o-mini", "broken"], "model_mapping": {},
                                           "key": UPSTREAM_KEY})
    return int(created["id"])


def test_failed_and_successful_calls_in_the_log_tab(aiproxy: Gateway, fastgpt: FastGPT, mock: OpenAIMock,
                                                    mock_url: str) -> None:
    channel = setup_channel(fastgpt, mock_url)
    # The upstream refuses the request and echoes our key in its message: the log must not keep it.
    mock.plan("broken", status=400, error={"error": {"message": f"bad request for key {UPSTREAM_KEY}",
                                                     "type": "invalid_request_error", "param": None, "code": None}})
    client = aiproxy.openai(ADMIN_KEY)
    client.chat.completions.create(model="gpt-4o-mini", messages=HI)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="broken", messages=[{"role": "user", "content": "please fail"}])
    aiproxy.flush()

    page = fastgpt.get_channel_log(**fastgpt_window())
    assert page["total"] == 2 and len(page["logs"]) == 2
    failed, succeeded = page["logs"]  # newest first
    assert (failed["code"], failed["model"], failed["channel"], failed["endpoint"]) == (
        400, "broken", channel, "/v1/chat/completions")
    assert failed["ip"] == "127.0.0.1" and failed["retry_times"] == 0 and failed["mode"] == 1
    assert "bad request for key" in failed["content"] and UPSTREAM_KEY not in failed["content"]
    assert failed["created_at"] >= failed["request_at"] > ms(time.time() - 60)  # ms, duration = the difference
    assert succeeded["code"] == 200 and "content" not in succeeded
    assert succeeded["usage"] == {"input_tokens": 11, "output_tokens": 5, "total_tokens": 16, "cached_tokens": 0}
    assert succeeded["ttfb_milliseconds"] >= 0 and succeeded["token_name"] == "ADMIN_KEY"

    detail = fastgpt.get_log_detail(failed["id"])  # FastGPT asks only for rows whose code is not 200
    assert "please fail" in detail["request_body"] and "bad request for key" in detail["response_body"]
    assert UPSTREAM_KEY not in detail["response_body"] and ADMIN_KEY not in str(detail)
    with pytest.raises(Rejected) as none_kept:
        fastgpt.get_log_detail(succeeded["id"])  # successful calls' bodies are off by default
    assert none_kept.value.status == 404
    stored = dicts(aiproxy, "SELECT * FROM tollway_log_details")
    assert len(stored) == 1 and ADMIN_KEY not in str(stored) and UPSTREAM_KEY not in str(stored)

    assert [r["id"] for r in fastgpt.get_channel_log(code_type="error", **fastgpt_window())["logs"]] == [failed["id"]]
    assert [r["id"] for r in fastgpt.get_channel_log(code_type="success", **fastgpt_window())["logs"]] == [
        succeeded["id"]]
    assert fastgpt.get_channel_log(model_name="gpt-4o-mini", channel=str(channel), **fastgpt_window())["total"] == 1
    assert fastgpt.get_channel_log(request_id=failed["request_id"], **fastgpt_window())["logs"][0]["id"] == failed["id"]
    empty = fastgpt.get_channel_log(channel="999", **fastgpt_window())
    assert empty == {"logs": [], "total": 0}  # never null: FastGPT maps over it
    assert fastgpt.get_channel_log(offset=20, **fastgpt_window())["logs"] == []  # the next page of infinite scroll
    # A missing date is sent as 0: the window is the week before now, as AI Proxy's.
    assert fastgpt.get_channel_log()["total"] == 2

    # Tollway's own console shows the same call and its bodies.
    with httpx.Client(base_url=aiproxy.url) as browser:
        aiproxy.api("POST", "/api/user/login", browser, json={"username": "root", "password": ROOT_PASSWORD})
        page_html = browser.get(f"/log/{failed['id']}").text
    assert "please fail" in page_html and "400" in page_html and "/v1/chat/completions" in page_html
    one_api = aiproxy.api("GET", "/api/log/", params={"type": 6})
    assert one_api[0]["code"] == 400 and one_api[0]["ip"] == "127.0.0.1"


def test_bodies_of_every_call_are_cut_to_the_limit(tmp_path: Path, mock: OpenAIMock, mock_url: str) -> None:
    gateway = Gateway(settings_for(tmp_path, ADMIN_KEY=ADMIN_KEY, SAVE_ALL_LOG_DETAIL="true",
                                   LOG_DETAIL_REQUEST_BODY_MAX_SIZE="200", LOG_DETAIL_RESPONSE_BODY_MAX_SIZE="50"))
    try:
        fastgpt = FastGPT(gateway.url, ADMIN_KEY)
        setup_channel(fastgpt, mock_url)
        gateway.openai(ADMIN_KEY).chat.completions.create(model="gpt-4o-mini",
                                                         messages=[{"role": "user", "content": "é" * 500}])
        list(gateway.openai(ADMIN_KEY).chat.completions.create(model="gpt-4o-mini", messages=HI, stream=True))
        gateway.flush()
        whole, streamed = fastgpt.get_channel_log()["logs"][::-1]
        detail = fastgpt.get_log_detail(whole["id"])
        assert detail["request_body_truncated"] and len(detail["request_body"].encode()) <= 200
        assert detail["request_body"].endswith("...") and detail["response_body_truncated"]
        assert fastgpt.get_log_detail(streamed["id"])["response_body"] == "Hello from the mock."
        fastgpt.close()
    finally:
        gateway.close()


def test_bodies_expire_in_small_batches(aiproxy: Gateway, fastgpt: FastGPT, mock: OpenAIMock, mock_url: str) -> None:
    """LOG_DETAIL_STORAGE_HOURS=1 (FastGPT's setting): bodies older than an hour go, a batch per transaction."""
    setup_channel(fastgpt, mock_url)
    mock.plan("broken", status=500)
    for _ in range(5):
        with pytest.raises(openai.InternalServerError):
            aiproxy.openai(ADMIN_KEY).chat.completions.create(model="broken", messages=HI)
    aiproxy.flush()
    kept = dicts(aiproxy, "SELECT id FROM tollway_log_details")
    assert len(kept) == 5  # a retry never goes back to a channel that failed: one attempt per call here
    retention = aiproxy.services.operations.detail_retention
    retention.batch = 3
    assert aiproxy.server.run(retention.run_once(now=time.time() + 1800)) == 0  # younger than an hour
    assert aiproxy.server.run(retention.run_once(now=time.time() + 3700)) == len(kept)
    assert dicts(aiproxy, "SELECT id FROM tollway_log_details") == []
    assert len(dicts(aiproxy, "SELECT id FROM logs WHERE type = 6")) == len(kept)  # the logs stay


def test_search_and_detail_refuse_bad_input(fastgpt: FastGPT) -> None:
    for params, fragment in (({"code_type": "weird"}, "code_type"), ({"start_timestamp": "yesterday"}, "start"),
                             ({"channel": "x"}, "channel"), ({"per_page": "many"}, "per_page")):
        with pytest.raises(Rejected) as refused:
            fastgpt.check(fastgpt.proxy("GET", "/api/aiproxy/api/logs/search", params))
        assert refused.value.status == 400 and fragment in refused.value.body["message"]
    with pytest.raises(Rejected) as refused:
        fastgpt.get_log_detail(12345)
    assert refused.value.status == 404


def test_log_detail_rows_keep_their_log_ids(aiproxy: Gateway) -> None:
    """Logs with bodies are written one by one for their ids, in order with the others of the same flush."""
    keeper = aiproxy.services.keeper
    now = int(time.time())
    base = {"user_id": 1, "created_at": now, "username": "root", "content": "", "channel_id": 0}
    keeper.add_log({**base, "type": 2, "request_id": "a"})
    keeper.add_log({**base, "type": 6, "request_id": "b", "code": 500,
                    log_details.DETAIL: log_details.detail(b'{"x":1}', "boom", log_details.Limits())})
    keeper.add_log({**base, "type": 2, "request_id": "c"})
    aiproxy.flush()
    ids = {r["request_id"]: r["id"] for r in dicts(aiproxy, "SELECT id, request_id FROM logs WHERE request_id != ''")}
    assert ids["a"] < ids["b"] < ids["c"]

    async def read() -> dict[str, object] | None:
        async with aiproxy.services.log_engine.connect() as conn:
            return await log_details.read(conn, ids["b"])

    found = aiproxy.server.run(read())
    assert found is not None and found["request_body"] == '{"x":1}' and found["response_body"] == "boom"
    assert asyncio.iscoroutinefunction(log_details.read)
