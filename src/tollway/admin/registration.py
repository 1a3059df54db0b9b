"""Sign-up, email verification codes, binding an email, and password reset by an emailed link (One API's routes)."""

from __future__ import annotations

import html
import secrets
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tollway.accounts import codes, keys, rules, turnstile
from tollway.accounts.mail import MailUnavailable
from tollway.accounts.passwords import hash_password_async
from tollway.accounts.registration import (
    check_domain,
    create_account,
    email_address,
    email_taken,
    inviter_of,
)
from tollway.admin.envelope import Principal, api, ok, principal_of, public, read_json
from tollway.admin.sessions import ensure_free_username
from tollway.constants import Role
from tollway.errors import InvalidRequest, PermissionDenied
from tollway.storage import users as user_store
from tollway.storage import writes

if TYPE_CHECKING:
    from tollway.services import Services

CODE_LENGTH = 6  # One API's verification codes: 6 hex digits
RESET_PASSWORD_LENGTH = 16


async def _turnstile(request: Request, services: Services) -> None:
    await turnstile.check(request, services.cache.options, services.accounts.http,
                          services.settings.turnstile_verify_url)


def _code(value: object) -> str:
    return value.strip().lower() if isinstance(value, str) else ""


@public
async def register(request: Request, services: Services) -> Response:
    """Body `{username, password, email, verification_code, aff_code}`; query `turnstile` when Turnstile is on."""
    options = services.cache.options
    if not options.flag("RegisterEnabled"):
        raise PermissionDenied("the administrator has closed registration")
    if not options.flag("PasswordRegisterEnabled"):
        raise PermissionDenied("the administrator has turned off registration by password; use a sign-in provider")
    await _turnstile(request, services)
    data = await read_json(request, services)
    name = rules.username(data.get("username"))
    password = rules.password(data.get("password"))
    await ensure_free_username(services, name)
    values: dict[str, Any] = {"username": name, "display_name": name}
    if options.flag("EmailVerificationEnabled"):
        code = _code(data.get("verification_code"))
        if not data.get("email") or not code:
            raise InvalidRequest("email verification is on: email and verification_code are required")
        email = email_address(data.get("email"))
        if await email_taken(services.keeper, email):
            raise InvalidRequest("this email address is already taken")
        # Taken only now that everything else is valid, so a bad username does not burn the code.
        if not await services.accounts.codes.take(codes.EMAIL_VERIFICATION, email.lower(), code):
            raise InvalidRequest("the verification code is wrong or has expired")
        values["email"] = email  # an address nobody proved to own is never stored (reset mails go there)
    values["password"] = await hash_password_async(password)
    inviter = await inviter_of(services.keeper, data.get("aff_code"))
    await create_account(services.keeper, options, values, inviter=inviter)
    return ok()


@public
async def send_verification(request: Request, services: Services) -> Response:
    """Mail a 6-character code to `?email=` (for sign-up, or for binding the address to one's account)."""
    options = services.cache.options
    signed_in = principal_of(request, services) is not None
    if not options.flag("RegisterEnabled") and not signed_in:
        raise PermissionDenied("the administrator has closed registration")
    await _turnstile(request, services)
    email = email_address(request.query_params.get("email"))
    check_domain(options, email)
    if await email_taken(services.keeper, email):
        raise InvalidRequest("this email address is already taken")
    code = secrets.token_hex(CODE_LENGTH)[:CODE_LENGTH]
    await services.accounts.codes.put(codes.EMAIL_VERIFICATION, email.lower(), code)
    system = html.escape(options.text("SystemName"))
    await services.accounts.mailer.send(email, f"{options['SystemName']} email verification", (
        f"<p>Hello, you are verifying your email address for {system}.</p>"
        f"<p>Your verification code is: <strong>{code}</strong></p>"
        f"<p>The code is valid for {codes.VALID_S // 60} minutes. If this was not you, ignore this mail.</p>"))
    return ok()


@api(Role.COMMON)
async def bind_email(request: Request, services: Services, principal: Principal) -> Response:
    """`?email&code`: set one's email to an address proved by a verification code."""
    email = email_address(request.query_params.get("email"))
    if await email_taken(services.keeper, email, except_user=principal.id):
        raise InvalidRequest("this email address is already taken")
    if not await services.accounts.codes.take(codes.EMAIL_VERIFICATION, email.lower(),
                                              _code(request.query_params.get("code"))):
        raise InvalidRequest("the verification code is wrong or has expired")
    await writes.update_user(services.keeper, principal.id, {"email": email})
    return ok()


@public
async def send_reset(request: Request, services: Services) -> Response:
    """Mail a reset link for `?email=`; answers the same whether or not the address is registered."""
    options = services.cache.options
    await _turnstile(request, services)
    email = email_address(request.query_params.get("email"))
    if not services.accounts.mailer.configured():
        raise MailUnavailable("the administrator has not configured SMTP (SMTPServer and SMTPFrom or SMTPAccount)")
    user = await user_store.active_user_by_email(services.engine, email)
    if user is not None:
        token = uuid.uuid4().hex
        await services.accounts.codes.put(codes.PASSWORD_RESET, email.lower(), token)
        link = (f"{str(options['ServerAddress']).rstrip('/')}/user/reset?email={quote(user['email'], safe='@')}"
                f"&token={token}")
        system = html.escape(options.text("SystemName"))
        # Sent in the background so that the answer takes as long for an unknown address as for a known one.
        services.accounts.mailer.post(user["email"], f"{options['SystemName']} password reset", (
            f"<p>Hello, you asked to reset your {system} password.</p>"
            f"<p>Open <a href='{html.escape(link)}'>this link</a> to reset it, or copy it into your browser:"
            f"<br>{html.escape(link)}</p>"
            f"<p>The link is valid for {codes.VALID_S // 60} minutes. If this was not you, ignore this mail.</p>"))
    return ok()


@public
async def reset_password(request: Request, services: Services) -> Response:
    """Body `{email, token}` from the reset link: sets a new random password, ends every session, answers it."""
    data = await read_json(request, services)
    email, token = data.get("email"), data.get("token")
    if not isinstance(email, str) or not isinstance(token, str) or not email.strip() or not token.strip():
        raise InvalidRequest("email and token are required")
    if not await services.accounts.codes.take(codes.PASSWORD_RESET, email.strip().lower(), token.strip()):
        raise InvalidRequest("the reset link is invalid or has expired")
    user = await user_store.active_user_by_email(services.engine, email.strip())
    if user is None:
        raise InvalidRequest("the reset link is invalid or has expired")
    password = keys.password(RESET_PASSWORD_LENGTH)
    await writes.update_user(services.keeper, user["id"], {"password": await hash_password_async(password)})
    await services.accounts.sessions.end_user(user["id"])
    return ok(password)


def routes() -> list[Route]:
    return [
        Route("/user/register", register, methods=["POST"]),
        Route("/verification", send_verification, methods=["GET"]),
        Route("/reset_password", send_reset, methods=["GET"]),
        Route("/user/reset", reset_password, methods=["POST"]),
        Route("/oauth/email/bind", bind_email, methods=["GET"]),
    ]
