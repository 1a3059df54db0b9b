"""Fetching image URLs of chat messages and inlining them as data URLs, for providers that take only base64."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from tollway.errors import InvalidRequest
from tollway.relay.calls import Call
from tollway.relay.image_fetcher import ImageFetcher

MAX_IMAGES = 16


def image_urls(call: Call) -> list[str]:
    """The http(s) image URLs in a chat call's messages."""
    urls = []
    for message in call.body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for part in content if isinstance(content, list) else ():
            image = part.get("image_url") if isinstance(part, dict) else None
            url = image.get("url") if isinstance(image, dict) else image
            if isinstance(url, str) and url.startswith(("http://", "https://")):
                urls.append(url)
    return urls


async def inline_images(call: Call, fetcher: ImageFetcher) -> Call:
    """A copy of the call with every image URL replaced by a data URL (the call itself when it has none)."""
    urls = image_urls(call)
    if not urls:
        return call
    if len(urls) > MAX_IMAGES:
        raise InvalidRequest(f"at most {MAX_IMAGES} images per request")
    fetched = dict(zip(urls, await asyncio.gather(*(fetcher.fetch(u) for u in urls)), strict=True))

    def swap(part: Any) -> Any:
        image = part.get("image_url") if isinstance(part, dict) else None
        url = image.get("url") if isinstance(image, dict) else image
        if isinstance(url, str) and url in fetched:
            replaced = {**image, "url": fetched[url]} if isinstance(image, dict) else {"url": fetched[url]}
            return {**part, "image_url": replaced}
        return part

    messages = [
        {**m, "content": [swap(p) for p in m["content"]]} if isinstance(m, dict) and isinstance(m.get("content"), list)
        else m
        for m in call.body["messages"]
    ]
    body = {**call.body, "messages": messages}
    return dataclasses.replace(call, body=body)
