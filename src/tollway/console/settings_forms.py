"""Root's option forms: which options each settings tab shows, in which groups, as which kind of field.

Labels and hints are English catalog keys; `_` only marks them for the translation check (the page translates
them when it renders).
"""

from __future__ import annotations

import json
from dataclasses import KW_ONLY, dataclass
from typing import Any

from tollway.admin.option_rules import THEMES
from tollway.options import SPECS, Options, serialize

QUOTA_KEYS = frozenset({"QuotaForNewUser", "QuotaForInviter", "QuotaForInvitee", "QuotaRemindThreshold",
                        "PreConsumedQuota"})


def _(text: str) -> str:
    """Marks an English text for translation; translated when the page renders."""
    return text


@dataclass(frozen=True)
class Field:
    """One option as a form field.

    kind: bool (checkbox), int, float, text, url, secret (password, empty means keep), list (comma-separated
    text), json (ratio table), markdown (textarea with a preview), choice (select of `choices`).
    """

    key: str
    label: str
    kind: str
    hint: str = ""
    _: KW_ONLY
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None

    @property
    def wide(self) -> bool:
        return self.kind in ("json", "markdown", "list")


@dataclass(frozen=True)
class Group:
    """A card of related options saved together by one button; `intro` may use {server}."""

    id: str
    title: str
    fields: tuple[Field, ...]
    intro: str = ""


OPERATION = (
    Group("general", _("General"), (
        Field("TopUpLink", _("Top-up link"), "url", _("An external top-up page; the Top up page links to it.")),
        Field("ChatLink", _("Chat link"), "url", _("A chat app's address; the Chat page shows it.")),
        Field("QuotaPerUnit", _("Quota per dollar"), "float",
              _("How many quota units one US dollar buys (One API uses 500000)."), minimum=0),
        Field("RetryTimes", _("Retry times"), "int", _("How many other channels a failed call may try."), minimum=0),
        Field("DisplayInCurrencyEnabled", _("Show quota in dollars"), "bool"),
        Field("DisplayTokenStatEnabled", _("Billing API reports the token's figures"), "bool",
              _("The /dashboard/billing routes answer with the token's quota instead of its owner's.")),
        Field("ApproximateTokenEnabled", _("Approximate token counts"), "bool",
              _("Estimate tokens from the text length instead of counting them exactly (faster, less exact).")),
    )),
    Group("quota", _("Quota settings"), (
        Field("QuotaForNewUser", _("Quota for a new user"), "int", minimum=0),
        Field("PreConsumedQuota", _("Quota held during a call"), "int",
              _("Held while a call runs and settled when it ends."), minimum=0),
        Field("QuotaForInviter", _("Reward for the inviter"), "int", _("Given to a user whose invitation is used."),
              minimum=0),
        Field("QuotaForInvitee", _("Reward for the invited user"), "int",
              _("Given to a new user who registers with an invitation code."), minimum=0),
        Field("QuotaRemindThreshold", _("Low-quota reminder threshold"), "int",
              _("Users whose quota falls below this get a reminder email."), minimum=0),
    )),
    Group("monitoring", _("Monitoring"), (
        Field("ChannelDisableThreshold", _("Slowest acceptable channel test (seconds)"), "float",
              _("A test slower than this disables the channel when automatic disabling is on; 0 turns this off."),
              minimum=0),
        Field("AutomaticDisableChannelEnabled", _("Disable a failing channel automatically"), "bool",
              _("A refused key, a deactivated account or exhausted credit disables the channel at once.")),
        Field("AutomaticEnableChannelEnabled", _("Enable a channel again when its test succeeds"), "bool"),
    )),
    Group("cooldown", _("Failing models step aside"), (
        Field("ChannelCooldownEnabled", _("Let a channel that keeps failing for a model step aside"), "bool",
              _("Its other models keep working; after the cool-down one call decides whether it is back.")),
        Field("ChannelCooldownWindow", _("Failure window (seconds)"), "int", minimum=10, maximum=3600),
        Field("ChannelCooldownMinCalls", _("Calls before the failure rate counts"), "int",
              _("Also this many failures in a row."), minimum=1),
        Field("ChannelCooldownFailureRate", _("Failure rate that starts a cool-down"), "float",
              _("A share of the calls in the window, such as 0.5."), minimum=0, maximum=1),
        Field("ChannelCooldownSeconds", _("First cool-down (seconds)"), "int",
              _("Each further cool-down in a row lasts twice as long."), minimum=1),
        Field("ChannelCooldownMaxSeconds", _("Longest cool-down (seconds)"), "int", minimum=1),
        Field("ChannelPreferFastEnabled", _("Prefer channels with a faster first byte"), "bool",
              _("Within a priority, channels answering faster get more of the calls.")),
    )),
    Group("ratelimits", _("Rate limits"), (
        Field("GroupRateLimit", _("Rate limits per group"), "json",
              _("JSON: group to limits per minute (token_rpm, token_tpm, user_rpm, user_tpm, group_rpm, group_tpm).")),
        Field("MetricsToken", _("Metrics secret"), "secret",
              _("Prometheus sends it as a bearer token to /metrics; empty turns /metrics off.")),
    )),
    Group("logs", _("Log settings"), (
        Field("LogConsumeEnabled", _("Log every call"), "bool",
              _("Consume logs feed the Logs page and the dashboard.")),
    )),
    Group("ratios", _("Ratios"), (
        Field("ModelRatio", _("Model ratios"), "json",
              _("A JSON object of model name to ratio; ratio 1 costs $0.002 per 1K prompt tokens.")),
        Field("CompletionRatio", _("Completion ratios"), "json",
              _("A JSON object of model name to the price of completion tokens relative to prompt tokens.")),
        Field("GroupRatio", _("Group ratios"), "json",
              _("A JSON object of user group to price multiplier; its names are the groups users can be in.")),
    )),
)

