"""One API's own web UI (web/default) against Tollway: its request sequences replayed page by page, with its paths
(trailing slashes included), its query parameters and bodies, as axios in a browser sends them (redirects followed,
a 307 sending the body again), and One API's envelopes and statuses expected back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness import ROOT_PASSWORD, Gateway
from tests.upstreams.openai_mock import OpenAIMock

PASSWORD = "ui-user-password"
# One API's log page: start 1970-01-01 08:00 (timestamp2string(0) read back in UTC+8), end an hour from now.
LOG_FILTERS = "type=0&token_name=&model_name=&start_timestamp=0&end_timestamp={end}"


class Browser:
    """One API's UI in a browser: a cookie jar, same-origin fetches, redirects followed as XHR follows them."""

    def __init__(self, gateway: Gateway) -> None:
        self.client = httpx.Client(base_url=gateway.url, follow_redirects=True, timeout=30,
                                   headers={"Sec-Fetch-Site": "same-origin", "Accept": "application/json"})

    def call(self, method: str, path: str, body: Any = None, *, status: int = 200,
             redirect: tuple[int, str] | None = None) -> dict[str, Any]:
        """The answer's envelope, after checking its status and the redirect gin would have made on the way."""
        response = self.client.request(method, path, json=body)
        followed = [(r.status_code, r.headers["location"]) for r in response.history]
        assert followed == ([redirect] if redirect else []), (method, path, followed)
        assert response.status_code == status, (method, path, response.status_code, response.text)
        envelope: dict[str, Any] = response.json()
        assert isinstance(envelope.get("success"), bool) and isinstance(envelope.get("message"), str), envelope
        return envelope

    def ok(self, method: str, path: str, body: Any = None, **expect: Any) -> Any:
        envelope = self.call(method, path, body, **expect)
        assert envelope["success"] is True, (method, path, envelope)
        return envelope.get("data")

    def refused(self, method: str, path: str, body: Any = None, **expect: Any) -> str:
        envelope = self.call(method, path, body, **expect)
        assert envelope["success"] is False and envelope["message"], (method, path, envelope)
        return str(envelope["message"])


@pytest.fixture
def ui(gateway: Gateway) -> Iterator[Browser]:
    browser = Browser(gateway)
    yield browser
    browser.client.close()


