from tests.harness import Gateway
from tests.upstreams.openai_mock import OpenAIMock


def test_chat_non_stream(relay: Gateway, mock: OpenAIMock) -> None:
    client = relay.openai()
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "Hello from the mock."
    assert answer.usage is not None and answer.usage.prompt_tokens == 11


def test_chat_stream(relay: Gateway, mock: OpenAIMock) -> None:
    client = relay.openai()
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}],
                                            stream=True)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello from the mock."
