"""Which per-minute limits apply to a caller: the token's own, else its group's defaults (option GroupRateLimit)."""

from __future__ import annotations

from dataclasses import dataclass

from tollway.options import Options
from tollway.storage.cache import TokenEntry, UserEntry

REQUESTS, TOKENS = "requests", "tokens"


@dataclass(frozen=True, slots=True)
class Limit:
    """One bucket: who it counts (scope and id), what (requests or tokens) and how many per minute."""

    scope: str  # token | user | group
    owner: str  # the token id, user id or group name
    unit: str  # requests | tokens
    per_minute: int

    @property
    def key(self) -> str:
        return f"tollway:rl:{self.scope}:{self.owner}:{self.unit[0]}"

    def describe(self) -> str:
        short = "RPM" if self.unit == REQUESTS else "TPM"
        return f"{self.unit} per minute ({short}) of this {self.scope}: limit {self.per_minute}"


def limits_of(options: Options, token: TokenEntry, user: UserEntry) -> tuple[Limit, ...]:
    """Every limit on a call by this token; empty (and cheap) when none is set."""
    group = options.group_rate_limit.get(user.group)
    if not group and not token.rpm_limit and not token.tpm_limit:
        return ()
    group = group or {}
    found = []
    for unit, own, default_key in ((REQUESTS, token.rpm_limit, "token_rpm"), (TOKENS, token.tpm_limit, "token_tpm")):
        per_minute = own or group.get(default_key, 0)
        if per_minute:
            found.append(Limit("token", str(token.id), unit, per_minute))
    for scope, owner in (("user", str(user.id)), ("group", user.group)):
        for unit, short in ((REQUESTS, "rpm"), (TOKENS, "tpm")):
            per_minute = group.get(f"{scope}_{short}", 0)
            if per_minute:
                found.append(Limit(scope, owner, unit, per_minute))
    return tuple(found)
