"""Cloudflare Turnstile: the check One API puts before registration, email codes and reset mails."""

from __future__ import annotations

import logging

import httpx2
from starlette.requests import Request

from tollway.errors import InvalidRequest
from tollway.options import Options

log = logging.getLogger(__name__)


async def check(request: Request, options: Options, http: httpx2.AsyncClient, verify_url: str) -> None:
    """Pass when Turnstile is off or this browser session passed it already; else verify the `turnstile` query token."""
    if not options.flag("TurnstileCheckEnabled") or request.session.get("turnstile"):
        return
    response = request.query_params.get("turnstile", "").strip()
    if not response:
        raise InvalidRequest("the Turnstile token is missing; complete the Turnstile check first")
    form = {"secret": options.text("TurnstileSecretKey"), "response": response,
            "remoteip": request.client.host if request.client else ""}
    try:
        answer = await http.post(verify_url, data=form)
        passed = answer.status_code == 200 and answer.json().get("success") is True
    except (httpx2.HTTPError, ValueError, AttributeError) as exc:
        log.warning("Turnstile verification at %s failed: %r", verify_url, exc)
        raise InvalidRequest("the Turnstile check could not be verified; try again later") from exc
    if not passed:
        raise InvalidRequest("the Turnstile check failed; refresh the page and try again")
    # Verified once per browser session, as in One API (its pages reuse one token for the code and the sign-up).
    request.session["turnstile"] = True
