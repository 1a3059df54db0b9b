"""Which upstream errors mean a channel cannot work until someone fixes it: a refused key, a deactivated
account, exhausted credit.

A pure function of the translated UpstreamError (status, provider code or type, message) and the channel's
type. Each provider family first says what its own codes mean (some send them with HTTP 200: Baidu, Tencent,
Zhipu, Coze, Xunfei); what a family does not decide falls to the general rules, One API's list of codes and
messages made narrower where it was too blunt. An error that is not fatal may still make its (channel, model)
pair step aside for a while (routing/pairs.py); only a fatal one disables the whole channel.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from tollway.errors import UpstreamError
from tollway.routing import channel_types


class Fatal(enum.Enum):
    """Why a channel cannot serve any call."""

    KEY = "the upstream refused the channel's key"
    ACCOUNT = "the upstream account is deactivated or restricted"
    CREDIT = "the upstream account is out of credit"


@dataclass(frozen=True)
class Verdict:
    """A fatal error: its kind and the sentence stored as the channel's status reason."""

    kind: Fatal
    reason: str


# A family's answer: a kind, "not fatal whatever the general rules say", or None to let the general rules decide.
_NOT_FATAL = "not fatal"
Ruling = Fatal | str | None

# Failures Tollway reports itself about the connection or the answer's shape: never the key's fault.
_TRANSPORT_CODES = frozenset({
    "upstream_timeout", "upstream_unreachable", "upstream_read_error", "bad_upstream_response",
    "unsupported_by_channel", "upstream_task_timeout", "channel_misconfigured", "model_not_supported",
})

# -- the general rules (OpenAI and the providers that speak its format) ----------------------------------------

_CODES: dict[str, Fatal] = {
    "invalid_api_key": Fatal.KEY,
    "invalid_channel_key": Fatal.KEY,  # Tollway: the key is not in the form the type needs
    "account_deactivated": Fatal.ACCOUNT,
    "access_terminated": Fatal.ACCOUNT,
    "organization_restricted": Fatal.ACCOUNT,  # Groq
    "billing_not_active": Fatal.CREDIT,
    "billing_hard_limit_reached": Fatal.CREDIT,
    "insufficient_quota": Fatal.CREDIT,
    "insufficient_user_quota": Fatal.CREDIT,  # another One API or Tollway upstream: the token ran dry
}
_TYPES: dict[str, Fatal] = {
    "authentication_error": Fatal.KEY,
    "invalid_authentication_error": Fatal.KEY,  # Moonshot
    "access_terminated": Fatal.ACCOUNT,
    "insufficient_quota": Fatal.CREDIT,
    "exceeded_current_quota_error": Fatal.CREDIT,  # Moonshot: the balance is used up
    "billing_error": Fatal.CREDIT,  # Anthropic
}
# Lower-case message fragments. One API's "credit", "balance" and "permission denied" are left out: they match
# load balancers, rate limits and one model's access as well as an empty account.
_MESSAGES: tuple[tuple[str, Fatal], ...] = (
    ("incorrect api key provided", Fatal.KEY),
    ("invalid api key", Fatal.KEY),
    ("api key not valid", Fatal.KEY),
    ("api key expired", Fatal.KEY),
    ("api key was reported as leaked", Fatal.KEY),
    ("your access was terminated", Fatal.ACCOUNT),
    ("violation of our policies", Fatal.ACCOUNT),
    ("organization has been disabled", Fatal.ACCOUNT),
    ("organization has been restricted", Fatal.ACCOUNT),
    ("account has been deactivated", Fatal.ACCOUNT),
    ("account has been disabled", Fatal.ACCOUNT),
    ("account is not active", Fatal.ACCOUNT),
    ("has been suspended", Fatal.ACCOUNT),
    ("your credit balance is too low", Fatal.CREDIT),
    ("you exceeded your current quota", Fatal.CREDIT),
    ("insufficient balance", Fatal.CREDIT),
    ("insufficient credits", Fatal.CREDIT),
    ("balance is insufficient", Fatal.CREDIT),
    ("billing hard limit has been reached", Fatal.CREDIT),
    ("doesn't have any credits", Fatal.CREDIT),  # xAI
    ("used all available credits", Fatal.CREDIT),  # xAI
    ("已欠费", Fatal.CREDIT),
    ("余额不足", Fatal.CREDIT),
    ("额度不足", Fatal.CREDIT),
)


