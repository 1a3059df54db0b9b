"""Making a new account (password sign-up or a sign-in provider): gifts, the inviter's reward and a default token."""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from collections.abc import Mapping
from typing import Any

from tollway.accounts import keys, rules
from tollway.constants import LogType, Role, TokenStatus, UserStatus
from tollway.errors import InvalidRequest
from tollway.options import Options
from tollway.storage import users as user_store
from tollway.storage import writes
from tollway.storage.keeper import Keeper

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
    if not options.flag("EmailDomainRestrictionEnabled"):
        return
    domain = email.rpartition("@")[2].lower()
    allowed = {d.strip().lower() for d in options.text("EmailDomainWhitelist").split(",") if d.strip()}
    if domain not in allowed:
        raise InvalidRequest("the administrator allows only some email domains, and this address's is not one")


async def email_taken(keeper: Keeper, email: str, *, except_user: int = 0) -> bool:
    return await user_store.email_in_use(keeper.engine, email, except_user=except_user)


async def inviter_of(keeper: Keeper, aff_code: object) -> int:
    """The id of the enabled user whose invitation code this is, or 0 (an unknown code is ignored, as in One API)."""
    if not isinstance(aff_code, str) or not aff_code.strip():
        return 0
    return await user_store.enabled_user_with_aff_code(keeper.engine, aff_code.strip()) or 0


async def user_with(keeper: Keeper, column: str, value: str) -> Mapping[Any, Any] | None:
    """The (not deleted) user whose `column` (an email or a provider id) equals `value`."""
    return await user_store.active_user_with(keeper.engine, column, value)


async def free_name(keeper: Keeper, wanted: str, prefix: str) -> str:
    """`wanted` if it is a valid, free username, else `<prefix>_<next id>` (One API's naming) or a random suffix."""
    candidates = []
    if wanted:
        with contextlib.suppress(InvalidRequest):
            candidates.append(rules.username(wanted))
    top = await user_store.highest_id(keeper.engine)
    candidates += [f"{prefix}_{top + 1}", f"{prefix}_{secrets.token_hex(4)}"]
    for name in candidates:
        if not await user_store.username_taken(keeper.engine, name):
            return name
    return f"{prefix}_{secrets.token_hex(8)}"


async def create_account(keeper: Keeper, options: Options, values: dict[str, Any], *, inviter: int = 0) -> Mapping[
        Any, Any]:
    """Insert a common user with QuotaForNewUser, reward invitee and inviter, and give the user a default token.

    `values` holds username, password (already hashed) and display name, plus email or a provider id.
    """
    gift, for_invitee, for_inviter = (int(options[k]) for k in ("QuotaForNewUser", "QuotaForInvitee",
                                                                "QuotaForInviter"))
    row_values = {"role": Role.COMMON, "status": UserStatus.ENABLED, "group": "default", "quota": gift,
                  "inviter_id": inviter, **values}
    try:
        row = await user_store.insert_unless_taken(keeper, row_values)
    except user_store.UsernameTaken as exc:  # the name was taken by a concurrent sign-up
        raise InvalidRequest(f"username {values['username']} is already taken") from exc
    user_id, name = int(row["id"]), str(row["username"])
    if gift > 0:
        await writes.write_log(keeper, user_id=user_id, username=name, kind=LogType.SYSTEM,
                               content=f"new user gift: {gift} quota")
    if inviter:
        if for_invitee > 0:
            row = await writes.add_user_quota(keeper, user_id, for_invitee)
            await writes.write_log(keeper, user_id=user_id, username=name, kind=LogType.SYSTEM,
                                   content=f"invitation code gift: {for_invitee} quota")
        if for_inviter > 0:
            invited_by = await writes.add_user_quota(keeper, inviter, for_inviter)
            await writes.write_log(keeper, user_id=inviter, username=str(invited_by["username"]),
                                   kind=LogType.SYSTEM, content=f"reward for inviting {name}: {for_inviter} quota")
    now = int(time.time())
    # One API gives every self-registered user an unlimited token named "default", ready to use.
    await writes.insert_token(keeper, {
        "user_id": user_id, "key": keys.token_key(), "name": "default", "status": TokenStatus.ENABLED,
        "created_time": now, "accessed_time": now, "expired_time": -1, "remain_quota": 0, "unlimited_quota": True,
        "used_quota": 0, "models": "", "subnet": ""})
    return row
