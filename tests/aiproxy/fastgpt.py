"""FastGPT as AI Proxy sees it: the exact requests its server sends (reference/fastgpt-aiproxy.md §1.2, §2).

The browser's calls (`projects/app/src/web/core/ai/channel.ts`) go to FastGPT's catch-all proxy
(`pages/api/aiproxy/[...path].ts`), which drops the `/api/aiproxy` prefix, keeps the query string, adds the trailing
slash to `api/dashboardv2` only, copies the browser's headers but `cookie`, `host`, `origin` and `connection`,
overwrites `Authorization: Bearer ${AIPROXY_API_TOKEN}` and streams the body through. GET and DELETE carry the
browser's `data` as query parameters (axios: undefined dropped, '' kept, booleans as `true`); POST and PUT as JSON.
Creating a channel is the one exception: `createChannel.ts` posts with axios to `${endpoint}/api/channel/`.
Answers are read as `checkRes` does: a failure rejects with the envelope, a success yields `data`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

# What Chrome sends with FastGPT's axios calls, as the proxy passes them on.
BROWSER_HEADERS = {
    "accept": "application/json, text/plain, */*",
    "accept-encoding": "gzip, deflate, br, zstd",
    "accept-language": "zh-CN,zh;q=0.9,en;q=0.8",
    "content-type": "application/json",
    "referer": "http://fastgpt.local/account/model?currentTab=channel",
    "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
    "sec-fetch-mode": "cors",
}
# Node's axios in createChannel.ts.
AXIOS_HEADERS = {"accept": "application/json, text/plain, */*", "content-type": "application/json",
                 "user-agent": "axios/1.8.4", "accept-encoding": "gzip, compress, deflate, br"}


class Rejected(Exception):
    """checkRes rejected: the envelope said success false (or the status was not 2xx)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body


def _query(data: dict[str, Any]) -> str:
    """axios' params: undefined (None here) dropped, booleans and numbers as text, '' kept."""
    kept = {k: ("true" if v is True else "false" if v is False else v) for k, v in data.items() if v is not None}
    return urlencode(kept)


class FastGPT:
    """FastGPT's server with AIPROXY_API_ENDPOINT pointing at a gateway and AIPROXY_API_TOKEN = the admin key."""

    def __init__(self, endpoint: str, token: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.http = httpx.Client(timeout=60)
        self.last: httpx.Response | None = None

    def close(self) -> None:
        self.http.close()

    def proxy(self, method: str, browser_path: str, data: dict[str, Any] | None = None,
              *, chunked_empty_body: bool = False) -> httpx.Response:
        """The catch-all proxy: `/api/aiproxy/<path>` from the browser becomes `/<path>` on AI Proxy."""
        path = browser_path.removeprefix("/api/aiproxy")
        if path.strip("/") == "api/dashboardv2":
            path = "/api/dashboardv2/"  # endPathMap
        headers = {**BROWSER_HEADERS, "authorization": f"Bearer {self.token}"}
        url = self.endpoint + path
        content: Any = None
        if method in ("GET", "DELETE"):
            query = _query(data or {})
            url += f"?{query}" if query else ""
            if chunked_empty_body:
                content = iter([b""])  # Node streams an empty request body through: chunked, zero bytes
        else:
            content = httpx.Request("POST", url, json=data or {}).read()
        self.last = self.http.request(method, url, headers=headers, content=content)
        return self.last

    @staticmethod
    def check(response: httpx.Response) -> Any:
        """checkRes: reject on a non-2xx status or `success: false`, else the envelope's `data`."""
        body = response.json()
        if response.status_code // 100 != 2 or not body.get("success"):
            raise Rejected(response.status_code, body)
        return body.get("data")

    # -- channel.ts --------------------------------------------------------------------------------------------

    def get_channel_list(self) -> Any:
        return self.check(self.proxy("GET", "/api/aiproxy/api/channels/all", {"page": 1, "perPage": 10}))

    def get_channel_providers(self) -> Any:
        return self.check(self.proxy("GET", "/api/aiproxy/api/channels/type_metas"))

    def post_create_channel(self, data: dict[str, Any]) -> Any:
        """createChannel.ts: axios.post(`${baseUrl}/api/channel/`, req.body, {Authorization}); `res.json(data)`."""
        body = {**data, "priority": 1}
        self.last = self.http.post(f"{self.endpoint}/api/channel/", json=body,
                                   headers={**AXIOS_HEADERS, "authorization": f"Bearer {self.token}"})
        return self.check(self.last)

    def put_channel(self, data: dict[str, Any]) -> Any:
        priority = data.get("priority")
        body = {"type": data["type"], "name": data["name"], "base_url": data["base_url"], "models": data["models"],
                "model_mapping": data["model_mapping"], "key": data["key"], "status": data["status"],
                "priority": max(priority, 1) if priority else None}
        body = {k: v for k, v in body.items() if v is not None}
        return self.check(self.proxy("PUT", f"/api/aiproxy/api/channel/{data['id']}", body))

    def put_channel_status(self, channel_id: int, status: int) -> Any:
        return self.check(self.proxy("POST", f"/api/aiproxy/api/channel/{channel_id}/status", {"status": status}))

    def delete_channel(self, channel_id: int) -> Any:
        return self.check(self.proxy("DELETE", f"/api/aiproxy/api/channel/{channel_id}", chunked_empty_body=True))

    def get_channel_log(self, *, request_id: str = "", channel: str | None = None, model_name: str | None = None,
                        code_type: str = "all", start_timestamp: int = 0, end_timestamp: int = 0, offset: int = 0,
                        page_size: int = 20) -> Any:
        return self.check(self.proxy("GET", "/api/aiproxy/api/logs/search", {
            "result_only": True, "request_id": request_id, "channel": channel, "model_name": model_name,
            "code_type": code_type, "start_timestamp": start_timestamp, "end_timestamp": end_timestamp,
            "p": offset // page_size + 1, "per_page": page_size}))

    def get_log_detail(self, log_id: int) -> Any:
        return self.check(self.proxy("GET", f"/api/aiproxy/api/logs/detail/{log_id}"))

    def get_dashboard_v2(self, *, start_timestamp: int, end_timestamp: int, timezone: str, timespan: str,
                         channel: int | None = None, model: str | None = None) -> Any:
        return self.check(self.proxy("GET", "/api/aiproxy/api/dashboardv2", {
            "channel": channel, "model": model, "start_timestamp": start_timestamp, "end_timestamp": end_timestamp,
            "timezone": timezone, "timespan": timespan}))


_NUMBERS = ("request_count", "used_amount", "exception_count", "total_time_milliseconds", "total_ttfb_milliseconds",
            "input_tokens", "output_tokens", "total_tokens", "max_rpm", "max_tpm", "cache_hit_count")


def parse_dashboard(data: Any) -> list[dict[str, Any]]:
    """MAIN's DashboardDataItemSchema.parse of every summary row (model a string; numbers may be absent, never null)
    and the `.map` FastGPT calls on the array and on each `summary`."""
    assert isinstance(data, list), data
    for item in data:
        assert isinstance(item["timestamp"], int) and isinstance(item["summary"], list), item
        for row in item["summary"]:
            assert isinstance(row["model"], str), row
            assert "channel_id" not in row or isinstance(row["channel_id"], int), row
            for name in _NUMBERS:
                assert isinstance(row.get(name, 0), int | float) and not isinstance(row.get(name, 0), bool), (name, row)
    return data
