"""A mock of the balance endpoints One API queries (controller/channel-billing.go), each in its provider's shape.

One server answers every provider's path; a test can make a path fail (`fail`) or answer another body
(`answers`), and reads what was asked in `requests`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.harness import ServerThread

# What each provider answers by default, and the balance Tollway should read from it.
ANSWERS: dict[str, Any] = {
    "/v1/dashboard/billing/subscription": {"object": "billing_subscription", "has_payment_method": True,
                                           "soft_limit_usd": 100.0, "hard_limit_usd": 120.0,
                                           "system_hard_limit_usd": 120.0, "access_until": 0},
    "/v1/dashboard/billing/usage": {"object": "list", "total_usage": 2050.0},  # cents
    "/dashboard/billing/credit_grants": {"object": "credit_summary", "total_granted": 60.0, "total_used": 17.5,
                                         "total_available": 42.5, "total_remaining": 17.25},
    "/sb-api/user/status": {"msg": "ok", "data": {"credit": "12.34"}},
    "/api/report/getUserOverview": {"success": True, "message": "", "error_code": 0, "data": {"totalPoints": 88.8}},
    "/v1/user/info": {"code": 20000, "message": "OK", "status": True,
                      "data": {"id": "u1", "name": "mock", "balance": "60.0", "chargeBalance": "6.6",
                               "totalBalance": "66.6", "status": "normal"}},
    "/user/balance": {"is_available": True, "balance_infos": [
        {"currency": "USD", "total_balance": "1.00", "granted_balance": "0.00", "topped_up_balance": "1.00"},
        {"currency": "CNY", "total_balance": "110.00", "granted_balance": "10.00", "topped_up_balance": "100.00"}]},
    "/v1/credits": {"data": {"total_credits": 50, "total_usage": 12.5}},
}


@dataclass
class Asked:
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class BalanceMock:
    """State shared by the test thread and the server thread."""

    answers: dict[str, Any] = field(default_factory=dict)
    fail: dict[str, int] = field(default_factory=dict)  # path → HTTP status to answer instead
    requests: list[Asked] = field(default_factory=list)

    def reset(self) -> None:
        self.answers.clear()
        self.fail.clear()
        self.requests.clear()

    async def answer(self, request: Request) -> Response:
        path = request.url.path
        self.requests.append(Asked(path, request.url.query, {k.lower(): v for k, v in request.headers.items()}))
        if path in self.fail:
            return JSONResponse({"error": {"message": "mock failure"}}, status_code=self.fail[path])
        return JSONResponse(self.answers.get(path, ANSWERS[path]))

    def app(self) -> Starlette:
        return Starlette(routes=[Route(path, self.answer, methods=["GET"]) for path in ANSWERS])


_shared: tuple[BalanceMock, ServerThread] | None = None
_lock = threading.Lock()


def shared() -> tuple[BalanceMock, ServerThread]:
    """One mock server for the whole test session, started on first use."""
    global _shared
    with _lock:
        if _shared is None:
            mock = BalanceMock()
            _shared = mock, ServerThread(mock.app(), lifespan="off").start()
        return _shared
