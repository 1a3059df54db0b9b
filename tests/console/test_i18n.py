"""Every string of the console has a Chinese translation, and every placeholder survives translation."""

from __future__ import annotations

import re
from pathlib import Path

from tollway.console import i18n, render

CONSOLE = Path(i18n.__file__).parent
# _("...") / _('...') in templates and code, and the messages pages hand to error.html.
_CALLS = re.compile(r"""\b_\(\s*(["'])((?:\\.|(?!\1).)+)\1""")
_MESSAGES = re.compile(r"""\bmessage=(["'])((?:\\.|(?!\1).)+)\1""")


def console_strings() -> set[str]:
    found: set[str] = set(render.SCRIPT_STRINGS)
    found.update(label for _, label in render.navigation(render.ROLE_ROOT))
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
