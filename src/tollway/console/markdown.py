"""Markdown from options (notice, about, home page) rendered safely: raw HTML is shown as text."""

from __future__ import annotations

from markdown_it import MarkdownIt
from markupsafe import Markup

# "js-default" escapes raw HTML and refuses javascript: and data: links.
_renderer = MarkdownIt("js-default", {"linkify": False, "typographer": False})


def render(text: str) -> Markup:
    """HTML for Markdown `text`; nothing in the text can inject markup or script."""
    return Markup(_renderer.render(text or ""))
