"""Other APIs' clients on OpenAI-chat channels: Anthropic Messages, OpenAI Responses and Gemini's native API.

Pure translators, as the adaptors are: a client's request becomes an OpenAI chat (or embeddings) body that
any channel's adaptor takes, and the OpenAI answer the adaptor writes (whole, or as chat SSE) becomes the
client's format again. Per API: `<api>_request` (request in), `<api>_reply` (whole answer out, errors),
`<api>_stream` (stream out). `chat_answer` and `chat_stream` read the OpenAI side once for all three;
`calls` makes a client's request a pipeline `Call` and brings its answers back (or passes them through
unchanged from a channel of the client's own API, adaptors/passthrough.py).
"""