def test_one_api_ui_as_root(gateway: Gateway, ui: Browser, mock: OpenAIMock, mock_url: str) -> None:
    """Sign-in, channels, tokens, redemption codes, users, logs and settings, as root clicks through them."""
    # App.js on every page load, then the sign-in form (LoginForm.js).
    status = ui.ok("GET", "/api/status")
    assert status["version"] == "v0.0.0" and status["quota_per_unit"] == 500000  # no "new version" notice
    ui.ok("GET", "/api/notice")
    assert ui.refused("GET", "/api/user/self", status=401)  # axios sends the visitor to /login on 401
    user = ui.ok("POST", "/api/user/login", {"username": "root", "password": ROOT_PASSWORD})
    assert user["role"] == 100 and "password" not in user

    # Channels (ChannelsTable.js, EditChannel.js).
    ui.ok("GET", "/api/channel/?p=0")
    assert "1" in ui.ok("GET", "/api/models")
    assert "default" in ui.ok("GET", "/api/group/")
    config = {"region": "", "sk": "", "ak": "", "user_id": "", "vertex_ai_project_id": "", "vertex_ai_adc": ""}
    form = {"name": "openai", "type": 1, "key": "sk-ui-first\nsk-ui-second", "base_url": mock_url, "other": "",
            "model_mapping": "", "system_prompt": "", "models": "gpt-4o-mini,gpt-3.5-turbo",
            "groups": ["default"], "group": "default", "config": str(config).replace("'", '"')}
    ui.ok("POST", "/api/channel/", form)
    [second, first] = ui.ok("GET", "/api/channel/search?keyword=openai")
    loaded = ui.ok("GET", f"/api/channel/{first['id']}")
    assert "key" not in loaded  # One API leaves it out, so the edit form never sends a masked key back
    loaded.update(models=loaded["models"], groups=["default"], priority=3)
    ui.ok("PUT", "/api/channel/", {**loaded, "id": first["id"]})
    assert gateway.services.cache.channels[first["id"]].key == "sk-ui-first"
    tested = ui.call("GET", f"/api/channel/test/{first['id']}?model=gpt-4o-mini")
    assert tested["success"] is True and isinstance(tested["time"], float)
    ui.call("GET", f"/api/channel/update_balance/{first['id']}/",
            redirect=(301, f"/api/channel/update_balance/{first['id']}"))
    ui.ok("GET", "/api/channel/update_balance")
    ui.ok("DELETE", f"/api/channel/{second['id']}/", redirect=(307, f"/api/channel/{second['id']}"))
    assert [c["id"] for c in ui.ok("GET", "/api/channel/?p=0")] == [first["id"]]

    # Tokens (TokensTable.js, EditToken.js).
    ui.ok("POST", "/api/token/", {"name": "ui token", "remain_quota": 500000, "expired_time": -1,
                                  "unlimited_quota": False, "models": "", "subnet": ""})
    [token] = [t for t in ui.ok("GET", "/api/token/?p=0&order=") if t["name"] == "ui token"]
    ui.ok("GET", f"/api/token/{token['id']}")
    ui.ok("PUT", "/api/token/?status_only=true", {"id": token["id"], "status": 2})
    ui.ok("PUT", "/api/token/", {**token, "name": "renamed", "models": "", "id": token["id"]})
    ui.ok("DELETE", f"/api/token/{token['id']}/", redirect=(307, f"/api/token/{token['id']}"))

    # Redemption codes (RedemptionsTable.js, EditRedemption.js).
    [code] = ui.ok("POST", "/api/redemption/", {"name": "gift", "quota": 100000, "count": 1})
    [redemption] = ui.ok("GET", "/api/redemption/?p=0")
    assert redemption["key"] == code
    ui.ok("PUT", "/api/redemption/?status_only=true", {"id": redemption["id"], "status": 2})
    ui.ok("DELETE", f"/api/redemption/{redemption['id']}/", redirect=(307, f"/api/redemption/{redemption['id']}"))

    # Users (UsersTable.js, AddUser.js, EditUser.js).
    ui.ok("POST", "/api/user/", {"username": "carol", "display_name": "Carol", "password": PASSWORD})
    [carol] = [u for u in ui.ok("GET", "/api/user/?p=0&order=") if u["username"] == "carol"]
    loaded = ui.ok("GET", f"/api/user/{carol['id']}")
    ui.ok("PUT", "/api/user/", {**loaded, "password": "", "quota": 250000, "id": carol["id"]})
    assert ui.ok("GET", f"/api/user/{carol['id']}")["quota"] == 250000
    for action in ("promote", "demote", "disable", "enable"):
        ui.ok("POST", "/api/user/manage", {"username": "carol", "action": action})
    ui.ok("GET", "/api/user/search?keyword=car")

    # Logs (LogsTable.js, admin view) after one relayed call.
    gateway.openai().chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    gateway.flush()
    filters = LOG_FILTERS.format(end=int(time.time()) + 3600)
    logs = ui.ok("GET", f"/api/log/?p=0&{filters}&username=&channel=")
    assert logs and logs[0]["model_name"] == "gpt-4o-mini"
    assert ui.ok("GET", f"/api/log/stat?{filters}&username=&channel=")["quota"] == logs[0]["quota"]

    # Settings (OperationSetting.js, SystemSetting.js, PersonalSetting.js).
    assert any(option["key"] == "QuotaPerUnit" for option in ui.ok("GET", "/api/option/"))
    ui.ok("PUT", "/api/option/", {"key": "Notice", "value": "welcome"})
    assert len(ui.ok("GET", "/api/user/token")) == 32
    ui.ok("GET", "/api/user/aff")
    ui.ok("GET", "/api/user/logout")
    ui.refused("GET", "/api/user/self", status=401)


def test_one_api_ui_as_a_common_user(gateway: Gateway, ui: Browser) -> None:
    """A common user's pages work; admin pages answer One API's 200 with success false, which its UI shows."""
    user_id, _ = gateway.create_user("dave", password=PASSWORD)
    ui.ok("POST", "/api/user/login", {"username": "dave", "password": PASSWORD})
    assert ui.ok("GET", "/api/user/self")["id"] == user_id
    ui.ok("GET", "/api/user/available_models")
    filters = LOG_FILTERS.format(end=int(time.time()) + 3600)
    assert ui.ok("GET", f"/api/log/self/?p=0&{filters}", redirect=(301, f"/api/log/self?p=0&{filters}")) == []
    assert ui.ok("GET", f"/api/log/self/stat?{filters}") == {"quota": 0}
    ui.refused("POST", "/api/user/topup", {"key": "not-a-code"})
    for method, path in (("GET", "/api/channel/?p=0"), ("GET", "/api/user/?p=0&order="), ("GET", "/api/option/"),
                         ("GET", "/api/redemption/?p=0"), ("GET", f"/api/log/?p=0&{filters}&username=&channel="),
                         ("GET", "/api/group/")):
        assert "permission" in ui.refused(method, path)
    assert "permission" in ui.refused("DELETE", "/api/channel/1/", redirect=(307, "/api/channel/1"))
    assert "permission" in ui.refused("PUT", "/api/option/", {"key": "Notice", "value": "hacked"})
    assert gateway.services.cache.options["Notice"] == ""
