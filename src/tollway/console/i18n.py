"""English and Chinese for the console: English text is the key, `locales/zh/*.json` hold the translations.

Each page area keeps its own catalog file; they are merged at startup. The language comes from the
`lang` cookie, else the browser's Accept-Language, else English.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from starlette.requests import Request

LANGUAGES = ("en", "zh")
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
COOKIE = "lang"
LOCALES = Path(__file__).parent / "locales"


@lru_cache(maxsize=1)
def catalog() -> Mapping[str, Mapping[str, str]]:
    """Every translation, by language, from all catalog files."""
    merged: dict[str, dict[str, str]] = {"en": {}}
    for language in LANGUAGES[1:]:
        entries: dict[str, str] = {}
        for path in sorted((LOCALES / language).glob("*.json")):
            entries.update(json.loads(path.read_text(encoding="utf-8")))
        merged[language] = entries
    return merged


def language_of(request: Request) -> str:
    """The language to answer in: the chosen one, else the first supported one the browser accepts."""
    chosen = request.cookies.get(COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return "en"


class Translator:
    """`_("text", name=value)`: the text in one language, with `{name}` placeholders filled in."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.entries = catalog().get(language, {})

    def __call__(self, text: str, **values: object) -> str:
        translated = self.entries.get(text, text)
        return translated.format(**values) if values else translated
