"""Reading users: by id, name, email or a provider id, pages of them for the API and the console, taken names.

Writes go through storage/writes.py; `insert_unless_taken` and `update_unless_taken` only turn a clash on a
unique column into `UsernameTaken`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, desc, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from tollway.constants import UserStatus
from tollway.storage import schema, writes
from tollway.storage.cache import Row
from tollway.storage.keeper import Keeper
from tollway.storage.keywords import keyword_number, like_prefix

users = schema.users

# The sort keys of One API's user list; any other order is newest first.
ORDERS: dict[str, Any] = {"quota": users.c.quota, "used_quota": users.c.used_quota,
                          "request_count": users.c.request_count}


class UsernameTaken(Exception):
    """A concurrent request took the username (or another unique value) first; nothing changed."""


async def user_by_id(engine: AsyncEngine, user_id: int) -> Row | None:
    """The user with this id, deleted or not."""
    async with engine.connect() as conn:
        return (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()


async def active_user_by_name(engine: AsyncEngine, username: str) -> Row | None:
    """The not deleted user with this username."""
    async with engine.connect() as conn:
        return (await conn.execute(select(users).where(users.c.username == username,
                                                       users.c.status != UserStatus.DELETED))).mappings().first()


async def user_for_sign_in(engine: AsyncEngine, name: str) -> Row | None:
    """The not deleted user whose username or email is `name`."""
    async with engine.connect() as conn:
        return (await conn.execute(select(users).where(
            or_(users.c.username == name, users.c.email == name), users.c.status != UserStatus.DELETED
        ))).mappings().first()


async def active_user_by_email(engine: AsyncEngine, email: str) -> Row | None:
    """The oldest not deleted user with this email, compared without case."""
    async with engine.connect() as conn:
        return (await conn.execute(select(users).where(
            func.lower(users.c.email) == email.lower(), users.c.status != UserStatus.DELETED).order_by(users.c.id)
        )).mappings().first()


async def active_user_with(engine: AsyncEngine, column: str, value: str) -> Row | None:
    """The oldest not deleted user whose `column` (an email or a provider id) equals `value`."""
    async with engine.connect() as conn:
        return (await conn.execute(select(users).where(
            users.c[column] == value, users.c.status != UserStatus.DELETED).order_by(users.c.id))).mappings().first()


async def email_in_use(engine: AsyncEngine, email: str, *, except_user: int = 0) -> bool:
    """Whether a not deleted user other than `except_user` has this email, compared without case."""
    async with engine.connect() as conn:
        found = await conn.execute(select(users.c.id).where(
            func.lower(users.c.email) == email.lower(), users.c.status != UserStatus.DELETED,
            users.c.id != except_user))
    return found.first() is not None


async def enabled_user_with_aff_code(engine: AsyncEngine, aff_code: str) -> int | None:
    """The id of the enabled user whose invitation code this is."""
    async with engine.connect() as conn:
        found = (await conn.execute(select(users.c.id).where(
            users.c.aff_code == aff_code, users.c.status == UserStatus.ENABLED))).first()
    return int(found[0]) if found else None


async def aff_code_taken(engine: AsyncEngine, aff_code: str) -> bool:
    async with engine.connect() as conn:
        return (await conn.execute(select(users.c.id).where(users.c.aff_code == aff_code))).first() is not None


async def username_taken(engine: AsyncEngine, username: str, *, except_user: int | None = None) -> bool:
    """Whether a user (deleted ones included) other than `except_user` has this username."""
    query = select(users.c.id).where(users.c.username == username)
    if except_user is not None:
        query = query.where(users.c.id != except_user)
    async with engine.connect() as conn:
        return (await conn.execute(query)).first() is not None


async def highest_id(engine: AsyncEngine) -> int:
    """The largest user id so far, 0 when there are no users."""
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.max(users.c.id)))).scalar() or 0)


def _matching(keyword: str | None) -> ColumnElement[bool]:
    """Not deleted, and with a keyword: that id, or a username, email or display name starting with it."""
    match: ColumnElement[bool] = users.c.status != UserStatus.DELETED
    if keyword is not None:
        pattern = like_prefix(keyword)
        found: ColumnElement[bool] = or_(users.c.username.like(pattern, escape="\\"),
                                         users.c.email.like(pattern, escape="\\"),
                                         users.c.display_name.like(pattern, escape="\\"))
        number = keyword_number(keyword)
        if number is not None:
            found = or_(users.c.id == number, found)
        match = match & found
    return match


async def count_users(engine: AsyncEngine, keyword: str | None = None) -> int:
    """How many not deleted users `find_users` pages through."""
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(users).where(_matching(keyword))))
                   .scalar_one())


async def find_users(engine: AsyncEngine, keyword: str | None = None, *, order: str = "", offset: int = 0,
                     limit: int) -> list[Row]:
    """A page of not deleted users matching the keyword (None: all), by `order` (see ORDERS) then newest first."""
    query = (select(users).where(_matching(keyword)).order_by(desc(ORDERS.get(order, users.c.id)), desc(users.c.id))
             .offset(offset).limit(limit))
    async with engine.connect() as conn:
        return list((await conn.execute(query)).mappings().all())


async def store_rehashed_password(engine: AsyncEngine, user_id: int, password_hash: str) -> None:
    """Replace a password hash by a stronger hash of the same password (not cached, so not a cached write)."""
    async with engine.begin() as conn:
        await conn.execute(update(users).where(users.c.id == user_id).values(password=password_hash))


async def insert_unless_taken(keeper: Keeper, values: dict[str, Any]) -> Row:
    """writes.insert_user, with a username taken meanwhile reported as UsernameTaken."""
    try:
        return await writes.insert_user(keeper, values)
    except IntegrityError as exc:
        raise UsernameTaken(str(values.get("username"))) from exc


async def update_unless_taken(keeper: Keeper, user_id: int, values: dict[str, Any]) -> Row:
    """writes.update_user, with a username taken meanwhile reported as UsernameTaken."""
    try:
        return await writes.update_user(keeper, user_id, values)
    except IntegrityError as exc:
        raise UsernameTaken(str(values.get("username"))) from exc

