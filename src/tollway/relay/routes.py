"""The /v1 relay routes and the OpenAI-style billing dashboard, with One API's paths and answers."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tollway.bodies import read_body
from tollway.errors import NotFound, NotImplementedRoute, TollwayError
from tollway.relay.auth import Caller, allow_model
from tollway.relay.calls import Mode, parse_json, parse_multipart
from tollway.routing import model_lists

if TYPE_CHECKING:
    from tollway.services import Services

log = logging.getLogger(__name__)

_MODEL_CREATED = 1626777600  # One API's fixed `created` for model objects


class _RequestIds:
    """One API's request ids: the time to the second and eight random digits."""

    def __init__(self) -> None:
        self._second = 0
        self._prefix = ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self._second:
            # Formatting the time costs more than the rest of the id; once a second is enough.
            self._second, self._prefix = now, time.strftime("%Y%m%d%H%M%S", time.localtime(now))
        # Ids only need to be unique enough to find a call in the logs, not unguessable.
        return f"{self._prefix}{random.getrandbits(26) % 10**8:08d}"


new_request_id = _RequestIds()


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def error_response(exc: TollwayError, request_id: str) -> Response:
    headers = {"X-Oneapi-Request-Id": request_id, **exc.headers}  # h14 hook: Retry-After of rate limits
    return json_response(exc.openai_body(request_id), exc.status_code, headers)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


Handler = Callable[[Request, "Services", Caller, str], Awaitable[Response]]


def relay_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a relay handler with token authentication, a request id and OpenAI-shaped errors."""

    async def endpoint(request: Request) -> Response:
        services = services_of(request)
        request_id = new_request_id()
        try:
            caller = await services.auth.caller(request.headers.get("authorization", ""), client_ip(request))
            return await handler(request, services, caller, request_id)
        except TollwayError as exc:
            return error_response(exc, request_id)
        except Exception:
            log.exception("request %s failed", request_id)
            return error_response(TollwayError("internal error in Tollway"), request_id)

    return endpoint


def relay(mode: Mode) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of one relay mode."""

    async def handler(request: Request, services: Services, caller: Caller, request_id: str) -> Response:
        raw = await read_body(request, services.settings.max_request_body_bytes)
        if mode in (Mode.TRANSCRIPTION, Mode.TRANSLATION):
            call = await parse_multipart(mode, raw, request.headers.get("content-type", ""))
        else:
            call = parse_json(mode, raw, path_model=request.path_params.get("model", ""))
        allow_model(caller, call.model)
        return await services.relay.handle(call, caller, request_id)

    return relay_endpoint(handler)


def _model_object(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": _MODEL_CREATED, "owned_by": model_lists.owner(model),
            "permission": [], "root": model, "parent": None}


def _visible_models(services: Services, caller: Caller) -> list[str]:
    if caller.token.models is not None:
        return sorted(caller.token.models)
    return services.cache.routes.models(caller.user.group)


async def list_models(request: Request, services: Services, caller: Caller, request_id: str) -> Response:
    return json_response({"object": "list", "data": [_model_object(m) for m in _visible_models(services, caller)]})


async def retrieve_model(request: Request, services: Services, caller: Caller, request_id: str) -> Response:
    model = request.path_params["model"]
    if model not in _visible_models(services, caller) and model not in model_lists.all_models():
        raise NotFound(f"the model '{model}' does not exist", code="model_not_found", param="model")
    return json_response(_model_object(model))


def _token_or_user_figures(services: Services, caller: Caller) -> tuple[int, int]:
    if services.cache.options["DisplayTokenStatEnabled"]:
        return caller.token.remain.value, caller.token.used.value
    return caller.user.quota.value, caller.user.used_quota.value