def _general(error: UpstreamError) -> Fatal | None:
    code = error.code or ""
    if code in _CODES:
        return _CODES[code]
    if error.error_type in _TYPES:
        return _TYPES[error.error_type]
    message = error.message.lower()
    for fragment, kind in _MESSAGES:
        if fragment in message:
            return kind
    if error.status_code == 401:
        return Fatal.KEY  # One API's rule: every provider answers a refused key with 401
    if error.status_code == 402:
        return Fatal.CREDIT  # Payment Required: DeepSeek, OpenRouter, Replicate, Cohere
    return None


# -- the families' own codes --------------------------------------------------------------------------------


def _anthropic(error: UpstreamError) -> Ruling:
    # permission_error is one model or feature the key may not use (another model may work): the pair steps aside.
    if error.error_type == "permission_error":
        return _NOT_FATAL
    return None


def _google(error: UpstreamError) -> Ruling:
    """Gemini, PaLM and Vertex AI (google_error / rpc_error)."""
    message = error.message.lower()
    if error.code == "credential_exchange_failed":
        # The service account itself was refused; a token endpoint that is merely down is not the key's fault.
        refused = ("invalid_grant", "invalid_client", "unauthorized_client", "invalid jwt", "account not found",
                   "disabled")
        return Fatal.KEY if any(word in message for word in refused) else _NOT_FATAL
    if "billing to be enabled" in message or "billing is disabled" in message or "billing account" in message:
        return Fatal.CREDIT
    if "has not been used in project" in message or "has been suspended" in message:
        return Fatal.ACCOUNT
    if error.code == "unauthenticated" and "access token" in message:
        return _NOT_FATAL  # Vertex's access token expired: the pipeline obtains a new one
    if error.status_code == 429 or error.code in ("permission_denied", "failed_precondition"):
        # RESOURCE_EXHAUSTED is a per-minute or per-day quota even when it says "exceeded your current quota";
        # PERMISSION_DENIED and FAILED_PRECONDITION are usually one model or one region.
        return _NOT_FATAL if "api key" not in message else None
    return None


_BAIDU: dict[str, Ruling] = {
    "invalid_client": Fatal.KEY,  # the access-token exchange refused API key or secret
    "unauthorized_client": Fatal.KEY,
    "14": Fatal.KEY,  # IAM certification failed
    "15": Fatal.KEY,  # app does not exist
    "19": Fatal.CREDIT,  # total request limit reached: what was bought is used up
    "110": _NOT_FATAL,  # access token invalid or expired: the pipeline obtains a new one
    "111": _NOT_FATAL,
    "6": _NOT_FATAL,  # no permission for this service (one model)
}


def _baidu(error: UpstreamError) -> Ruling:
    return _BAIDU.get(error.code or "")


def _zhipu(error: UpstreamError) -> Ruling:
    code = error.code or ""
    if code in ("1000", "1002", "1004", "1111"):
        return Fatal.KEY  # authentication failed, token invalid or not verifiable, no such account
    if code == "1003":
        return _NOT_FATAL  # the JWT expired: the next call signs a new one
    if code in ("1110", "1112", "1120", "1121"):
        return Fatal.ACCOUNT  # inactive, locked, cannot be accessed, locked for a violation
    if code in ("1113", "1309"):
        return Fatal.CREDIT  # in arrears; the plan expired
    return None


def _ali(error: UpstreamError) -> Ruling:
    code = error.code or ""
    if code == "InvalidApiKey":
        return Fatal.KEY
    if code == "Arrearage":
        return Fatal.CREDIT  # "Access denied, please make sure your account is in good standing"
    if code.startswith(("AccessDenied", "Model.AccessDenied", "AllocationQuota", "Throttling")):
        return _NOT_FATAL  # one model not bought or its free tier used up: the pair steps aside
    return None


