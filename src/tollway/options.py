"""One API's database-stored options (reference §9.2): names, defaults, parsing and validation."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tollway.billing import prices
from tollway.errors import InvalidRequest
from tollway.json_objects import NotAnObject, parse_object

_DOMAINS = "gmail.com,163.com,126.com,qq.com,outlook.com,hotmail.com,icloud.com,yahoo.com,foxmail.com"


@dataclass(frozen=True)
class Spec:
    """How one option is typed and what it holds before anyone sets it."""

    kind: str  # "bool" | "int" | "float" | "str" | "ratio" | "limits"
    default: Any
    secret: bool = False


SPECS: dict[str, Spec] = {
    "PasswordLoginEnabled": Spec("bool", True),
    "PasswordRegisterEnabled": Spec("bool", True),
    "RegisterEnabled": Spec("bool", True),
    "EmailVerificationEnabled": Spec("bool", False),
    "EmailDomainRestrictionEnabled": Spec("bool", False),
    "EmailDomainWhitelist": Spec("str", _DOMAINS),
    "GitHubOAuthEnabled": Spec("bool", False),
    "GitHubClientId": Spec("str", ""),
    "GitHubClientSecret": Spec("str", "", secret=True),
    "LarkClientId": Spec("str", ""),
    "LarkClientSecret": Spec("str", "", secret=True),
    "OidcEnabled": Spec("bool", False),
    "OidcClientId": Spec("str", ""),
    "OidcClientSecret": Spec("str", "", secret=True),
    "OidcWellKnown": Spec("str", ""),
    "OidcAuthorizationEndpoint": Spec("str", ""),
    "OidcTokenEndpoint": Spec("str", ""),
    "OidcUserinfoEndpoint": Spec("str", ""),
    "WeChatAuthEnabled": Spec("bool", False),
    "WeChatServerAddress": Spec("str", ""),
    "WeChatServerToken": Spec("str", "", secret=True),
    "WeChatAccountQRCodeImageURL": Spec("str", ""),
    "TurnstileCheckEnabled": Spec("bool", False),
    "TurnstileSiteKey": Spec("str", ""),
    "TurnstileSecretKey": Spec("str", "", secret=True),
    "SMTPServer": Spec("str", ""),
    "SMTPPort": Spec("int", 587),
    "SMTPAccount": Spec("str", ""),
    "SMTPFrom": Spec("str", ""),
    "SMTPToken": Spec("str", "", secret=True),
    "MessagePusherAddress": Spec("str", ""),
    "MessagePusherToken": Spec("str", "", secret=True),
    "ServerAddress": Spec("str", ""),
    "Notice": Spec("str", ""),
    "About": Spec("str", ""),
    "HomePageContent": Spec("str", ""),
    "Footer": Spec("str", ""),
    "SystemName": Spec("str", "Tollway"),
    "Logo": Spec("str", ""),
    "Theme": Spec("str", "default"),
    "TopUpLink": Spec("str", ""),
    "ChatLink": Spec("str", ""),
    "QuotaPerUnit": Spec("float", 500000.0),
    "DisplayInCurrencyEnabled": Spec("bool", True),
    "DisplayTokenStatEnabled": Spec("bool", True),
    "QuotaForNewUser": Spec("int", 0),
    "QuotaForInviter": Spec("int", 0),
    "QuotaForInvitee": Spec("int", 0),
    "QuotaRemindThreshold": Spec("int", 1000),
    "PreConsumedQuota": Spec("int", 500),
    "RetryTimes": Spec("int", 0),
    "AutomaticDisableChannelEnabled": Spec("bool", False),
    "AutomaticEnableChannelEnabled": Spec("bool", False),
    "ChannelDisableThreshold": Spec("float", 5.0),
    # Tollway: (channel, model) pairs that fail step aside (routing/pairs.py).
    "ChannelCooldownEnabled": Spec("bool", True),
    "ChannelCooldownWindow": Spec("int", 60),  # seconds of calls the failure rate is measured over
    "ChannelCooldownMinCalls": Spec("int", 5),  # calls in the window before the rate counts
    "ChannelCooldownFailureRate": Spec("float", 0.5),
    "ChannelCooldownSeconds": Spec("int", 30),  # the first cool-down; each further one doubles
    "ChannelCooldownMaxSeconds": Spec("int", 600),
    # Tollway: inside a priority tier, favour channels with a better recent first-byte time.
    "ChannelPreferFastEnabled": Spec("bool", False),
    # Tollway: per-minute request and token limits of each group's tokens, users and the group as a whole.
    "GroupRateLimit": Spec("limits", {}),
    # Tollway: the bearer secret of GET /metrics (METRICS_TOKEN wins when set); empty turns /metrics off.
    "MetricsToken": Spec("str", "", secret=True),
    # Tollway: every stream ends with a usage chunk, asked for or not (always so for AI Proxy's admin key).
    "StreamUsageAlways": Spec("bool", False),
    "ApproximateTokenEnabled": Spec("bool", False),
    "LogConsumeEnabled": Spec("bool", True),
    "ModelRatio": Spec("ratio", prices.MODEL_RATIO),
    "CompletionRatio": Spec("ratio", prices.COMPLETION_RATIO),
    "GroupRatio": Spec("ratio", prices.GROUP_RATIO),
}

# Option names by type, so that mypy rejects a misspelt name and each accessor's answer is typed
# (tests/test_options.py checks that they list SPECS exactly).
Flag = Literal[
    "PasswordLoginEnabled",
    "PasswordRegisterEnabled",
    "RegisterEnabled",
    "EmailVerificationEnabled",
    "EmailDomainRestrictionEnabled",
    "GitHubOAuthEnabled",
    "OidcEnabled",
    "WeChatAuthEnabled",
    "TurnstileCheckEnabled",
    "DisplayInCurrencyEnabled",
    "DisplayTokenStatEnabled",
    "AutomaticDisableChannelEnabled",
    "AutomaticEnableChannelEnabled",
    "ChannelCooldownEnabled",
    "ChannelPreferFastEnabled",
    "StreamUsageAlways",
    "ApproximateTokenEnabled",
    "LogConsumeEnabled",
]

Whole = Literal[
    "SMTPPort",
    "QuotaForNewUser",
    "QuotaForInviter",
    "QuotaForInvitee",
    "QuotaRemindThreshold",
    "PreConsumedQuota",
    "RetryTimes",
    "ChannelCooldownWindow",
    "ChannelCooldownMinCalls",
    "ChannelCooldownSeconds",
    "ChannelCooldownMaxSeconds",
]

Number = Literal[
    "QuotaPerUnit",
    "ChannelDisableThreshold",
    "ChannelCooldownFailureRate",
]

Text = Literal[
    "EmailDomainWhitelist",
    "GitHubClientId",
    "GitHubClientSecret",
    "LarkClientId",
    "LarkClientSecret",
    "OidcClientId",
    "OidcClientSecret",
    "OidcWellKnown",
    "OidcAuthorizationEndpoint",
    "OidcTokenEndpoint",
    "OidcUserinfoEndpoint",
    "WeChatServerAddress",
    "WeChatServerToken",
    "WeChatAccountQRCodeImageURL",
    "TurnstileSiteKey",
    "TurnstileSecretKey",
    "SMTPServer",
    "SMTPAccount",
    "SMTPFrom",
    "SMTPToken",
    "MessagePusherAddress",
    "MessagePusherToken",
    "ServerAddress",
    "Notice",
    "About",
    "HomePageContent",
    "Footer",
    "SystemName",
    "Logo",
    "Theme",
    "TopUpLink",
    "ChatLink",
    "MetricsToken",
]

Name = Flag | Whole | Number | Text | Literal["GroupRateLimit", "ModelRatio", "CompletionRatio", "GroupRatio"]

_NON_NEGATIVE = {
    "QuotaPerUnit",
    "QuotaForNewUser",
    "QuotaForInviter",
    "QuotaForInvitee",
    "QuotaRemindThreshold",
    "PreConsumedQuota",
    "RetryTimes",
    "ChannelDisableThreshold",
    "SMTPPort",
}
# Integer options with their smallest and largest values.
_RANGES: dict[str, tuple[int, int]] = {
    "ChannelCooldownWindow": (10, 3600),
    "ChannelCooldownMinCalls": (1, 10_000),
    "ChannelCooldownSeconds": (1, 86_400),
    "ChannelCooldownMaxSeconds": (1, 7 * 86_400),
}
# What a group's rate limit may set, each a count per minute (0: no limit).
LIMIT_KEYS = ("token_rpm", "token_tpm", "user_rpm", "user_tpm", "group_rpm", "group_tpm")


def parse(key: str, raw: Any) -> Any:
    """Convert a stored or submitted value to the option's type, or raise InvalidRequest saying why."""
    spec = SPECS.get(key)
    if spec is None:
        raise InvalidRequest(f"unknown option {key!r}")
    if raw is None:
        raw = ""  # One API's option values are Go strings: JSON null arrives as ""
    if spec.kind not in ("ratio", "limits") and isinstance(raw, dict | list):
        raise InvalidRequest(f"option {key} must be a single value, not a JSON {type(raw).__name__}")
    text = raw if isinstance(raw, str) else json.dumps(raw) if spec.kind in ("ratio", "limits") else str(raw)
    try:
        if spec.kind == "bool":
            if text.lower() not in {"true", "false", "1", "0"}:
                raise ValueError("must be true or false")
            return text.lower() in {"true", "1"}
        if spec.kind == "int":
            value: Any = int(_finite(float(text)))
            if not -(2**63) <= value < 2**63:
                raise ValueError("is out of range")
        elif spec.kind == "float":
            value = _finite(float(text))
        elif spec.kind == "ratio":
            return _parse_ratio(text)
        elif spec.kind == "limits":
            return _parse_limits(text)
        else:
            return text
    except ValueError as exc:
        raise InvalidRequest(f"option {key}: {exc}") from exc
    if key in _NON_NEGATIVE and value < 0:
        raise InvalidRequest(f"option {key} must not be negative")
    if key == "QuotaPerUnit" and value == 0:
        raise InvalidRequest("option QuotaPerUnit must be positive")
    if key == "SMTPPort" and not 1 <= value <= 65535:
        raise InvalidRequest("option SMTPPort must be between 1 and 65535")
    if key in _RANGES and not _RANGES[key][0] <= value <= _RANGES[key][1]:
        raise InvalidRequest(f"option {key} must be between {_RANGES[key][0]} and {_RANGES[key][1]}")
    if key == "ChannelCooldownFailureRate" and not 0 < value <= 1:
        raise InvalidRequest("option ChannelCooldownFailureRate must be more than 0 and at most 1")
    return value


