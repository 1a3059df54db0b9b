"""The in-memory copy of users, tokens, channels and options that the relay reads instead of the database.

Entries are updated in place, never replaced, because requests in flight hold them and settle their
quota on them; the keeper writes what they owe back to the database and reloads them (storage/keeper.py).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tollway.crypto import KeyBox
from tollway.json_objects import stored_object
from tollway.options import Options
from tollway.storage.channel_secrets import open_config

log = logging.getLogger(__name__)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# A database row as SQLAlchemy returns it (`RowMapping`) or as a plain dict.
Row = Mapping[Any, Any]


@dataclass(eq=False, slots=True)
class Balance:
    """A quota figure: what the database holds, what is settled but not yet written, what is on hold.

    A user's quota and a limited token's remain are spent from a lease (storage/leases.py): `lease` is the slice of
    the database's figure this process holds (as the database records it), `leased` every process's slices together
    as last read. Calls spend only from this process's slice, so several processes never spend the same quota.
    """

    stored: int = 0
    unwritten: int = 0
    held: int = 0
    lease: int = 0
    leased: int = 0

    @property
    def value(self) -> int:
        """The figure as the database will hold it once written."""
        return self.stored + self.unwritten

    # A figure as it stands, from the row just read: the row holds what every process has written (other workers' and
    # nodes' flushes included, which `stored` does not see), and this process adds what it has not written yet. Should a
    # flush of this process commit between the read and now, the row lacks what has just moved to `stored`: so a
    # running total is the larger of the two readings and a balance the smaller, exact with one process and, with
    # several, short only of what the others have not written yet.

    def total_now(self, read: Any) -> int:
        """A running total (used quota, request count), given its column as just read from the database."""
        return self.value if read is None else max(int(read) + self.unwritten, self.value)

    def left_now(self, read: Any) -> int:
        """A balance that calls spend (remaining quota), given its column as just read from the database."""
        return self.value if read is None else min(int(read) + self.unwritten, self.value)

    @property
    def available(self) -> int:
        """The figure less what this process holds for calls in flight (other processes' calls not counted)."""
        return self.stored + self.unwritten - self.held

    @property
    def spendable(self) -> int:
        """What calls of this process may still hold without asking the database for more."""
        return self.lease + self.unwritten - self.held


@dataclass(eq=False)
class UserEntry:
    id: int
    username: str
    role: int
    status: int
    group: str
    access_token: str | None
    email: str = ""  # where low-quota reminders go
    quota: Balance = field(default_factory=Balance)
    used_quota: Balance = field(default_factory=Balance)
    request_count: Balance = field(default_factory=Balance)


@dataclass(eq=False)
class TokenEntry:
    id: int
    user_id: int
    key: str
    name: str
    status: int
    expired_time: int
    unlimited: bool
    models: frozenset[str] | None
    subnets: tuple[IPNetwork, ...] | None
    remain: Balance = field(default_factory=Balance)
    used: Balance = field(default_factory=Balance)
    # Requests and tokens per minute set on the token (0: the group's default applies).
    rpm_limit: int = 0
    tpm_limit: int = 0


@dataclass(eq=False)
class ChannelEntry:
    id: int
    type: int
    key: str
    status: int
    name: str
    weight: int
    priority: int
    base_url: str
    models: list[str]
    groups: list[str]
    model_mapping: dict[str, str]
    config: dict[str, Any]
    system_prompt: str
    used: Balance = field(default_factory=Balance)
    # The key or a secret config field could not be opened (sealed with another ENCRYPTION_KEY).
    unreadable: bool = False


def split_list(text: str | None) -> list[str]:
    """Comma-separated names, trimmed, empty ones and duplicates dropped."""
    seen: dict[str, None] = {}
    for part in (text or "").split(","):
        name = part.strip()
        if name:
            seen.setdefault(name, None)
    return list(seen)


def abilities(groups: Iterable[str], models: Iterable[str]) -> Iterable[tuple[str, str]]:
    """The (group, model) pairs a channel serves: the cross product of its groups and models (One API's abilities)."""
    models = list(models)
    for group in groups:
        for model in models:
            yield group, model


def parse_subnets(text: str | None) -> tuple[IPNetwork, ...] | None:
    """Comma-separated CIDRs (or bare addresses); None when the token is not limited by address."""
    names = split_list(text)
    if not names:
        return None
    return tuple(ipaddress.ip_network(name, strict=False) for name in names)


class Cache:
    """Users, tokens, channels and options held in memory for the request path.

    What is built from the channels (routing/current.py's routing table) watches them through `watch_channels`.
    """

    def __init__(self, keybox: KeyBox) -> None:
        self.keybox = keybox
        self.users: dict[int, UserEntry] = {}
        self.tokens: dict[str, TokenEntry] = {}
        self.tokens_by_id: dict[int, TokenEntry] = {}
        self.channels: dict[int, ChannelEntry] = {}
        self.access_tokens: dict[str, int] = {}
        self.options = Options()
        self._channel_watchers: list[Callable[[], None]] = []
        # Entries with settled quota the database does not have yet; the keeper drains these.
        self.dirty_users: set[UserEntry] = set()
        self.dirty_tokens: set[TokenEntry] = set()
        self.dirty_channels: set[ChannelEntry] = set()

    # -- users -------------------------------------------------------------------------------------------

    def put_user(self, row: Row) -> UserEntry:
        """Insert or refresh a user from its database row."""
        entry = self.users.get(row["id"])
        if entry is None:
            entry = self.users[row["id"]] = UserEntry(
                id=row["id"], username="", role=1, status=1, group="default", access_token=None
            )
        if entry.access_token and self.access_tokens.get(entry.access_token) == entry.id:
            del self.access_tokens[entry.access_token]
        entry.username = row["username"] or ""
        entry.role = int(row["role"] or 0)
        entry.status = int(row["status"] or 0)
        entry.group = row["group"] or "default"
        entry.access_token = row["access_token"] or None
        entry.email = row.get("email") or ""
        entry.quota.stored = int(row["quota"] or 0)
        entry.quota.leased = int(row.get("leased") or 0)
        entry.used_quota.stored = int(row["used_quota"] or 0)
        entry.request_count.stored = int(row["request_count"] or 0)
        if entry.access_token:
            self.access_tokens[entry.access_token] = entry.id
        return entry

    def drop_user(self, user_id: int) -> None:
        entry = self.users.pop(user_id, None)
        if entry and entry.access_token:
            self.access_tokens.pop(entry.access_token, None)

    # -- tokens ------------------------------------------------------------------------------------------

    def put_token(self, row: Row) -> TokenEntry:
        """Insert or refresh a token from its database row."""
        entry = self.tokens_by_id.get(row["id"])
        if entry is None:
            entry = TokenEntry(
                id=row["id"], user_id=0, key="", name="", status=1, expired_time=-1, unlimited=False,
                models=None, subnets=None,
            )
            self.tokens_by_id[entry.id] = entry
        if entry.key and entry.key != row["key"]:
            self.tokens.pop(entry.key, None)
        entry.user_id = int(row["user_id"] or 0)
        entry.key = row["key"]
        entry.name = row["name"] or ""
        entry.status = int(row["status"] or 0)
        entry.expired_time = int(row["expired_time"] if row["expired_time"] is not None else -1)
        entry.unlimited = bool(row["unlimited_quota"])
        models = split_list(row["models"])
        entry.models = frozenset(models) if models else None
        try:
            entry.subnets = parse_subnets(row["subnet"])
        except ValueError:
            log.error("token %s has an invalid subnet %r; it will be refused", entry.id, row["subnet"])
            entry.subnets = ()
        entry.remain.stored = int(row["remain_quota"] or 0)
        entry.remain.leased = int(row.get("leased") or 0)
        entry.used.stored = int(row["used_quota"] or 0)
        entry.rpm_limit = max(0, int(row.get("rpm_limit") or 0))
        entry.tpm_limit = max(0, int(row.get("tpm_limit") or 0))
        self.tokens[entry.key] = entry
        return entry

    def drop_token(self, token_id: int) -> None:
        entry = self.tokens_by_id.pop(token_id, None)
        if entry:
            self.tokens.pop(entry.key, None)

    # -- channels ----------------------------------------------------------------------------------------

    def put_channel(self, row: Row, *, announce: bool = True) -> ChannelEntry:
        """Insert or refresh a channel from its database row (opening its sealed key); `announce=False` leaves telling
        the watchers to the caller, once a batch of channels is in."""
        entry = self.channels.get(row["id"])
        if entry is None:
            entry = self.channels[row["id"]] = ChannelEntry(
                id=row["id"], type=0, key="", status=1, name="", weight=0, priority=0, base_url="",
                models=[], groups=[], model_mapping={}, config={}, system_prompt="",
            )
        entry.unreadable = False
        try:
            entry.key = self.keybox.open(row["key"] or "")
        except ValueError as exc:
            log.error("channel %s: %s; it is left out of routing", row["id"], exc)
            entry.key, entry.unreadable = "", True
        entry.type = int(row["type"] or 0)
        entry.status = int(row["status"] or 0)
        entry.name = row["name"] or ""
        entry.weight = int(row["weight"] or 0)
        entry.priority = int(row["priority"] or 0)
        entry.base_url = (row["base_url"] or "").strip()
        entry.models = split_list(row["models"])
        entry.groups = split_list(row["group"]) or ["default"]
        entry.model_mapping = {str(k): str(v) for k, v in stored_object(row["model_mapping"]).items() if v}
        try:
            config = open_config(row["config"], self.keybox)
        except ValueError as exc:
            log.error("channel %s: its config %s; it is left out of routing", row["id"], exc)
            config, entry.unreadable = {}, True
        if row["other"] and not config.get("api_version"):
            # One API's deprecated `other` field carried the API version, library id or plugin.
            config.setdefault("api_version", row["other"])
            config.setdefault("library_id", row["other"])
            config.setdefault("plugin", row["other"])
        entry.config = config
        entry.system_prompt = row["system_prompt"] or ""
        entry.used.stored = int(row["used_quota"] or 0)
        if announce:
            self.channels_changed()
        return entry

    def drop_channel(self, channel_id: int) -> None:
        if self.channels.pop(channel_id, None) is not None:
            self.channels_changed()

    def routable_channels(self) -> list[ChannelEntry]:
        """The channels whose key and config could be opened (the others are left out of routing)."""
        return [c for c in self.channels.values() if not c.unreadable]

    def watch_channels(self, watcher: Callable[[], None]) -> None:
        """Call `watcher` (synchronously, without awaiting) every time the channels change."""
        self._channel_watchers.append(watcher)

    def channels_changed(self) -> None:
        """Tell the watchers that channels were added, changed or removed."""
        for watcher in self._channel_watchers:
            watcher()

    # -- whole reloads -----------------------------------------------------------------------------------

    def replace_all(
        self,
        users: Iterable[Row],
        tokens: Iterable[Row],
        channels: Iterable[Row],
        options: Mapping[str, str],
    ) -> None:
        """Refresh everything from full table reads, keeping entries that requests still hold."""
        user_ids = {self.put_user(row).id for row in users}
        for user_id in set(self.users) - user_ids:
            self.drop_user(user_id)
        token_ids = {self.put_token(row).id for row in tokens}
        for token_id in set(self.tokens_by_id) - token_ids:
            self.drop_token(token_id)
        channel_ids = {self.put_channel(row, announce=False).id for row in channels}
        for channel_id in set(self.channels) - channel_ids:
            self.channels.pop(channel_id, None)
        self.channels_changed()
        self.options = Options(options)
