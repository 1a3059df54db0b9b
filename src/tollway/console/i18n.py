"""English and Chinese for the console: English text is the key, `locales/zh/*.json` hold the translations.

Each page area keeps its own catalog file; they are merged at startup. The language comes from the
`lang` cookie, else the browser's Accept-Language, else English. `messages.json` holds what the management API
says (its errors and notices), translated for the console and One API's web UI by `translate_message`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

from starlette.requests import HTTPConnection

LANGUAGES = ("en", "zh")
LANGUAGE_NAMES = {"en": "English", "zh": "中文"}
COOKIE = "lang"
LOCALES = Path(__file__).parent / "locales"
MESSAGES = "messages.json"
_PLACEHOLDER = re.compile(r"{(\w+)}")


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


def language_of(request: HTTPConnection) -> str:
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


@lru_cache(maxsize=len(LANGUAGES))
def _messages(language: str) -> tuple[Mapping[str, str], tuple[tuple[re.Pattern[str], str], ...]]:
    """The API's messages in one language: exact entries, and the entries with {placeholders} as patterns."""
    path = LOCALES / language / MESSAGES
    entries: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    patterns = []
    for english, translated in entries.items():
        if not _PLACEHOLDER.search(english):
            continue
        parts, last = [], 0
        for match in _PLACEHOLDER.finditer(english):
            parts += [re.escape(english[last:match.start()]), f"(?P<p{match.group(1)}>.+?)"]
            last = match.end()
        regex = re.compile("".join(parts) + re.escape(english[last:]), re.DOTALL)
        patterns.append((len(_PLACEHOLDER.sub("", english)), regex, translated))
    # The most literal text first: "option {0} must not be negative" before "option {0} {1}".
    patterns.sort(key=lambda item: -item[0])
    return entries, tuple((regex, translated) for _, regex, translated in patterns)


def translate_message(message: str, language: str, *, depth: int = 0) -> str:
    """A message of the management API in `language`: an entry of `messages.json`, or one whose placeholders match,
    filled with the values from the English (themselves translated when they are phrases of the catalog)."""
    if language == LANGUAGES[0] or not message:
        return message
    entries, patterns = _messages(language)
    exact = entries.get(message)
    if exact is not None:
        return exact
    for pattern, translated in patterns if depth < 2 else ():
        match = pattern.fullmatch(message)
        if match is not None:
            values = {name[1:]: translate_message(value, language, depth=depth + 1)
                      for name, value in match.groupdict().items()}
            return _fill(translated, values)
    return message


def _fill(template: str, values: Mapping[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
