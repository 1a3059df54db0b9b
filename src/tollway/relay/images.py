"""Fetching image URLs of chat messages and inlining them as data URLs, for providers that take only base64."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx2

from tollway.errors import InvalidRequest
from tollway.relay.calls import Call

MAX_IMAGE_BYTES = 20 * 1024 * 1024
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


async def _public(url: str) -> None:
    # Users must not make the gateway fetch from its own network (metadata services, admin panels).
    host = urlsplit(url).hostname or ""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise InvalidRequest(f"cannot resolve image host {host!r}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise InvalidRequest(f"image URL {url!r} points to a non-public address")


async def _fetch(client: httpx2.AsyncClient, url: str, allow_private: bool) -> str:
    if not allow_private:
        await _public(url)
    try:
        async with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise InvalidRequest(f"fetching image {url!r} failed with status {response.status_code}")
            media_type = response.headers.get("content-type", "image/png").split(";")[0].strip()
            if not media_type.startswith("image/"):
                raise InvalidRequest(f"{url!r} is not an image ({media_type})")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) > MAX_IMAGE_BYTES:
                    raise InvalidRequest(f"image {url!r} is larger than {MAX_IMAGE_BYTES // 2**20} MiB")
    except httpx2.HTTPError as exc:
        raise InvalidRequest(f"cannot fetch image {url!r}: {exc!r}") from exc
    return f"data:{media_type};base64,{base64.b64encode(bytes(data)).decode()}"


async def inline_images(call: Call, client: httpx2.AsyncClient, *, allow_private: bool) -> Call:
    """A copy of the call with every image URL replaced by a data URL (the call itself when it has none)."""
    urls = image_urls(call)
    if not urls:
        return call
    if len(urls) > MAX_IMAGES:
        raise InvalidRequest(f"at most {MAX_IMAGES} images per request")
    fetched = dict(zip(urls, await asyncio.gather(*(_fetch(client, u, allow_private) for u in urls)), strict=True))

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
    return Call(mode=call.mode, model=call.model, raw=call.raw, content_type=call.content_type, body=body,
                fields=call.fields, files=call.files)
