"""The /v1 relay routes and the OpenAI-style billing dashboard, with One API's paths and answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tollway.errors import NotFound, NotImplementedRoute
from tollway.relay.asgi import Endpoint, Incoming, RelayApp, Route, Router
from tollway.relay.auth import Caller, allow_model
from tollway.relay.calls import Mode, parse_json, parse_multipart
from tollway.relay.inbound_routes import inbound_routes
from tollway.relay.reply import Reply, json_reply
from tollway.routing import model_lists
from tollway.storage.tokens import own_token
from tollway.storage.users import user_by_id

_MODEL_CREATED = 1626777600  # One API's fixed `created` for model objects

Handler = Callable[[Incoming, Caller], Awaitable[Reply]]


def authenticated(handler: Handler) -> Endpoint:
    """An endpoint that first checks the relay key (`Authorization: Bearer sk-...`) against the token cache."""

    async def endpoint(incoming: Incoming) -> Reply:
        auth = incoming.services.auth
        caller = await auth.caller(incoming.header(b"authorization"), incoming.client_ip)
        pin = incoming.headers.get(b"aiproxy-channel")
        if pin is not None:
            caller = auth.pin(caller, pin.decode("latin-1"))  # AI Proxy's channel pin (FastGPT's model test)
        return await handler(incoming, caller)

    return endpoint


def relay(mode: Mode) -> Endpoint:
    """The endpoint of one relay mode."""

    async def handler(incoming: Incoming, caller: Caller) -> Reply:
        raw = await incoming.body()
        if mode in (Mode.TRANSCRIPTION, Mode.TRANSLATION):
            call = await parse_multipart(mode, raw, incoming.header(b"content-type"))
        else:
            call = parse_json(mode, raw, path_model=incoming.params.get("model", ""))
        allow_model(caller, call.model)
        if call.stream and (caller.admin or incoming.services.cache.options.flag("StreamUsageAlways")):
            call.usage_owed = True  # FastGPT never sends stream_options, yet reads usage from the last chunk
        return await incoming.services.relay.handle(call, caller, incoming.request_id)

    return authenticated(handler)


def _model_object(model: str) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": _MODEL_CREATED, "owned_by": model_lists.owner(model),
            "permission": [], "root": model, "parent": None}


def _visible_models(incoming: Incoming, caller: Caller) -> list[str]:
    if caller.token.models is not None:
        return sorted(caller.token.models)
    return incoming.services.routes.table.models(caller.user.group)


async def list_models(incoming: Incoming, caller: Caller) -> Reply:
    return json_reply({"object": "list", "data": [_model_object(m) for m in _visible_models(incoming, caller)]})


async def retrieve_model(incoming: Incoming, caller: Caller) -> Reply:
    model = incoming.params["model"]
    if model not in _visible_models(incoming, caller) and model not in model_lists.all_models():
        raise NotFound(f"the model '{model}' does not exist", code="model_not_found", param="model")
    return json_reply(_model_object(model))


async def _token_or_user_figures(incoming: Incoming, caller: Caller) -> tuple[int, int]:
    """(left, used) of the token or its user as they stand: read from the database, like One API, since other workers
    and nodes spend them too (these routes are for dashboards, not the relay's hot path)."""
    engine = incoming.services.engine
    if incoming.services.cache.options.flag("DisplayTokenStatEnabled"):
        token = caller.token
        row = await own_token(engine, token.user_id, token.id) or {}
        return token.remain.left_now(row.get("remain_quota")), token.used.total_now(row.get("used_quota"))
    user = caller.user
    row = await user_by_id(engine, user.id) or {}
    return user.quota.left_now(row.get("quota")), user.used_quota.total_now(row.get("used_quota"))


async def subscription(incoming: Incoming, caller: Caller) -> Reply:
    options = incoming.services.cache.options
    remain, used = await _token_or_user_figures(incoming, caller)
    amount = float(remain + used)
    if options.flag("DisplayInCurrencyEnabled"):
        amount /= options.quota_per_unit
    if caller.token.unlimited:
        amount = 100000000.0
    expires = caller.token.expired_time if caller.token.expired_time > 0 else 0
    return json_reply({
        "object": "billing_subscription", "has_payment_method": True, "soft_limit_usd": amount,
        "hard_limit_usd": amount, "system_hard_limit_usd": amount, "access_until": expires,
    })


async def usage(incoming: Incoming, caller: Caller) -> Reply:
    options = incoming.services.cache.options
    _, used = await _token_or_user_figures(incoming, caller)
    amount = float(used)
    if options.flag("DisplayInCurrencyEnabled"):
        amount /= options.quota_per_unit
    return json_reply({"object": "list", "total_usage": amount * 100})


async def not_implemented(incoming: Incoming, caller: Caller) -> Reply:
    raise NotImplementedRoute("API not implemented")


def invalid_url_message(method: str, path: str) -> dict[str, Any]:
    """One API's answer for an unknown path."""
    return {"error": {"message": f"Invalid URL ({method} {path})", "type": "invalid_request_error", "param": None,
                      "code": None}}


async def invalid_url(incoming: Incoming) -> Reply:
    return json_reply(invalid_url_message(incoming.scope["method"], incoming.scope["path"]), 404)


_NOT_IMPLEMENTED = [
    ("/v1/images/edits", ("POST",)),
    ("/v1/images/variations", ("POST",)),
    ("/v1/edits", ("POST",)),
    ("/v1/files", ("GET", "POST")),
    ("/v1/files/{rest}", ("GET", "DELETE")),
    ("/v1/fine_tuning/jobs", ("GET", "POST")),
    ("/v1/fine_tuning/jobs/{rest}", ("GET", "POST")),
    ("/v1/fine-tunes", ("GET", "POST")),
    ("/v1/fine-tunes/{rest}", ("GET", "POST", "DELETE")),
    ("/v1/assistants", ("GET", "POST")),
    ("/v1/assistants/{rest}", ("GET", "POST", "DELETE")),
    ("/v1/threads", ("POST",)),
    ("/v1/threads/{rest}", ("GET", "POST", "DELETE")),
]


def _route(methods: tuple[str, ...], path: str, endpoint: Endpoint) -> Route:
    # A GET route answers HEAD too, as Starlette's did.
    return Route(frozenset(methods + (("HEAD",) if "GET" in methods else ())), path, endpoint)


def relay_routes() -> list[Route]:
    """Every route of the relay app: /v1 and the billing dashboards."""
    post = ("POST",)
    get = ("GET",)
    routes = [
        # Anthropic's, OpenAI's Responses and Gemini's APIs; Gemini's patterns go before `/v1/models/{model}`.
        *inbound_routes(),
        _route(post, "/v1/chat/completions", relay(Mode.CHAT)),
        _route(post, "/v1/completions", relay(Mode.COMPLETIONS)),
        _route(post, "/v1/embeddings", relay(Mode.EMBEDDINGS)),
        _route(post, "/v1/engines/{model}/embeddings", relay(Mode.EMBEDDINGS)),
        _route(post, "/v1/moderations", relay(Mode.MODERATIONS)),
        _route(post, "/v1/images/generations", relay(Mode.IMAGES)),
        _route(post, "/v1/audio/speech", relay(Mode.SPEECH)),
        _route(post, "/v1/audio/transcriptions", relay(Mode.TRANSCRIPTION)),
        _route(post, "/v1/audio/translations", relay(Mode.TRANSLATION)),
        _route(post, "/v1/rerank", relay(Mode.RERANK)),
        _route(get, "/v1/models", authenticated(list_models)),
        _route(get, "/v1/models/{model}", authenticated(retrieve_model)),
        _route(("DELETE",), "/v1/models/{model}", authenticated(not_implemented)),
    ]
    for prefix in ("/v1/dashboard", "/dashboard"):
        routes.append(_route(get, f"{prefix}/billing/subscription", authenticated(subscription)))
        routes.append(_route(get, f"{prefix}/billing/usage", authenticated(usage)))
    routes += [_route(methods, path, authenticated(not_implemented)) for path, methods in _NOT_IMPLEMENTED]
    return routes


def relay_app() -> RelayApp:
    """The ASGI app of the relay routes; anything else under /v1 is One API's `Invalid URL` 404."""
    return RelayApp(Router(relay_routes(), invalid_url))


def serves(path: str) -> bool:
    """Whether a path belongs to the relay app rather than the management API or the console."""
    return path.startswith("/v1/") or path.startswith("/dashboard/billing/") or path.startswith("/v1beta/")
