"""A mock DeepL API: `POST /v2/translate` with `Authorization: DeepL-Auth-Key <key>`.

Quirks kept from the real API: a wrong key is 403; a used-up character quota is the non-standard 456;
an unsupported `target_lang` is 400 with `message` and `detail`; the answer names the detected source
language. The "translation" is a fixed phrase book, else the text tagged with the target language.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.upstreams.openai_mock import Recorded

KEY = "f63c02c5-f056-4b4e-a9b5-8a7cd2a1e6c1:fx"
LANGUAGES = frozenset({"ZH", "ZH-HANS", "EN", "EN-US", "EN-GB", "JA", "DE", "FR", "ES", "PT-BR"})
PHRASES = {("Hello, world!", "ZH"): "你好，世界！", ("Hello, world!", "DE"): "Hallo, Welt!",
           ("Guten Morgen", "EN-US"): "Good morning"}


@dataclass
class Plan:
    status: int = 200  # 456 or 429 to simulate DeepL's limits


class DeepLMock:
    """State shared between the test thread and the server thread."""

    def __init__(self) -> None:
        self.plan = Plan()
        self.requests: list[Recorded] = []

    def reset(self) -> None:
        self.plan = Plan()
        self.requests.clear()

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v2/translate", self.translate, methods=["POST"])])

    async def translate(self, request: Request) -> Response:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        self.requests.append(Recorded(request.method, request.url.path, request.url.query, headers, raw))
        if headers.get("authorization") != f"DeepL-Auth-Key {KEY}":
            return JSONResponse({"message": "Authorization failed. Please supply a valid auth_key parameter."},
                                status_code=403)
        if self.plan.status == 456:
            return JSONResponse({"message": "Quota Exceeded"}, status_code=456)
        if self.plan.status == 429:
            return JSONResponse({"message": "Too many requests, DeepL servers are currently experiencing high "
                                            "load"}, status_code=429)
        body: dict[str, Any] = json.loads(raw)
        target = str(body.get("target_lang", ""))
        if target.upper() not in LANGUAGES:
            return JSONResponse({"message": "Bad request", "detail": "Value for 'target_lang' not supported."},
                                status_code=400)
        texts = body.get("text")
        if not isinstance(texts, list) or not texts:
            return JSONResponse({"message": "Bad request", "detail": "Parameter 'text' not specified."},
                                status_code=400)
        translations = [{"detected_source_language": "DE" if text.startswith("Guten") else "EN",
                         "text": PHRASES.get((text, target.upper()), f"[{target.upper()}] {text}")}
                        for text in texts]
        return JSONResponse({"translations": translations})