def _object(text: str, shape: str) -> dict[str, Any]:
    """The option's JSON object (read by the standard library, whose messages the API has always shown)."""
    try:
        return parse_object(text, json.loads)
    except NotAnObject as exc:
        if exc.error is None:
            raise ValueError(f"must be a JSON object of {shape}") from None
        raise ValueError(f"is not valid JSON ({exc.error.msg})") from exc.error


def _parse_ratio(text: str) -> dict[str, float]:
    data = _object(text, "name: number")
    ratios: dict[str, float] = {}
    for name, value in data.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
            raise ValueError(f"the ratio of {name!r} must be a non-negative number")
        ratios[str(name)] = float(value)
    return ratios


def _parse_limits(text: str) -> dict[str, dict[str, int]]:
    """`{"group": {"token_rpm": 60, "user_tpm": 100000, ...}}`: whole non-negative numbers of the known keys."""
    if not text.strip():
        return {}
    data = _object(text, "group name: {limit: number}")
    groups: dict[str, dict[str, int]] = {}
    for group, limits in data.items():
        if not isinstance(limits, dict):
            raise ValueError(f"the limits of group {group!r} must be an object such as {{\"token_rpm\": 60}}")
        checked: dict[str, int] = {}
        for name, value in limits.items():
            if name not in LIMIT_KEYS:
                raise ValueError(f"group {group!r}: unknown limit {name!r} (known: {', '.join(LIMIT_KEYS)})")
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**53:
                raise ValueError(f"group {group!r}: {name} must be a whole number, 0 or more")
            if value:
                checked[name] = value
        groups[str(group)] = checked
    return groups


