"""Making a new account (password sign-up or a sign-in provider): gifts, the inviter's reward and a default token."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tollway.accounts import keys, rules
from tollway.errors import InvalidRequest
from tollway.options import Options
from tollway.storage import schema, writes
from tollway.storage.keeper import Keeper

users = schema.users
ROLE_COMMON, USER_ENABLED, USER_DELETED = 1, 1, 3
EMAIL_MAX = 50  # One API's validate:"max=50"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def email_address(value: object) -> str:
    """A syntactically valid email address, trimmed, or InvalidRequest."""
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > EMAIL_MAX or not _EMAIL.match(text) or not text.isprintable():
        raise InvalidRequest("a valid email address is required")
    return text


def check_domain(options: Options, email: str) -> None:
    """One API's EmailDomainRestrictionEnabled: only the whitelisted domains may receive codes."""
    if not options["EmailDomainRestrictionEnabled"]:
        return
    domain = email.rpartition("@")[2].lower()
    allowed = {d.strip().lower() for d in str(options["EmailDomainWhitelist"]).split(",") if d.strip()}
    if domain not in allowed:
        raise InvalidRequest("the administrator allows only some email domains, and this address's is not one")


async def email_taken(keeper: Keeper, email: str, *, except_user: int = 0) -> bool:
    async with keeper.engine.connect() as conn:
        found = await conn.execute(select(users.c.id).where(
            func.lower(users.c.email) == email.lower(), users.c.status != USER_DELETED, users.c.id != except_user))
    return found.first() is not None


async def inviter_of(keeper: Keeper, aff_code: object) -> int:
    """The id of the enabled user whose invitation code this is, or 0 (an unknown code is ignored, as in One API)."""
    if not isinstance(aff_code, str) or not aff_code.strip():
        return 0
    async with keeper.engine.connect() as conn:
        found = (await conn.execute(select(users.c.id).where(
            users.c.aff_code == aff_code.strip(), users.c.status == USER_ENABLED))).first()
    return int(found[0]) if found else 0


async def user_with(keeper: Keeper, column: str, value: str) -> Mapping[Any, Any] | None:
    """The (not deleted) user whose `column` (an email or a provider id) equals `value`."""
    async with keeper.engine.connect() as conn:
        return (await conn.execute(select(users).where(
            users.c[column] == value, users.c.status != USER_DELETED).order_by(users.c.id))).mappings().first()


async def free_name(keeper: Keeper, wanted: str, prefix: str) -> str:
    """`wanted` if it is a valid, free username, else `<prefix>_<next id>` (One API's naming) or a random suffix."""
    candidates = []
    if wanted:
        with contextlib.suppress(InvalidRequest):
            candidates.append(rules.username(wanted))
    async with keeper.engine.connect() as conn:
        top = (await conn.execute(select(func.max(users.c.id)))).scalar() or 0
        candidates += [f"{prefix}_{top + 1}", f"{prefix}_{secrets.token_hex(4)}"]
        for name in candidates:
            taken = await conn.execute(select(users.c.id).where(users.c.username == name))
            if taken.first() is None:
                return name
    return f"{prefix}_{secrets.token_hex(8)}"


async def create_account(keeper: Keeper, options: Options, values: dict[str, Any], *, inviter: int = 0) -> Mapping[
        Any, Any]:
    """Insert a common user with QuotaForNewUser, reward invitee and inviter, and give the user a default token.

    `values` holds username, password (already hashed) and display name, plus email or a provider id.
    """
    gift, for_invitee, for_inviter = (int(options[k]) for k in ("QuotaForNewUser", "QuotaForInvitee",
                                                                "QuotaForInviter"))
    row_values = {"role": ROLE_COMMON, "status": USER_ENABLED, "group": "default", "quota": gift,
                  "inviter_id": inviter, **values}
    try:
        row = await writes.insert_user(keeper, row_values)
    except IntegrityError as exc:  # the name was taken by a concurrent sign-up
        raise InvalidRequest(f"username {values['username']} is already taken") from exc
    user_id, name = int(row["id"]), str(row["username"])
    if gift > 0:
        await writes.write_log(keeper, user_id=user_id, username=name, kind=writes.LOG_SYSTEM,
                               content=f"new user gift: {gift} quota")
    if inviter:
        if for_invitee > 0:
            row = await writes.add_user_quota(keeper, user_id, for_invitee)
            await writes.write_log(keeper, user_id=user_id, username=name, kind=writes.LOG_SYSTEM,
                                   content=f"invitation code gift: {for_invitee} quota")
        if for_inviter > 0:
            invited_by = await writes.add_user_quota(keeper, inviter, for_inviter)
            await writes.write_log(keeper, user_id=inviter, username=str(invited_by["username"]),
                                   kind=writes.LOG_SYSTEM, content=f"reward for inviting {name}: {for_inviter} quota")
    now = int(time.time())
    # One API gives every self-registered user an unlimited token named "default", ready to use.
    await writes.insert_token(keeper, {
        "user_id": user_id, "key": keys.token_key(), "name": "default", "status": 1, "created_time": now,
        "accessed_time": now, "expired_time": -1, "remain_quota": 0, "unlimited_quota": True, "used_quota": 0,
        "models": "", "subnet": ""})
    return row
