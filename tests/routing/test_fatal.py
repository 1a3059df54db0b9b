"""Fatal-error classification, table-tested per provider through each family's real error translator.

Each row is a provider's error as it arrives (status and body, HTTP 200 included where the provider sends errors
that way); the adaptor translates it and `fatal` decides whether the whole channel must be disabled.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tollway.errors import UpstreamError
from tollway.relay.adaptors.registry import Adaptors
from tollway.routing import channel_types
from tollway.routing.fatal import Fatal, fatal
from tollway.settings import Settings

KEY, ACCOUNT, CREDIT = Fatal.KEY, Fatal.ACCOUNT, Fatal.CREDIT
ADAPTORS = Adaptors(Settings.from_env({}, dotenv=None))


def translated(channel_type: int, status: int, body: dict[str, Any] | str) -> UpstreamError:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return ADAPTORS.for_type(channel_types.get(channel_type)).error(status, raw)


def openai(message: str, kind: str, code: str | None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


CASES: list[tuple[str, int, int, dict[str, Any] | str, Fatal | None]] = [
    # OpenAI and the providers speaking its format
    ("openai revoked key", 1, 401, openai("Incorrect API key provided: sk-abc***", "invalid_request_error",
                                          "invalid_api_key"), KEY),
    ("openai deactivated account", 1, 401, openai("This key is associated with a deactivated account.",
                                                  "invalid_request_error", "account_deactivated"), ACCOUNT),
    ("openai exhausted credit", 1, 429, openai("You exceeded your current quota, please check your plan and billing "
                                               "details.", "insufficient_quota", "insufficient_quota"), CREDIT),
    ("openai billing not active", 1, 429, openai("Your account is not active, please check your billing details on "
                                                 "our website.", "billing_not_active", "billing_not_active"), CREDIT),
    ("openai access terminated", 1, 403, openai("Your access was terminated due to violation of our policies",
                                                "access_terminated", None), ACCOUNT),
    ("openai rate limit", 1, 429, openai("Rate limit reached for gpt-4o in organization org-x on requests per min",
                                         "requests", "rate_limit_exceeded"), None),
    ("openai model refused", 1, 403, openai("You are not allowed to sample from this model", "invalid_request_error",
                                            None), None),
    ("openai server error", 1, 500, openai("The server had an error while processing your request.", "server_error",
                                           None), None),
    ("openai bad request", 1, 400, openai("Invalid value for 'temperature'", "invalid_request_error", None), None),
    ("azure wrong key", 3, 401, {"error": {"code": "401", "message": "Access denied due to invalid subscription key "
                                           "or wrong API endpoint."}}, KEY),
    ("deepseek no balance", 36, 402, {"error": {"message": "Insufficient Balance", "type": "unknown_error",
                                                "param": None, "code": "invalid_request_error"}}, CREDIT),
    ("openrouter no credits", 20, 402, {"error": {"message": "Insufficient credits. Add more using "
                                                  "https://openrouter.ai/credits", "code": 402}}, CREDIT),
    ("moonshot empty account", 25, 429, {"error": {"message": "Your account org-x is suspended, please check your "
                                                   "plan and billing details", "type": "exceeded_current_quota_error"}},
     CREDIT),
    ("moonshot bad key", 25, 401, {"error": {"message": "Invalid Authentication",
                                             "type": "invalid_authentication_error"}}, KEY),
    ("groq restricted", 29, 400, openai("Organization has been restricted. Please reach out to support.",
                                        "invalid_request_error", "organization_restricted"), ACCOUNT),
    ("siliconflow balance", 44, 403, {"code": 30001, "message": "Sorry, your account balance is insufficient",
                                      "data": None}, CREDIT),
    ("xai no credits", 45, 403, {"code": "The caller does not have permission to execute the specified operation",
                                 "error": "Your newly created team doesn't have any credits yet."}, CREDIT),
    ("another one api out of quota", 8, 403, openai("用户额度不足", "one_api_error", "insufficient_user_quota"),
     CREDIT),
    ("chinese reseller arrears", 8, 403, {"error": {"message": "该令牌额度已用尽 或 已欠费"}}, CREDIT),
    # Anthropic
    ("anthropic bad key", 14, 401, {"type": "error", "error": {"type": "authentication_error",
                                                              "message": "invalid x-api-key"}}, KEY),
    ("anthropic low credit", 14, 400, {"type": "error", "error": {"type": "invalid_request_error", "message":
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing."}}, CREDIT),
    ("anthropic disabled organization", 14, 400, {"type": "error", "error": {"type": "invalid_request_error",
                                                                           "message": "This organization has been "
                                                                                      "disabled."}}, ACCOUNT),
    ("anthropic one model refused", 14, 403, {"type": "error", "error": {"type": "permission_error", "message":
        "Your API key does not have permission to use the specified resource."}}, None),
    ("anthropic overloaded", 14, 529, {"type": "error", "error": {"type": "overloaded_error",
                                                                 "message": "Overloaded"}}, None),
    # Google: Gemini and Vertex AI
    ("gemini invalid key", 24, 400, {"error": {"code": 400, "message": "API key not valid. Please pass a valid API "
                                               "key.", "status": "INVALID_ARGUMENT", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}]}}, KEY),
    ("gemini expired key", 24, 400, {"error": {"code": 400, "message": "API key expired. Please renew the API key.",
                                               "status": "INVALID_ARGUMENT", "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_EXPIRED"}]}}, KEY),
    ("gemini leaked key", 24, 403, {"error": {"code": 403, "message": "Your API key was reported as leaked. Please "
                                              "use another API key.", "status": "PERMISSION_DENIED"}}, KEY),
    ("gemini suspended consumer", 24, 403, {"error": {"code": 403, "message": "Permission denied: Consumer "
                                                      "'api_key:AIza' has been suspended.",
                                                      "status": "PERMISSION_DENIED"}}, ACCOUNT),
    ("gemini per-day quota", 24, 429, {"error": {"code": 429, "message": "You exceeded your current quota, please "
                                                 "check your plan and billing details.",
                                                 "status": "RESOURCE_EXHAUSTED"}}, None),
    ("gemini region", 24, 400, {"error": {"code": 400, "message": "User location is not supported for the API use.",
                                          "status": "FAILED_PRECONDITION"}}, None),
    ("vertex billing off", 42, 403, {"error": {"code": 403, "message": "This API method requires billing to be "
                                               "enabled. Please enable billing on project #1", "status":
                                               "PERMISSION_DENIED"}}, CREDIT),
    ("vertex api disabled", 42, 403, {"error": {"code": 403, "message": "Vertex AI API has not been used in project 1 "
                                                "before or it is disabled.", "status": "PERMISSION_DENIED"}}, ACCOUNT),
    ("vertex expired access token", 42, 401, {"error": {"code": 401, "message": "Request had invalid authentication "
                                                        "credentials. Expected OAuth 2 access token.",
                                                        "status": "UNAUTHENTICATED"}}, None),
    # Baidu ERNIE: errors arrive with HTTP 200
    ("baidu access token expired", 15, 200, {"error_code": 111, "error_msg": "Access token expired"}, None),
    ("baidu total limit used up", 15, 200, {"error_code": 19, "error_msg": "Open api total request limit reached"},
     CREDIT),
    ("baidu QPS", 15, 200, {"error_code": 18, "error_msg": "Open api qps request limit reached"}, None),
    ("baidu app gone", 15, 200, {"error_code": 15, "error_msg": "app not exist or create failed"}, KEY),
    ("baidu arrears", 15, 200, {"error_code": 17, "error_msg": "您的账户已欠费"}, CREDIT),
    # Zhipu GLM (v4 with HTTP 4xx, v3 with HTTP 200)
    ("zhipu bad key", 16, 401, {"error": {"code": "1002", "message": "Authorization Token非法，请确认Authorization "
                                          "Token正确传递。"}}, KEY),
    ("zhipu arrears", 16, 429, {"error": {"code": "1113", "message": "您的账户已欠费，请充值后重试。"}}, CREDIT),
    ("zhipu locked", 16, 200, {"code": 1112, "msg": "您的账户已被锁定，请联系客服。", "success": False}, ACCOUNT),
    ("zhipu jwt expired", 16, 401, {"error": {"code": "1003", "message": "Authorization Token已过期"}}, None),
    ("zhipu busy", 16, 429, {"error": {"code": "1302", "message": "您当前使用该API的并发数过高"}}, None),
    # Alibaba DashScope
    ("ali bad key", 17, 401, {"code": "InvalidApiKey", "message": "Invalid API-key provided.",
                              "request_id": "x"}, KEY),
    ("ali arrears", 17, 400, {"code": "Arrearage", "message": "Access denied, please make sure your account is in "
                              "good standing.", "request_id": "x"}, CREDIT),
    ("ali one model not bought", 17, 403, {"code": "Model.AccessDenied", "message": "Model access denied.",
                                           "request_id": "x"}, None),
    ("ali free tier of one model", 17, 403, {"code": "AllocationQuota.FreeTierOnly", "message": "The free tier of "
                                             "the model has been exhausted.", "request_id": "x"}, None),
    # Tencent Hunyuan: errors arrive with HTTP 200
    ("tencent bad secret id", 23, 200, {"Response": {"Error": {"Code": "AuthFailure.SecretIdNotFound",
                                                                "Message": "The SecretId is not found"}}}, KEY),
    ("tencent bad signature", 23, 200, {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure",
                                                                "Message": "signature mismatch"}}}, KEY),
    ("tencent clock skew", 23, 200, {"Response": {"Error": {"Code": "AuthFailure.SignatureExpire",
                                                             "Message": "Signature expired"}}}, None),
    ("tencent arrears", 23, 200, {"Response": {"Error": {"Code": "ResourceUnavailable.InArrears",
                                                          "Message": "账号已欠费"}}}, CREDIT),
    ("tencent not activated", 23, 200, {"Response": {"Error": {"Code": "FailedOperation.ServiceNotActivated",
                                                                "Message": "服务未开通"}}}, ACCOUNT),
    ("tencent rate", 23, 200, {"Response": {"Error": {"Code": "RequestLimitExceeded",
                                                       "Message": "too many requests"}}}, None),
    # Xunfei Spark (frames), Coze, Cohere, Cloudflare, DeepL, Replicate, AWS Bedrock, AI Proxy Library
    ("xunfei wrong app id", 18, 200, {"header": {"code": 10313, "message": "appid和apikey不匹配"}}, KEY),
    ("xunfei model not licensed", 18, 200, {"header": {"code": 11200, "message": "授权错误：该appId没有相关功能的授权 "
                                                       "或者 业务量超过限制"}}, None),
    ("xunfei handshake refused", 18, 401, {"message": "HMAC signature cannot be verified"}, KEY),
    ("coze bad token", 34, 200, {"code": 4100, "msg": "authentication is invalid"}, KEY),
    ("coze bot not allowed", 34, 200, {"code": 4101, "msg": "The token you entered does not have permission"}, None),
    ("cohere bad token", 35, 498, {"message": "invalid api token"}, KEY),
    ("cohere payment", 35, 402, {"message": "Please add a payment method"}, CREDIT),
    ("cloudflare bad token", 37, 400, {"success": False, "errors": [{"code": 10000, "message":
                                                                    "Authentication error"}]}, KEY),
    ("cloudflare daily free", 37, 429, {"success": False, "errors": [{"code": 3036, "message":
                                                                     "daily free allocation used"}]}, None),
    ("deepl bad key", 38, 403, {"message": "Wrong endpoint. Use https://api.deepl.com"}, KEY),
    ("deepl quota", 38, 456, {"message": "Quota exceeded"}, CREDIT),
    ("replicate no credit", 46, 402, {"detail": "You have insufficient credit to run this model."}, CREDIT),
    ("aws bad access key", 33, 403, {"message": "The security token included in the request is invalid."}, KEY),
    ("aws model not enabled", 33, 403, {"message": "You don't have access to the model with the specified model "
                                        "ID."}, None),
    ("aws throttled", 33, 429, {"message": "Too many requests, please wait before trying again."}, None),
    ("aiproxy balance", 21, 200, {"success": False, "message": "余额不足"}, CREDIT),
]


@pytest.mark.parametrize(("label", "channel_type", "status", "body", "expected"), CASES,
                         ids=[case[0] for case in CASES])
def test_provider_errors(label: str, channel_type: int, status: int, body: dict[str, Any] | str,
                         expected: Fatal | None) -> None:
    error = translated(channel_type, status, body)
    verdict = fatal(error, channel_type)
    assert (verdict.kind if verdict else None) is expected, (error.status_code, error.error_type, error.code,
                                                             error.message)
    if verdict is not None:
        assert error.message in verdict.reason and verdict.reason.startswith(expected.value)


@pytest.mark.parametrize("code", ["upstream_timeout", "upstream_unreachable", "upstream_read_error",
                                  "bad_upstream_response", "unsupported_by_channel"])
def test_connection_failures_are_never_fatal(code: str) -> None:
    """Even with a message or status that would otherwise count, Tollway's own transport errors are not the key's."""
    error = UpstreamError("cannot reach upstream: insufficient balance of sockets", status_code=401, code=code)
    assert fatal(error, 1) is None


def test_credential_exchanges() -> None:
    """A key the exchange refuses is fatal; an exchange endpoint that is merely down is not."""
    refused = UpstreamError("Vertex AI token exchange failed: invalid_grant: Invalid JWT Signature.",
                            status_code=401, code="credential_exchange_failed")
    down = UpstreamError("Vertex AI token exchange failed: status 503", status_code=401,
                         code="credential_exchange_failed")
    assert fatal(refused, 42) is not None and fatal(down, 42) is None
    baidu = UpstreamError("Baidu access token: invalid_client: unknown client id", status_code=401,
                          error_type="baidu_error", code="invalid_client")
    assert fatal(baidu, 15) == fatal(baidu, 15) and fatal(baidu, 15).kind is KEY
    malformed = UpstreamError("a Zhipu channel key must be id.secret", status_code=401, code="invalid_channel_key")
    assert fatal(malformed, 16).kind is KEY


def test_no_error_and_long_messages() -> None:
    assert fatal(None, 1) is None
    verdict = fatal(UpstreamError("x" * 5000, status_code=401, code="invalid_api_key"), 1)
    assert verdict is not None and len(verdict.reason) == 1000
