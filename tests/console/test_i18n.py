"""Every string of the console and every message of the management API has a Chinese translation, and every
placeholder survives translation."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import httpx

from tests.harness import Gateway
from tollway.accounts import csrf
from tollway.admin import options as option_routes
from tollway.admin.sessions import WEAK_PASSWORD_NOTICE
from tollway.console import i18n, render
from tollway.constants import Role

CONSOLE = Path(i18n.__file__).parent
# _("...") / _('...') in templates and code, and the messages pages hand to error.html.
_CALLS = re.compile(r"""\b_\(\s*(["'])((?:\\.|(?!\1).)+)\1""")
_MESSAGES = re.compile(r"""\bmessage=(["'])((?:\\.|(?!\1).)+)\1""")


def console_strings() -> set[str]:
    found: set[str] = set(render.SCRIPT_STRINGS)
    found.update(label for _, label in render.navigation(Role.ROOT))
    for path in [*CONSOLE.rglob("*.html"), *(p for p in CONSOLE.rglob("*.py") if p.name != "i18n.py")]:
        text = path.read_text(encoding="utf-8")
        for pattern in (_CALLS, _MESSAGES):
            found.update(match.group(2).replace("\\'", "'").replace('\\"', '"') for match in pattern.finditer(text))
    return found


def test_every_string_is_translated() -> None:
    missing = sorted(console_strings() - set(i18n.catalog()["zh"]))
    assert not missing, f"no Chinese for: {missing}"


def test_placeholders_are_kept() -> None:
    for english, chinese in i18n.catalog()["zh"].items():
        assert set(re.findall(r"{\w+}", english)) == set(re.findall(r"{\w+}", chinese)), english


SRC = CONSOLE.parent
# Exceptions whose message reaches a management API answer, and the modules whose ValueErrors do (option checks).
_RAISED = {"TollwayError", "InvalidRequest", "PayloadTooLarge", "AuthenticationFailed", "PermissionDenied",
           "InsufficientQuota", "NotFound", "RateLimited", "NotImplementedRoute", "NoChannel", "BalanceError"}
_VALUE_ERRORS = {"options.py", "option_rules.py"}
# Relay errors answer API clients in OpenAI's shape; key_check speaks to the operator's terminal.
_NOT_SHOWN = {"relay", "billing", "console", "key_check.py", "errors.py"}
# Messages the API builds outside an exception.
EXTRA = [
    WEAK_PASSWORD_NOTICE, csrf.refusal(), "{0} of {1} models passed", "text is required",
    "too many {0} from your address (at most {1} in {2} seconds); try again in {3} seconds", "requests",
    "sign-in, registration and verification requests", "is already bound to your account", "is bound to another user",
    "integer", "string", "bool", *(message for _, message in option_routes._PREREQUISITES.values()),
]


def _template(node: ast.expr) -> str | None:
    """A message as the catalog keys it: f-string values become {0}, {1}, ... in order."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if not isinstance(node, ast.JoinedStr):
        return None  # a message from elsewhere (an upstream's answer)
    parts, number = [], 0
    for value in node.values:
        if isinstance(value, ast.Constant):
            parts.append(str(value.value))
        else:
            parts.append(f"{{{number}}}")
            number += 1
    return "".join(parts)


def api_messages() -> set[str]:
    found = set(EXTRA)
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC)
        if set(relative.parts) & _NOT_SHOWN:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in _RAISED or (name == "ValueError" and path.name in _VALUE_ERRORS):
                message = _template(node.args[0])
                if message is not None:
                    found.add(message)
    return found


def test_every_api_message_is_translated() -> None:
    """What the management API says (errors, notices) has Chinese in messages.json, for the console and One API's UI."""
    catalog = json.loads((CONSOLE / "locales" / "zh" / i18n.MESSAGES).read_text(encoding="utf-8"))
    missing = sorted(api_messages() - set(catalog))
    assert not missing, f"no Chinese for: {missing}"
    assert len(api_messages()) > 150


def test_messages_with_values_are_translated_whole() -> None:
    """A message with values matches its catalog entry; phrases inside it are translated too; unknown text stays."""
    zh = "zh"
    assert i18n.translate_message("username bob is already taken", zh) == "用户名 bob 已被占用"
    assert i18n.translate_message("'quota' must be integer", zh) == "“quota”必须是整数"
    assert i18n.translate_message("option ServerAddress must be an http:// or https:// address", zh) == (
        "选项 ServerAddress 必须是 http:// 或 https:// 地址")
    assert i18n.translate_message("option QuotaPerUnit must not be negative", zh) == "选项 QuotaPerUnit 不能为负数"
    assert i18n.translate_message("an upstream said no", zh) == "an upstream said no"
    assert i18n.translate_message("username bob is already taken", "en") == "username bob is already taken"


def test_api_messages_follow_the_console_language(gateway: Gateway) -> None:
    """The console's language cookie, or a Chinese browser, gets Chinese messages; everyone else English."""
    body = {"type": 1, "key": "sk-x", "base_url": "ftp://x"}
    english = gateway.admin.post("/api/channel/", json=body).json()["message"]
    assert english == "base_url must start with http:// or https://"
    chinese = gateway.admin.post("/api/channel/", json=body, headers={"Accept-Language": "zh-CN,zh;q=0.9"}).json()
    assert chinese == {"success": False, "message": "base_url 必须以 http:// 或 https:// 开头"}
    with httpx.Client(base_url=gateway.url, cookies={"lang": "zh"}) as anonymous:
        assert anonymous.get("/api/user/self").json()["message"] == "未登录且未提供访问令牌"
