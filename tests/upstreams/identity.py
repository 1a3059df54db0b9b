"""Fake sign-in providers on one local server: GitHub, an OIDC provider, Lark, a WeChat Server and Turnstile.

Each speaks its real wire format: an authorization page that redirects the browser back with `code` and
`state`, a token endpoint that checks the client's credentials, the code and the redirect URI, and a user
endpoint that checks the access token. A test sets who signs in next with `sign_in_as`.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret-never-shown"
WECHAT_TOKEN = "fake-wechat-server-token"
TURNSTILE_SECRET = "fake-turnstile-secret"
GOOD_TURNSTILE = "turnstile-pass"


@dataclass
class Grant:
    provider: str
    user: dict[str, Any]
    redirect_uri: str


@dataclass
class IdentityFake:
    """State shared between the test thread and the server thread."""

    next_user: dict[str, dict[str, Any]] = field(default_factory=dict)
    grants: dict[str, Grant] = field(default_factory=dict)
    tokens: dict[str, Grant] = field(default_factory=dict)
    wechat_codes: dict[str, str] = field(default_factory=dict)
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    turnstile_requests: list[dict[str, str]] = field(default_factory=list)
    url: str = ""

    def reset(self) -> None:
        self.next_user.clear()
        self.grants.clear()
        self.tokens.clear()
        self.wechat_codes.clear()
        self.token_requests.clear()
        self.turnstile_requests.clear()

    def sign_in_as(self, provider: str, **user: Any) -> None:
        self.next_user[provider] = user

    # -- authorization pages: the browser comes here, and goes back with a code ------------------------------

    async def authorize(self, request: Request) -> Response:
        provider = request.path_params["provider"]
        query = request.query_params
        if query.get("client_id") != CLIENT_ID or not query.get("redirect_uri") or not query.get("state"):
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        code = secrets.token_hex(8)
        self.grants[code] = Grant(provider, self.next_user[provider], query["redirect_uri"])
        back = urlencode({"code": code, "state": query["state"]})
        return RedirectResponse(f"{query['redirect_uri']}?{back}", status_code=302)

    # -- token endpoints -------------------------------------------------------------------------------------

    def _grant(self, provider: str, fields: dict[str, Any]) -> Grant | None:
        self.token_requests.append({"provider": provider, **fields})
        grant = self.grants.pop(str(fields.get("code", "")), None)
        if grant is None or grant.provider != provider:
            return None
        if fields.get("client_id") != CLIENT_ID or fields.get("client_secret") != CLIENT_SECRET:
            return None
        if provider != "github" and fields.get("redirect_uri") != grant.redirect_uri:
            return None
        return grant

    def _issue(self, grant: Grant) -> str:
        token = secrets.token_hex(12)
        self.tokens[token] = grant
        return token

    async def github_token(self, request: Request) -> Response:
        grant = self._grant("github", dict(await request.form()))
        if grant is None:  # GitHub answers 200 with an error field
            return JSONResponse({"error": "bad_verification_code", "error_description": "The code is incorrect."})
        return JSONResponse({"access_token": self._issue(grant), "scope": "user:email", "token_type": "bearer"})

    async def oidc_token(self, request: Request) -> Response:
        fields = dict(await request.form())
        grant = self._grant("oidc", fields) if fields.get("grant_type") == "authorization_code" else None
        if grant is None:
            return JSONResponse({"error": "invalid_grant"}, status_code=400)
        return JSONResponse({"access_token": self._issue(grant), "token_type": "Bearer", "expires_in": 3600,
                             "id_token": "header.payload.signature"})

    async def lark_token(self, request: Request) -> Response:
        fields = await request.json()
        grant = self._grant("lark", fields) if fields.get("grant_type") == "authorization_code" else None
        if grant is None:
            return JSONResponse({"code": 20003, "error": "invalid_grant", "error_description": "code is invalid"},
                                status_code=400)
        return JSONResponse({"code": 0, "access_token": self._issue(grant), "expires_in": 7200,
                             "token_type": "Bearer"})

    # -- user endpoints --------------------------------------------------------------------------------------

    async def user(self, request: Request) -> Response:
        provider = request.path_params["provider"]
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        grant = self.tokens.get(token)
        if grant is None or grant.provider != provider:
            return JSONResponse({"message": "Bad credentials"}, status_code=401)
        return JSONResponse(grant.user)

    async def discovery(self, request: Request) -> Response:
        return JSONResponse({
            "issuer": f"{self.url}/oidc", "authorization_endpoint": f"{self.url}/oidc/authorize",
            "token_endpoint": f"{self.url}/oidc/token", "userinfo_endpoint": f"{self.url}/oidc-user/userinfo",
            "response_types_supported": ["code"], "subject_types_supported": ["public"],
        })

    # -- WeChat Server and Turnstile -------------------------------------------------------------------------

    async def wechat_user(self, request: Request) -> Response:
        if request.headers.get("authorization") != WECHAT_TOKEN:
            return JSONResponse({"success": False, "message": "unauthorized"})
        wechat_id = self.wechat_codes.pop(request.query_params.get("code", ""), "")
        if not wechat_id:
            return JSONResponse({"success": False, "message": "the code is wrong or has expired"})
        return JSONResponse({"success": True, "message": "", "data": wechat_id})

    async def siteverify(self, request: Request) -> Response:
        fields = {k: str(v) for k, v in (await request.form()).items()}
        self.turnstile_requests.append(fields)
        passed = fields.get("secret") == TURNSTILE_SECRET and fields.get("response") == GOOD_TURNSTILE
        return JSONResponse({"success": passed, "error-codes": [] if passed else ["invalid-input-response"]})

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/{provider}/authorize", self.authorize),
            Route("/github/login/oauth/authorize", self.authorize_github),
            Route("/github/login/oauth/access_token", self.github_token, methods=["POST"]),
            Route("/oidc/token", self.oidc_token, methods=["POST"]),
            Route("/oidc/.well-known/openid-configuration", self.discovery),
            Route("/lark/open-apis/authen/v2/oauth/token", self.lark_token, methods=["POST"]),
            Route("/github-api/user", self.github_user),
            Route("/oidc-user/userinfo", self.oidc_user),
            Route("/lark-passport/suite/passport/oauth/userinfo", self.lark_user),
            Route("/wechat/api/wechat/user", self.wechat_user),
            Route("/turnstile/siteverify", self.siteverify, methods=["POST"]),
        ])

    async def authorize_github(self, request: Request) -> Response:
        request.path_params["provider"] = "github"
        return await self.authorize(request)

    async def github_user(self, request: Request) -> Response:
        request.path_params["provider"] = "github"
        return await self.user(request)

    async def oidc_user(self, request: Request) -> Response:
        request.path_params["provider"] = "oidc"
        return await self.user(request)

    async def lark_user(self, request: Request) -> Response:
        request.path_params["provider"] = "lark"
        return await self.user(request)

    def env(self) -> dict[str, str]:
        """The Tollway settings that point GitHub, Lark and Turnstile at this fake."""
        return {"GITHUB_OAUTH_URL": f"{self.url}/github", "GITHUB_API_URL": f"{self.url}/github-api",
                "LARK_OAUTH_URL": f"{self.url}/lark", "LARK_PASSPORT_URL": f"{self.url}/lark-passport",
                "TURNSTILE_VERIFY_URL": f"{self.url}/turnstile/siteverify"}

    def authorize_url(self, provider: str, redirect_uri: str, state: str) -> str:
        """Where a front-end sends the browser to sign in (GitHub's real path; the others' as the fake serves it)."""
        path = "github/login/oauth/authorize" if provider == "github" else f"{provider}/authorize"
        return f"{self.url}/{path}?" + urlencode({"client_id": CLIENT_ID, "redirect_uri": redirect_uri,
                                                  "state": state, "response_type": "code", "scope": "openid"})
