"""AI Proxy's call log routes: `GET /api/logs/search` (newest first, ms times) and `GET /api/logs/detail/{log_id}`.

Consume logs are the calls that succeeded (code 200); error logs (type 6) are the attempts that failed, with the
upstream's status. Times are Unix milliseconds: `created_at` when the call ended, `request_at` when it began.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from tollway.admin.envelope import MAX_PAGE_SIZE, int64, ok, path_id
from tollway.aiproxy import times
from tollway.constants import LogType
from tollway.errors import InvalidRequest, NotFound
from tollway.storage.cache import Row
from tollway.storage.log_queries import LogFilter, counted_log_page, kept_bodies

if TYPE_CHECKING:
    from tollway.services import Services

DEFAULT_PER_PAGE = 10
# AI Proxy's relay modes (core/relay/mode/define.go) by the endpoint a call came in on.
MODES = {"/v1/chat/completions": 1, "/v1/completions": 2, "/v1/embeddings": 3, "/v1/moderations": 4,
         "/v1/images/generations": 5, "/v1/images/edits": 6, "/v1/audio/speech": 7, "/v1/audio/transcriptions": 8,
         "/v1/audio/translations": 9, "/v1/rerank": 10, "/v1/messages": 12, "/v1/responses": 16}


def _page(request: Request) -> tuple[int, int]:
    """(offset, limit) from `page` or `p` (1-based) and `per_page`, as AI Proxy reads them."""
    params = request.query_params
    try:
        number = int(params.get("page") or params.get("p") or 1)
        size = int(params.get("per_page") or DEFAULT_PER_PAGE)
    except ValueError as exc:
        raise InvalidRequest("page, p and per_page must be integers") from exc
    size = min(max(1, size), MAX_PAGE_SIZE)
    number = max(1, number)
    if number > 2**40:
        raise InvalidRequest("page is out of range")
    return (number - 1) * size, size


def log_filter(request: Request) -> LogFilter:
    """AI Proxy's log filters; an empty value means no filter (FastGPT sends `request_id=` when it has none)."""
    params = request.query_params
    start, end = times.window(request, times.WEEK)
    kind = params.get("code_type") or "all"
    code = int64(params["code"], "code") if params.get("code") else 0
    types: tuple[int, ...]
    if kind == "success" or (kind == "all" and code == 200):
        types = (LogType.CONSUME,)
    elif kind == "error":
        types = (LogType.ERROR,)
    elif kind == "all":
        types = (LogType.CONSUME, LogType.ERROR)
    else:
        raise InvalidRequest("code_type must be all, success or error", param="code_type")
    channel = int64(params["channel"], "channel") if params.get("channel") else None
    return LogFilter(types=types, since=math.floor(start or 0), until=math.floor(end),
                     code=code if code and code != 200 else None, channel_id=channel,
                     request_id=params.get("request_id", ""), model_name=params.get("model_name", ""),
                     token_name=params.get("token_name", ""), ip=params.get("ip", ""))


def log_json(row: Row, quota_per_unit: float) -> dict[str, Any]:
    """A log in AI Proxy's shape (model.Log with ms times); `code` 200 for every consume log."""
    consume = row["type"] == LogType.CONSUME
    ended = int(row["created_at"] or 0) * 1000
    prompt, completion = int(row["prompt_tokens"] or 0), int(row["completion_tokens"] or 0)
    endpoint = row["endpoint"] or ""
    found: dict[str, Any] = {
        "id": row["id"], "request_id": row["request_id"] or "", "channel": row["channel_id"] or 0,
        "model": row["model_name"] or "", "upstream_model": row["upstream_model"] or row["model_name"] or "",
        "code": 200 if consume else int(row["code"] or 0), "created_at": ended,
        "request_at": ended - int(row["elapsed_time"] or 0), "ttfb_milliseconds": int(row["first_byte_time"] or 0),
        "retry_times": int(row["retry_times"] or 0), "endpoint": endpoint, "mode": MODES.get(endpoint, 0),
        "ip": row["ip"] or "", "token_name": row["token_name"] or "", "group": row["username"] or "",
        "usage": {"input_tokens": prompt, "output_tokens": completion, "total_tokens": prompt + completion,
                  "cached_tokens": int(row["cached_tokens"] or 0)},
        "used_amount": int(row["quota"] or 0) / quota_per_unit,
    }
    if not consume:
        found["content"] = row["content"] or ""
    return found


async def search(request: Request, services: Services) -> Response:
    """Logs of the last 7 days before `end_timestamp` (AI Proxy's window), newest first, with their total."""
    offset, limit = _page(request)
    rows, total = await counted_log_page(services.log_engine, log_filter(request), offset, limit)
    per_unit = services.cache.options.quota_per_unit
    return ok({"logs": [log_json(row, per_unit) for row in rows], "total": total})


async def detail(request: Request, services: Services) -> Response:
    """The bodies kept with a log (AI Proxy's RequestDetail); the id is the log's."""
    log_id = path_id(request, "log_id")
    found = await kept_bodies(services.log_engine, log_id)
    if found is None:
        raise NotFound(f"no request or response body is kept for log {log_id}")
    return ok({"id": found["id"], "log_id": found["log_id"], "request_body": found["request_body"] or "",
               "response_body": found["response_body"] or "",
               "request_body_truncated": bool(found["request_body_truncated"]),
               "response_body_truncated": bool(found["response_body_truncated"])})