_TENCENT_KEY = ("AuthFailure.SecretIdNotFound", "AuthFailure.SignatureFailure", "AuthFailure.InvalidSecretId",
                "AuthFailure.InvalidAuthorization", "AuthFailure.TokenFailure", "AuthFailure.MFAFailure")


def _tencent(error: UpstreamError) -> Ruling:
    code = error.code or ""
    if code.startswith(_TENCENT_KEY):
        return Fatal.KEY
    if code == "AuthFailure.SignatureExpire":
        return _NOT_FATAL  # the clock is off, not the key
    if code.startswith("AuthFailure.UnauthorizedOperation") or code in (
            "FailedOperation.ServiceNotActivated", "FailedOperation.ServiceStop", "UnauthorizedOperation"):
        return Fatal.ACCOUNT
    if any(mark in code for mark in ("Arrears", "LowBalance", "ChargeResourceExhaust", "ResourceInsufficient")):
        return Fatal.CREDIT
    return None


def _xunfei(error: UpstreamError) -> Ruling:
    code = error.code or ""
    if code == "10313":
        return Fatal.KEY  # the app id does not belong to the API key
    if code == "11200":
        return _NOT_FATAL  # this model (domain) is not licensed, or its allowance is used up: the pair steps aside
    return None


def _coze(error: UpstreamError) -> Ruling:
    code = error.code or ""
    if code == "4100":
        return Fatal.KEY
    if code == "4101":
        return _NOT_FATAL  # the token may not use this bot (the model); others may work
    return None


def _cloudflare(error: UpstreamError) -> Ruling:
    code = error.code or ""
    if code == "cloudflare_10000":
        return Fatal.KEY
    if code == "cloudflare_3023":
        return Fatal.ACCOUNT
    if code in ("cloudflare_3036", "cloudflare_5018", "cloudflare_3041"):
        return _NOT_FATAL  # the daily free allocation or one model's access
    return None


def _aws(error: UpstreamError) -> Ruling:
    code = (error.code or "").lower()
    if code in ("unrecognizedclientexception", "invalidsignatureexception", "expiredtokenexception"):
        return Fatal.KEY
    if code == "accessdeniedexception":
        return _NOT_FATAL  # usually one model not enabled for the account
    return None


def _table_family(error: UpstreamError) -> Ruling:
    """DeepL and Replicate: the adaptor's table turned their statuses into OpenAI types already."""
    if error.error_type == "insufficient_quota":
        return Fatal.CREDIT
    return None


def _aiproxy(error: UpstreamError) -> Ruling:
    if error.status_code == 403 and any(word in error.message.lower() for word in ("balance", "quota", "余额", "额度")):
        return Fatal.CREDIT
    return None


_FAMILIES: dict[str, Callable[[UpstreamError], Ruling]] = {
    "anthropic": _anthropic,
    "gemini": _google,
    "palm": _google,
    "vertexai": _google,
    "baidu": _baidu,
    "zhipu": _zhipu,
    "ali": _ali,
    "tencent": _tencent,
    "xunfei": _xunfei,
    "coze": _coze,
    "cloudflare": _cloudflare,
    "aws": _aws,
    "deepl": _table_family,
    "replicate": _table_family,
    "aiproxy": _aiproxy,
}


def fatal(error: UpstreamError | None, channel_type: int = 0) -> Verdict | None:
    """The verdict when `error` means the channel (of this type) cannot serve any call until fixed, else None."""
    if error is None or (error.code or "") in _TRANSPORT_CODES:
        return None
    family = _FAMILIES.get(channel_types.get(channel_type).family)
    ruling = family(error) if family is not None else None
    if ruling is None:
        ruling = _general(error)
    if not isinstance(ruling, Fatal):
        return None
    message = error.message.strip()
    return Verdict(ruling, f"{ruling.value}: {message}"[:1000] if message else ruling.value)