async def subscription(request: Request, services: Services, caller: Caller, request_id: str) -> Response:
    options = services.cache.options
    remain, used = _token_or_user_figures(services, caller)
    amount = float(remain + used)
    if options["DisplayInCurrencyEnabled"]:
        amount /= options.quota_per_unit
    if caller.token.unlimited:
        amount = 100000000.0
    expires = caller.token.expired_time if caller.token.expired_time > 0 else 0
    return json_response({
        "object": "billing_subscription", "has_payment_method": True, "soft_limit_usd": amount,
        "hard_limit_usd": amount, "system_hard_limit_usd": amount, "access_until": expires,
    })


async def usage(request: Request, services: Services, caller: Caller, request_id: str) -> Response:
    options = services.cache.options
    _, used = _token_or_user_figures(services, caller)
    amount = float(used)
    if options["DisplayInCurrencyEnabled"]:
        amount /= options.quota_per_unit
    return json_response({"object": "list", "total_usage": amount * 100})


async def not_implemented(request: Request, services: Services, caller: Caller, request_id: str) -> Response:
    raise NotImplementedRoute("API not implemented")


async def invalid_url(request: Request) -> Response:
    """One API's answer for an unknown /v1 path."""
    message = f"Invalid URL ({request.method} {request.url.path})"
    return json_response({"error": {"message": message, "type": "invalid_request_error", "param": None,
                                    "code": None}}, 404)


_NOT_IMPLEMENTED = [
    ("/images/edits", ["POST"]),
    ("/images/variations", ["POST"]),
    ("/edits", ["POST"]),
    ("/files", ["GET", "POST"]),
    ("/files/{rest:path}", ["GET", "DELETE"]),
    ("/fine_tuning/jobs", ["GET", "POST"]),
    ("/fine_tuning/jobs/{rest:path}", ["GET", "POST"]),
    ("/fine-tunes", ["GET", "POST"]),
    ("/fine-tunes/{rest:path}", ["GET", "POST", "DELETE"]),
    ("/assistants", ["GET", "POST"]),
    ("/assistants/{rest:path}", ["GET", "POST", "DELETE"]),
    ("/threads", ["POST"]),
    ("/threads/{rest:path}", ["GET", "POST", "DELETE"]),
]


def v1_routes() -> list[BaseRoute]:
    """Routes mounted under /v1."""
    routes: list[BaseRoute] = [
        Route("/chat/completions", relay(Mode.CHAT), methods=["POST"]),
        Route("/completions", relay(Mode.COMPLETIONS), methods=["POST"]),
        Route("/embeddings", relay(Mode.EMBEDDINGS), methods=["POST"]),
        Route("/engines/{model:path}/embeddings", relay(Mode.EMBEDDINGS), methods=["POST"]),
        Route("/moderations", relay(Mode.MODERATIONS), methods=["POST"]),
        Route("/images/generations", relay(Mode.IMAGES), methods=["POST"]),
        Route("/audio/speech", relay(Mode.SPEECH), methods=["POST"]),
        Route("/audio/transcriptions", relay(Mode.TRANSCRIPTION), methods=["POST"]),
        Route("/audio/translations", relay(Mode.TRANSLATION), methods=["POST"]),
        Route("/models", relay_endpoint(list_models), methods=["GET"]),
        Route("/models/{model:path}", relay_endpoint(retrieve_model), methods=["GET"]),
        Route("/models/{model:path}", relay_endpoint(not_implemented), methods=["DELETE"]),
        Route("/dashboard/billing/subscription", relay_endpoint(subscription), methods=["GET"]),
        Route("/dashboard/billing/usage", relay_endpoint(usage), methods=["GET"]),
    ]
    routes += [Route(path, relay_endpoint(not_implemented), methods=methods) for path, methods in _NOT_IMPLEMENTED]
    routes.append(Route("/{rest:path}", invalid_url, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    return routes


def dashboard_routes() -> list[BaseRoute]:
    """Routes mounted under /dashboard (the same billing answers as /v1/dashboard)."""
    return [
        Route("/billing/subscription", relay_endpoint(subscription), methods=["GET"]),
        Route("/billing/usage", relay_endpoint(usage), methods=["GET"]),
    ]