def _finite(number: float) -> float:
    # NaN or infinity would poison every price computed from the option.
    if not math.isfinite(number):
        raise ValueError("must be a finite number")
    return number


def serialize(key: str, value: Any) -> str:
    """The text stored in the `options` table, in One API's format."""
    kind = SPECS[key].kind
    if kind == "bool":
        return "true" if value else "false"
    if kind in ("ratio", "limits"):
        return json.dumps(value, ensure_ascii=False)
    if kind == "float" and float(value).is_integer():
        return str(int(value))
    return str(value)


class Options:
    """The current option values; built from the `options` rows over the defaults."""

    def __init__(self, stored: Mapping[str, str] | None = None) -> None:
        # Values worked out from these options (prices per model), kept as long as the options are current.
        self.derived: dict[Any, Any] = {}
        self.values: dict[str, Any] = {key: spec.default for key, spec in SPECS.items()}
        for key, raw in (stored or {}).items():
            if key not in SPECS:
                continue
            try:
                value = parse(key, raw)
            except InvalidRequest:
                continue  # a bad stored value keeps the default rather than stopping the service
            if SPECS[key].kind == "ratio" and key != "GroupRatio":
                # New built-in prices join the stored table, as One API's AddNewMissingRatio does.
                value = {**SPECS[key].default, **value}
            self.values[key] = value

    def __getitem__(self, key: Name) -> Any:
        return self.values[key]

    def flag(self, name: Flag) -> bool:
        """A true/false option."""
        return bool(self.values[name])

    def whole(self, name: Whole) -> int:
        """A whole-number option."""
        return int(self.values[name])

    def number(self, name: Number) -> float:
        """A decimal option."""
        return float(self.values[name])

    def text(self, name: Text) -> str:
        """A text option."""
        return str(self.values[name])

    @property
    def group_rate_limit(self) -> dict[str, dict[str, int]]:
        limits: dict[str, dict[str, int]] = self.values["GroupRateLimit"]
        return limits

    def public(self) -> list[dict[str, str]]:
        """Every option but the secrets, as One API's `GET /api/option/` lists them."""
        return [
            {"key": key, "value": serialize(key, value)}
            for key, value in self.values.items()
            if not SPECS[key].secret
        ]

    @property
    def quota_per_unit(self) -> float:
        return float(self.values["QuotaPerUnit"])

    @property
    def pre_consumed_quota(self) -> int:
        return int(self.values["PreConsumedQuota"])

    @property
    def retry_times(self) -> int:
        return int(self.values["RetryTimes"])

    @property
    def model_ratio(self) -> dict[str, float]:
        ratios: dict[str, float] = self.values["ModelRatio"]
        return ratios

    @property
    def completion_ratio(self) -> dict[str, float]:
        ratios: dict[str, float] = self.values["CompletionRatio"]
        return ratios

    @property
    def group_ratio(self) -> dict[str, float]:
        ratios: dict[str, float] = self.values["GroupRatio"]
        return ratios