SYSTEM = (
    Group("general", _("General"), (
        Field("ServerAddress", _("Server address"), "url",
              _("This gateway's public address for emailed links and sign-in callbacks, e.g. https://llm.example.com")),
    )),
    Group("login", _("Sign-in and registration"), (
        Field("PasswordLoginEnabled", _("Allow sign-in with a password"), "bool"),
        Field("PasswordRegisterEnabled", _("Allow registration with a password"), "bool"),
        Field("RegisterEnabled", _("Allow new users to register"), "bool",
              _("Off also stops new users from signing up through GitHub, OIDC, Lark or WeChat.")),
        Field("EmailVerificationEnabled", _("Require a verified email to register"), "bool",
              _("Needs SMTP below.")),
    )),
    Group("domains", _("Email domains"), (
        Field("EmailDomainWhitelist", _("Allowed email domains"), "list",
              _("Separated by commas, such as gmail.com,qq.com.")),
        Field("EmailDomainRestrictionEnabled", _("Only accept addresses of these domains"), "bool"),
    )),
    Group("smtp", _("SMTP (email)"), (
        Field("SMTPServer", _("SMTP server"), "text", _("A host name such as smtp.example.com, without a port.")),
        Field("SMTPPort", _("SMTP port"), "int", _("465 uses TLS from the start; other ports upgrade when offered."),
              minimum=1, maximum=65535),
        Field("SMTPAccount", _("SMTP account"), "text"),
        Field("SMTPFrom", _("Sender address"), "text", _("Empty means the SMTP account.")),
        Field("SMTPToken", _("SMTP password or token"), "secret"),
    )),
    Group("github", "GitHub", (
        Field("GitHubClientId", _("Client ID"), "text"),
        Field("GitHubClientSecret", _("Client secret"), "secret"),
        Field("GitHubOAuthEnabled", _("Allow sign-in with GitHub"), "bool"),
    ), _("Register an OAuth app at GitHub with the callback URL {server}/oauth/github.")),
    Group("oidc", "OIDC", (
        Field("OidcClientId", _("Client ID"), "text"),
        Field("OidcClientSecret", _("Client secret"), "secret"),
        Field("OidcWellKnown", _("Discovery address (well-known)"), "url",
              _("Endpoints left empty below are read from this document.")),
        Field("OidcAuthorizationEndpoint", _("Authorization endpoint"), "url"),
        Field("OidcTokenEndpoint", _("Token endpoint"), "url"),
        Field("OidcUserinfoEndpoint", _("User info endpoint"), "url"),
        Field("OidcEnabled", _("Allow sign-in with OIDC"), "bool"),
    ), _("Register {server}/oauth/oidc as the redirect URI at your identity provider.")),
    Group("lark", _("Lark"), (
        Field("LarkClientId", _("App ID"), "text"),
        Field("LarkClientSecret", _("App secret"), "secret"),
    ), _("Sign-in with Lark is on while an App ID is set. Register {server}/oauth/lark as the redirect URL.")),
    Group("wechat", _("WeChat"), (
        Field("WeChatServerAddress", _("WeChat Server address"), "url"),
        Field("WeChatServerToken", _("WeChat Server token"), "secret"),
        Field("WeChatAccountQRCodeImageURL", _("QR code image of the official account"), "url"),
        Field("WeChatAuthEnabled", _("Allow sign-in with WeChat"), "bool"),
    ), _("Sign-in with WeChat goes through a WeChat Server tied to an official account.")),
    Group("pusher", _("Message Pusher"), (
        Field("MessagePusherAddress", _("Message Pusher address"), "url"),
        Field("MessagePusherToken", _("Message Pusher token"), "secret"),
    ), _("Kept for One API compatibility; this version of Tollway stores these but sends nothing to them.")),
    Group("turnstile", _("Cloudflare Turnstile"), (
        Field("TurnstileSiteKey", _("Site key"), "text"),
        Field("TurnstileSecretKey", _("Secret key"), "secret"),
        Field("TurnstileCheckEnabled", _("Check visitors with Turnstile"), "bool",
              _("Before registration, email codes and password reset mails.")),
    )),
)

