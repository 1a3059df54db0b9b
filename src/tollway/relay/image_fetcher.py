"""Fetching users' image URLs without letting them reach Tollway's own network (SSRF).

Each hop resolves the host once, refuses it when any address is not public (relay/addresses.py), and connects to
exactly the address it checked: the URL's host becomes that IP while the Host header, TLS SNI and certificate
check keep the name. Redirects are followed by hand, at most MAX_REDIRECTS of them, each hop checked the same way.

With USER_CONTENT_REQUEST_PROXY the proxy connects, so it resolves the name itself: Tollway still refuses
literal private addresses and names that resolve locally to one, and hands other names (including those local
DNS does not know, as behind an egress-only proxy) to the proxy, whose own rules then guard its network.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx2

from tollway.errors import InvalidRequest
from tollway.relay.addresses import IPAddress, is_public, literal, looks_numeric
from tollway.settings import Settings

MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}

Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """The addresses the operating system's resolver gives for a name."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [literal(str(info[4][0])) or _unreadable(str(info[4][0])) for info in infos]


def _unreadable(address: str) -> IPAddress:
    raise OSError(f"resolver returned {address!r}, which is not an IP address")


@dataclass
class Hop:
    """One request of a fetch: where to connect and what to tell the server."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)


class ImageFetcher:
    """Fetches image URLs as data URLs; built once at startup from USER_CONTENT_REQUEST_* settings."""

    def __init__(self, *, timeout: float = 30.0, proxy: str = "", allow_private: bool = False,
                 resolver: Resolver = system_resolver, allowed: Callable[[IPAddress], bool] = is_public,
                 verify: ssl.SSLContext | bool = True) -> None:
        self.timeout = timeout
        self.proxy = proxy
        self.allow_private = allow_private
        self.resolver = resolver
        self.allowed = allowed
        # No keep-alive: a pooled connection to an IP would be reused for another name served from the same IP,
        # skipping that name's certificate check. trust_env off: only USER_CONTENT_REQUEST_PROXY picks a proxy.
        self.client = httpx2.AsyncClient(
            timeout=timeout, proxy=proxy or None, follow_redirects=False, trust_env=False, verify=verify,
            limits=httpx2.Limits(max_keepalive_connections=0),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageFetcher:
        return cls(timeout=settings.user_content_timeout_s, proxy=settings.user_content_proxy,
                   allow_private=settings.user_content_allow_private)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def fetch(self, url: str) -> str:
        """The image at `url` as a `data:` URL; InvalidRequest when it is refused, unreachable or not an image."""
        try:
            async with asyncio.timeout(self.timeout):  # one deadline for every hop and a slowly dripping body
                return await self._follow(url)
        except TimeoutError as exc:
            raise InvalidRequest(f"fetching image {url!r} took longer than {self.timeout:g} s") from exc
        except httpx2.HTTPError as exc:
            raise InvalidRequest(f"cannot fetch image {url!r}: {exc!r}") from exc

    async def _follow(self, url: str) -> str:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            hop = await self.hop(current)
            async with self.client.stream("GET", hop.url, headers=hop.headers, extensions=hop.extensions) as answer:
                if answer.status_code in _REDIRECTS and answer.headers.get("location"):
                    current = urljoin(current, answer.headers["location"])
                    continue
                if answer.status_code != 200:
                    raise InvalidRequest(f"fetching image {url!r} failed with status {answer.status_code}")
                media_type = answer.headers.get("content-type", "image/png").split(";")[0].strip()
                if not media_type.startswith("image/"):
                    raise InvalidRequest(f"{url!r} is not an image ({media_type})")
                data = bytearray()
                async for chunk in answer.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_IMAGE_BYTES:
                        raise InvalidRequest(f"image {url!r} is larger than {MAX_IMAGE_BYTES // 2**20} MiB")
            return f"data:{media_type};base64,{base64.b64encode(bytes(data)).decode()}"
        raise InvalidRequest(f"image URL {url!r} redirects more than {MAX_REDIRECTS} times")

    async def hop(self, url: str) -> Hop:
        """Check one URL and say where to connect: the checked IP directly, or the name through the proxy."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise InvalidRequest(f"image URL {url!r} must be an http or https URL with a host")
        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
            host = parts.hostname if parts.hostname.isascii() else parts.hostname.encode("idna").decode()
        except (ValueError, UnicodeError) as exc:
            raise InvalidRequest(f"image URL {url!r} has an invalid host or port") from exc
        if self.allow_private:
            return Hop(url)
        address = literal(host)
        if address is None and looks_numeric(host):
            raise InvalidRequest(f"image URL {url!r} has a host that is neither a name nor an IP address")
        addresses = [address] if address is not None else await self._resolve(host, port)
        if any(not self.allowed(found) for found in addresses):
            raise InvalidRequest(f"image URL {url!r} points to a non-public address")
        if self.proxy or not addresses:
            return Hop(url)
        chosen = addresses[0]
        netloc = f"[{host}]" if ":" in host else host
        headers = {"Host": netloc if parts.port in (None, _DEFAULT_PORTS[parts.scheme]) else f"{netloc}:{port}"}
        extensions = {"sni_hostname": host} if parts.scheme == "https" and address is None else {}
        return Hop(str(httpx2.URL(url).copy_with(host=str(chosen))), headers, extensions)

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            found = await self.resolver(host, port)
        except OSError as exc:
            if self.proxy:
                return []  # the proxy resolves names local DNS does not know
            raise InvalidRequest(f"cannot resolve image host {host!r}") from exc
        if not found and not self.proxy:
            raise InvalidRequest(f"cannot resolve image host {host!r}")
        return found
