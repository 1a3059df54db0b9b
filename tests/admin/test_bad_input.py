"""Bad input on every management route: malformed JSON, wrong shapes, huge or gzip-bombed bodies, odd parameters."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.admin.support import data, refused, snapshot
from tests.harness import Gateway, settings_for

# Every management route that reads a JSON body, called as root so that only the body can be wrong.
BODY_ROUTES = [
    ("POST", "/api/user/login"), ("PUT", "/api/user/self"), ("POST", "/api/user/"), ("PUT", "/api/user/"),
    ("POST", "/api/user/manage"), ("POST", "/api/topup"), ("POST", "/api/token/"), ("PUT", "/api/token/"),
    ("PUT", "/api/token/?status_only=1"), ("POST", "/api/channel/"), ("PUT", "/api/channel/"), ("PUT", "/api/option/"),
]
MALFORMED = [
    b"", b"   ", b"{", b'{"username": "root",', b"null", b"[]", b'["root"]', b'"text"', b"123", b"true",
    b'{"a": 1} trailing', b"\xff\xfe{}", b"{'single': 'quotes'}", b"[" * 5000 + b"]" * 5000,
    b'{"id": 1, "quota": NaN}', b"username=root&password=x",
]
MIB = 1024 * 1024


@pytest.fixture
def small(tmp_path: Path) -> Iterator[Gateway]:
    """A gateway whose request bodies are limited to 1 MiB (MAX_REQUEST_BODY_MB=1)."""
    gateway = Gateway(settings_for(tmp_path, MAX_REQUEST_BODY_MB=1))
    yield gateway
    gateway.close()


def test_malformed_json_everywhere(gateway: Gateway) -> None:
    """Each body route answers a clear envelope error (HTTP 200, success false) to any non-object body."""
    before = snapshot(gateway)
    problems = []
    for method, path in BODY_ROUTES:
        for body in MALFORMED:
            response = gateway.admin.request(method, path, content=body,
                                             headers={"content-type": "application/json"})
            envelope = response.json()
            if response.status_code != 200 or envelope["success"] is not False or not envelope["message"]:
                problems.append(f"{method} {path} {body[:30]!r}: {response.status_code} {response.text[:100]}")
    assert not problems, "\n".join(problems)
    assert snapshot(gateway) == before


def test_messages_say_what_is_wrong(gateway: Gateway) -> None:
    """The message names the problem: invalid JSON, not an object, or the field and its expected type."""
    refused(gateway.admin.post("/api/topup", content=b"{"), 200, "not valid JSON")
    refused(gateway.admin.post("/api/topup", content=b"[1]"), 200, "JSON object")
    refused(gateway.admin.post("/api/topup", json={"user_id": "1", "quota": 5}), 200, "user_id", "integer")
    refused(gateway.admin.put("/api/user/", json={"id": 1, "quota": "5"}), 200, "quota", "integer")
    refused(gateway.admin.post("/api/token/", json={"name": "x", "unlimited_quota": "yes"}), 200, "unlimited_quota")
    refused(gateway.admin.put("/api/option/", json={"key": "RetryTimes", "value": "many"}), 200, "RetryTimes")


def test_bodies_over_the_limit_are_413(small: Gateway) -> None:
    """A body over MAX_REQUEST_BODY_MB answers 413 in the envelope, declared or streamed, and changes nothing."""
    before = snapshot(small)
    padding = b'{"name": "x", "pad": "' + b"p" * (2 * MIB) + b'"}'

    def streamed() -> Iterator[bytes]:
        yield b'{"name": "x", "pad": "'
        for _ in range(40):
            yield b"p" * 65536
        yield b'"}'

    for method, path in BODY_ROUTES:
        refused(small.admin.request(method, path, content=padding), 413, "1 MiB")
    refused(small.admin.post("/api/token/", content=streamed()), 413, "1 MiB")  # chunked: no Content-Length
    assert snapshot(small) == before


def test_gzip_bodies_are_limited_after_decoding(small: Gateway) -> None:
    """A gzip body is accepted, but one that inflates past the limit (a gzip bomb) is 413, and bad gzip is refused."""
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    token = data(small.admin.post("/api/token/", content=gzip.compress(b'{"name": "zipped"}'), headers=headers))
    assert token["name"] == "zipped"
    before = snapshot(small)
    bomb = gzip.compress(b'{"name": "x", "pad": "' + b"0" * (8 * MIB) + b'"}')
    assert len(bomb) < MIB // 10
    refused(small.admin.post("/api/token/", content=bomb, headers=headers), 413)
    refused(small.admin.post("/api/token/", content=b"not gzip at all", headers=headers), 200, "gzip")
    assert snapshot(small) == before


def test_a_body_under_the_limit_is_fine(small: Gateway) -> None:
    """Just under the limit is still accepted; unknown fields are ignored."""
    body = {"name": "big", "unlimited_quota": True, "padding": "p" * (MIB - 4096)}
    assert data(small.admin.post("/api/token/", json=body))["name"] == "big"


def test_auth_is_checked_before_the_body_is_read(small: Gateway) -> None:
    """An anonymous caller sending a huge body to a protected route gets 401, not 413: the body is never read."""
    with httpx.Client(base_url=small.url) as anonymous:
        refused(anonymous.post("/api/channel/", content=b"x" * (2 * MIB)), 401)
        refused(anonymous.post("/api/user/login", content=b"x" * (2 * MIB)), 413)  # login is public


def test_bad_query_and_path_parameters(gateway: Gateway) -> None:
    """Non-numeric or out-of-range paging, ids and filters are refused cleanly, never a server error."""
    for path in ("/api/user/?p=abc", "/api/user/?p=99999999999999999999", "/api/token/?p=1.5",
                 "/api/channel/?p=ten", "/api/log/?type=x", "/api/log/?start_timestamp=" + "9" * 25,
                 "/api/log/?channel=1e3", "/api/log/self?end_timestamp=now", "/api/log/stat?channel=%00",
                 "/api/user/99999999999999999999", "/api/channel/99999999999999999999",
                 "/api/token/99999999999999999999", "/api/user/?p=" + "9" * 5000, "/api/log/?type=" + "1" * 5000):
        refused(gateway.admin.get(path), 200)
    for path in ("/api/user/abc", "/api/token/1.5", "/api/channel/-x"):
        response = gateway.admin.get(path)
        assert response.status_code == 404 and "Invalid URL" in response.json()["error"]["message"]
    for keyword in ("²", "٣", "%", "_", "\\", "' OR 1=1 --", "9" * 40, "9" * 5000):
        for path in ("/api/user/search", "/api/channel/search", "/api/token/search", "/api/log/search",
                     "/api/log/self/search"):
            assert isinstance(data(gateway.admin.get(path, params={"keyword": keyword})), list), (path, keyword)


def test_wrong_methods_are_not_found(gateway: Gateway) -> None:
    """A method a route does not have answers One API's 404 error rather than running anything."""
    before = snapshot(gateway)
    for method, path in (("DELETE", "/api/status"), ("POST", "/api/option/"), ("PATCH", "/api/user/"),
                         ("POST", "/api/user/logout"), ("DELETE", "/api/user/")):
        response = gateway.admin.request(method, path)
        assert response.status_code == 404, (method, path, response.status_code)
    assert snapshot(gateway) == before