OTHER = (
    Group("notice", _("Notice"), (
        Field("Notice", _("Notice"), "markdown", _("Markdown, shown at the top of the home page.")),
    )),
    Group("branding", _("Branding"), (
        Field("SystemName", _("System name"), "text"),
        Field("Logo", _("Logo address"), "url", _("An image address (https:// or data:image/…).")),
        Field("Theme", _("Theme"), "choice", _("Kept for One API compatibility; Tollway's console has one look."),
              choices=THEMES),
        Field("Footer", _("Footer"), "markdown", _("Markdown; replaces the default footer on every page.")),
    )),
    Group("home", _("Home page"), (
        Field("HomePageContent", _("Home page content"), "markdown",
              _("Markdown, or an https:// address to show that page in a frame.")),
    )),
    Group("about", _("About page"), (
        Field("About", _("About page content"), "markdown",
              _("Markdown, or an https:// address to show that page in a frame.")),
    )),
)

TABS = {"operation": OPERATION, "system": SYSTEM, "other": OTHER}


def field_value(options: Options, field: Field) -> Any:
    """What the field shows: a bool for checkboxes, "" for secrets, pretty JSON for ratios, else the stored text."""
    value = options.values[field.key]  # the field table names only known options (tests/console)
    if field.kind == "bool":
        return bool(value)
    if field.kind == "secret":
        return ""
    if field.kind == "json":
        return json.dumps(value, ensure_ascii=False, indent=2)
    return serialize(field.key, value)


def secret_set(options: Options, field: Field) -> bool:
    """Whether a secret option holds a value (never the value itself)."""
    return bool(str(options.values[field.key]).strip())


def check_catalog() -> None:
    """Every field names a real option of a fitting type; run by the tests."""
    kinds = {"bool": {"bool"}, "int": {"int"}, "float": {"float"}, "json": {"ratio", "limits"}}
    for groups in TABS.values():
        for group in groups:
            for field in group.fields:
                spec = SPECS[field.key]
                assert spec.kind in kinds.get(field.kind, {"str"}), field.key
                assert (field.kind == "secret") == spec.secret, field.key
                assert (field.kind == "choice") == bool(field.choices), field.key
