"""Management API plumbing: One API's `{"success","message","data"}` envelope, who is asking, and paging."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from tollway.admin.names import refuse_nul, refuse_nul_query
from tollway.bodies import read_body
from tollway.console.i18n import language_of, translate_message
from tollway.constants import Role, UserStatus
from tollway.errors import AuthenticationFailed, InvalidRequest, PermissionDenied, TollwayError
from tollway.json_objects import NOT_AN_OBJECT, body_object

if TYPE_CHECKING:
    from tollway.services import Services

log = logging.getLogger(__name__)

ITEMS_PER_PAGE = 10
MAX_PAGE_SIZE = 100
# Every integer column is at most a signed 64-bit BIGINT; larger numbers would fail in the database driver.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@dataclass(frozen=True)
class Principal:
    """The signed-in user (by session cookie or access token) a management request acts for."""

    id: int
    username: str
    role: int

    @property
    def is_admin(self) -> bool:
        return self.role >= Role.ADMIN

    @property
    def is_root(self) -> bool:
        return self.role >= Role.ROOT


def envelope(data: Any = None, *, success: bool = True, message: str = "", status: int = 200) -> Response:
    body: dict[str, Any] = {"success": success, "message": message}
    if data is not None or success:
        body["data"] = data
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def ok(data: Any = None, message: str = "") -> Response:
    return envelope(data, message=message)


NOT_SIGNED_IN = "not_signed_in"


def failure(exc: TollwayError, request: Request | None = None) -> Response:
    """An error in the envelope with One API's status: 200 for every refusal (a bad access token, a banned user and
    a role too low included, so One API's web UI shows the message), 401 only when no credentials came at all.
    The message is in the caller's language (the console's `lang` cookie, else Accept-Language)."""
    status = 200
    if exc.code == NOT_SIGNED_IN or exc.status_code in (413, 429) or exc.status_code >= 500:
        status = exc.status_code
    return envelope(success=False, message=said(request, exc.message), status=status)


def said(request: Request | None, message: str) -> str:
    """A message of the management API in the language of the request's sender."""
    return translate_message(message, language_of(request)) if request is not None else message


def principal_of(request: Request, services: Services, *, forget: bool = True) -> Principal | None:
    """The user behind the session cookie or the `Authorization: <access token>` header, if any (a refused session
    is cleared unless `forget` is false)."""
    cache = services.cache
    user_id = request.session.get("id") if "session" in request.scope else None
    if user_id is None:
        header = request.headers.get("authorization", "").strip()
        if not header:
            return None
        token = header[7:].strip() if header[:7].lower() == "bearer " else header
        user_id = cache.access_tokens.get(token)
        if user_id is None:
            raise AuthenticationFailed("access token is invalid", code="invalid_access_token")
    user = cache.users.get(int(user_id))
    if user is None or user.status != UserStatus.ENABLED:
        if forget and "session" in request.scope:
            request.session.clear()
        raise AuthenticationFailed("this account is disabled or no longer exists", code="user_disabled")
    return Principal(id=user.id, username=user.username, role=user.role)


async def signed_in(request: Request, services: Services) -> Principal | None:
    """`principal_of`, reading other processes' latest changes once first when it names a user or access token this
    process has not seen: one created on another worker or node a moment ago (a sign-in there, this call here)."""
    try:
        return principal_of(request, services, forget=False)
    except AuthenticationFailed:
        await services.operations.follower.catch_up(fresh=True)
        return principal_of(request, services)


Handler = Callable[[Request, "Services", Principal], Awaitable[Response]]
PublicHandler = Callable[[Request, "Services"], Awaitable[Response]]


async def answered(request: Request, respond: Callable[[], Awaitable[Response]], *,
                   fail: Callable[[TollwayError, Request], Response] = failure, what: str = "management request",
                   logger: logging.Logger = log) -> Response:
    """`respond()`; a TollwayError is answered by `fail`, anything else is logged and answered as an internal error."""
    try:
        return await respond()
    except TollwayError as exc:
        return fail(exc, request)
    except Exception:
        logger.exception("%s %s %s failed", what, request.method, request.url.path)
        return fail(TollwayError("internal error in Tollway"), request)


def api(min_role: int) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """Make a management endpoint that requires a signed-in user of at least `min_role`."""

    def wrap(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            services: Services = request.app.state.services

            async def respond() -> Response:
                principal = await signed_in(request, services)
                if principal is None:
                    raise AuthenticationFailed("not signed in and no access token provided", code=NOT_SIGNED_IN)
                if principal.role < min_role:
                    raise PermissionDenied("you do not have permission to do this")
                refuse_nul_query(request)
                return await handler(request, services, principal)

            return await answered(request, respond)

        return endpoint

    return wrap


def public(handler: PublicHandler) -> Callable[[Request], Awaitable[Response]]:
    """Make a management endpoint anyone may call."""

    async def endpoint(request: Request) -> Response:
        services: Services = request.app.state.services

        async def respond() -> Response:
            refuse_nul_query(request)
            return await handler(request, services)

        return await answered(request, respond)

    return endpoint


async def read_json(request: Request, services: Services) -> dict[str, Any]:
    """The JSON object in the body, or InvalidRequest saying why not."""
    settings = services.settings
    raw = await read_body(request, settings.max_request_body_bytes, settings.request_body_timeout_s)
    data = body_object(raw, empty=NOT_AN_OBJECT)
    if b"\\u0000" in raw:
        refuse_nul(data)
    return data


def int64(raw: object, name: str) -> int:
    """A query or path value as an integer that fits the database's BIGINT, or InvalidRequest."""
    try:
        value = int(str(raw))
    except ValueError as exc:
        raise InvalidRequest(f"{name} must be an integer") from exc
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidRequest(f"{name} is out of range")
    return value


def page(request: Request) -> tuple[int, int]:
    """(offset, limit) from One API's `p` (0-based page) and an optional `size` (default 10, at most 100)."""
    try:
        number = max(0, int(request.query_params.get("p") or 0))
        size = int(request.query_params.get("size") or request.query_params.get("page_size") or ITEMS_PER_PAGE)
    except ValueError as exc:
        raise InvalidRequest("p and size must be integers") from exc
    size = min(max(1, size), MAX_PAGE_SIZE)
    if number * size > INT64_MAX:
        raise InvalidRequest("p is out of range")
    return number * size, size


def path_id(request: Request, name: str = "id") -> int:
    """An integer path parameter, or InvalidRequest."""
    return int64(request.path_params.get(name, ""), name)


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...], *, default: Any = None) -> Any:
    """A field of a JSON body with its type checked (bool is never accepted as a number)."""
    value = data.get(name, default)
    if value is None:
        return default
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds).replace("str", "string").replace("int", "integer")
        raise InvalidRequest(f"'{name}' must be {names}")
    if isinstance(value, int) and not isinstance(value, bool) and not INT64_MIN <= value <= INT64_MAX:
        raise InvalidRequest(f"'{name}' is out of range")
    return value

