"""Copying a One API database into Tollway's: users, tokens, channels, options, redemption codes and, on request, logs.

Idempotent: a row already in Tollway is left as it is and reported as skipped (users by name, tokens and codes by
key, channels by type, name, base URL and key, options by value), and logs continue after the last one a previous
import brought (a mark per source database). Channels keep One API's type numbers, their keys (sealed), models,
mapping, groups, priority, weight, status and config; users keep their bcrypt password hashes (Tollway verifies
them and upgrades them at the next sign-in); tokens keep their `sk-` keys. Everything but the logs is written in
one transaction: an import that fails changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tollway.crypto import KeyBox
from tollway.errors import InvalidRequest
from tollway.options import SPECS, parse, serialize
from tollway.storage import changes
from tollway.storage.channel_secrets import merged_config
from tollway.storage.database import DatabaseError, Engine
from tollway.storage.one_api_source import OneApiSource
from tollway.storage.one_api_target import ImportTarget, imported_logs_mark, write_imported_logs

LOG_BATCH = 1000
_USER_FIELDS = ("username", "password", "display_name", "role", "status", "email", "github_id", "wechat_id",
                "lark_id", "oidc_id", "quota", "used_quota", "request_count", "group")
_TOKEN_FIELDS = ("status", "name", "created_time", "accessed_time", "expired_time", "remain_quota",
                 "unlimited_quota", "used_quota", "models", "subnet")
_CHANNEL_FIELDS = ("type", "status", "name", "weight", "created_time", "test_time", "response_time", "base_url",
                   "other", "balance", "balance_updated_time", "models", "group", "used_quota", "model_mapping",
                   "priority", "system_prompt")
_CODE_FIELDS = ("status", "name", "quota", "created_time", "redeemed_time")
_LOG_FIELDS = ("created_at", "type", "content", "username", "token_name", "model_name", "quota", "prompt_tokens",
               "completion_tokens", "request_id", "elapsed_time", "is_stream", "system_prompt_reset")
_BOOLEANS = {"unlimited_quota", "is_stream", "system_prompt_reset"}


@dataclass
class Report:
    """What an import brought, what it left and why, and what failed (AI Proxy answers the failures)."""

    imported: Counter[str] = field(default_factory=Counter)
    skipped: dict[str, Counter[str]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    def skip(self, table: str, why: str) -> None:
        self.skipped.setdefault(table, Counter())[why] += 1

    def as_json(self) -> dict[str, Any]:
        return {"imported": dict(self.imported), "skipped": {t: dict(r) for t, r in self.skipped.items()},
                "failed": self.failed}

    def summary(self) -> str:
        """One line for the operator: counts per table, and each reason for skipping with its count."""
        parts = [f"imported {', '.join(f'{n} {t}' for t, n in self.imported.items()) or 'nothing'}"]
        for table, reasons in self.skipped.items():
            parts.append(f"skipped {table}: " + "; ".join(f"{n} {why}" for why, n in reasons.items()))
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        return ". ".join(parts)


def _values(row: dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """The columns the source has among `names`, booleans as booleans (MySQL and SQLite give 0/1)."""
    found = {name: row[name] for name in names if name in row}
    for name in _BOOLEANS & found.keys():
        found[name] = bool(found[name])
    return found


@dataclass
class Importer:
    """One import run: the source database, the sealing key and what maps to what."""

    source: OneApiSource
    keybox: KeyBox
    report: Report = field(default_factory=Report)
    loaded: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # the source rows but the logs
    users: dict[int, int] = field(default_factory=dict)  # source user id -> Tollway user id
    channels: dict[int, int] = field(default_factory=dict)  # source channel id -> Tollway channel id

    async def load(self) -> None:
        """Read every source table but the logs (so that the target's transaction never waits on the source)."""
        if not self.source.has("channels") or not self.source.has("users"):
            raise InvalidRequest("that database has no One API tables (users, channels)", param="dsn")
        for name in ("users", "tokens", "channels", "options", "redemptions"):
            self.loaded[name] = await self.source.rows(name)

    async def _source_rows(self, name: str) -> list[dict[str, Any]]:
        return self.loaded.get(name, [])

    async def run(self, target: ImportTarget) -> None:
        """Everything but the logs, in the target's transaction (after `load`)."""
        await self._users(target)
        await self._tokens(target)
        await self._channels(target)
        await self._options(target)
        await self._codes(target)
        # Other processes route the new channels within seconds; users and tokens they load on first use.
        if self.channels:
            await target.record_change(changes.CHANNEL, sorted(set(self.channels.values())))

    async def _users(self, target: ImportTarget) -> None:
        existing = await target.user_ids_by_name()
        taken = {column: await target.taken_user_values(column) for column in ("access_token", "aff_code")}
        inviters: list[tuple[int, int]] = []
        for row in await self._source_rows("users"):
            name = row.get("username")
            if not name or not row.get("password"):
                self.report.failed.append(f"user {row.get('id')}: no username or password")
                continue
            if name in existing:
                self.users[row["id"]] = existing[name]
                self.report.skip("users", "already in Tollway (kept as they are; their tokens and logs join them)")
                continue
            values = _values(row, _USER_FIELDS)
            for column in ("access_token", "aff_code"):
                value = row.get(column) or None
                values[column] = value if value not in taken[column] else None
                if value in taken[column]:
                    self.report.skip(f"users' {column}", "held by another Tollway user (left empty)")
                elif value:
                    taken[column].add(value)
            self.users[row["id"]] = existing[name] = await target.insert_user(values)
            if row.get("inviter_id"):
                inviters.append((self.users[row["id"]], int(row["inviter_id"])))
            self.report.imported["users"] += 1
        for user_id, inviter in inviters:
            await target.set_inviter(user_id, self.users.get(inviter, 0))

    async def _tokens(self, target: ImportTarget) -> None:
        existing = await target.token_keys()
        for row in await self._source_rows("tokens"):
            key = row.get("key")
            if not key:
                self.report.failed.append(f"token {row.get('id')}: no key")
            elif key in existing:
                self.report.skip("tokens", "key already in Tollway")
            elif row.get("user_id") not in self.users:
                self.report.skip("tokens", "owner is not a One API user")
            else:
                await target.insert_token({"key": key, "user_id": self.users[row["user_id"]],
                                           **_values(row, _TOKEN_FIELDS)})
                existing.add(key)
                self.report.imported["tokens"] += 1

    def _fingerprint(self, kind: Any, name: Any, base_url: Any, key: str) -> tuple[int, str, str, str]:
        return int(kind or 0), str(name or ""), str(base_url or "").rstrip("/"), key

    async def _channels(self, target: ImportTarget) -> None:
        existing: dict[tuple[int, str, str, str], int] = {}
        for ours in await target.channels():
            try:
                key = self.keybox.open(ours["key"] or "")
            except ValueError:
                continue
            existing[self._fingerprint(ours["type"], ours["name"], ours["base_url"], key)] = ours["id"]
        for row in await self._source_rows("channels"):
            key = str(row.get("key") or "")
            print_ = self._fingerprint(row.get("type"), row.get("name"), row.get("base_url"), key)
            if print_ in existing:
                self.channels[row["id"]] = existing[print_]
                self.report.skip("channels", "already in Tollway (same type, name, base URL and key)")
                continue
            values = _values(row, _CHANNEL_FIELDS)
            values["key"] = self.keybox.seal(key)
            values["group"] = values.get("group") or "default"
            values["base_url"] = values.get("base_url") or ""
            if row.get("config"):
                try:
                    values["config"] = merged_config(str(row["config"]), None, self.keybox)
                except ValueError:
                    self.report.failed.append(f"channel {row['id']} ({row.get('name')}): its config is not JSON; "
                                              "imported without it")
            channel_id = await target.insert_channel(values)
            self.channels[row["id"]] = existing[print_] = channel_id
            self.report.imported["channels"] += 1

    async def _options(self, target: ImportTarget) -> None:
        stored = await target.option_texts()
        changed = False
        for row in await self._source_rows("options"):
            key, raw = str(row.get("key") or ""), row.get("value")
            if key not in SPECS:
                self.report.skip("options", "not an option Tollway has")
                continue
            try:
                text = serialize(key, parse(key, raw))
            except InvalidRequest as exc:
                self.report.failed.append(f"option {key}: {exc.message}")
                continue
            if stored.get(key) == text:
                self.report.skip("options", "already set to the same value")
                continue
            await target.put_option(key, text, stored=key in stored)
            changed = True
            self.report.imported["options"] += 1
        if changed:
            await target.record_change(changes.OPTIONS)  # other processes reload options

    async def _codes(self, target: ImportTarget) -> None:
        existing = await target.code_keys()
        for row in await self._source_rows("redemptions"):
            key = row.get("key")
            if not key:
                self.report.failed.append(f"redemption code {row.get('id')}: no key")
            elif key in existing:
                self.report.skip("redemptions", "code already in Tollway")
            else:
                await target.insert_code({"key": key, "user_id": self.users.get(row.get("user_id") or 0, 0),
                                          **_values(row, _CODE_FIELDS)})
                existing.add(key)
                self.report.imported["redemptions"] += 1

    async def logs(self, log_engine: Engine, mark: str, read_failed: Callable[[BaseException], Exception]) -> None:
        """Logs after the last one an earlier import of this source brought, in batches each with its mark."""
        if not self.source.has("logs"):
            return
        after = await imported_logs_mark(log_engine, mark)
        if after:
            self.report.skip("logs", f"brought by an earlier import (up to source log {after})")
        while True:
            try:
                batch = await self.source.rows("logs", after=after, limit=LOG_BATCH)
            except DatabaseError as exc:
                raise read_failed(exc) from None
            if not batch:
                return
            copied = [{**_values(row, _LOG_FIELDS), "user_id": self.users.get(row.get("user_id") or 0, 0),
                       "channel_id": self.channels.get(row.get("channel_id") or 0, 0)} for row in batch]
            after = int(batch[-1]["id"])
            await write_imported_logs(log_engine, copied, mark, after)
            self.report.imported["logs"] += len(copied)
