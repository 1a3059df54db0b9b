"""The image fetcher connects to exactly the address it checked, checks every redirect hop, and keeps TLS on the name.

127.0.0.2 plays a public server (the fetcher under test is told it is public); 127.0.0.1 is the private network
an attacker wants to reach. Both are real servers listening on the same port.
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tollway.errors import InvalidRequest
from tollway.relay.addresses import IPAddress
from tollway.relay.image_fetcher import ImageFetcher

PUBLIC, PRIVATE = IPv4Address("127.0.0.2"), IPv4Address("127.0.0.1")
PNG = b"\x89PNG\r\n\x1a\n-public"


def public_is_127_0_0_2(address: IPAddress) -> bool:
    return address == PUBLIC


@dataclass
class Site:
    """A tiny HTTP server on one address that records what it was asked and answers from `answer`."""

    answer: Callable[[str], bytes]
    requests: list[dict[str, str]] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        line, *header_lines = head.split("\r\n")
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines if h)}
        path = line.split(" ")[1]
        self.requests.append({"path": path, **headers})
        writer.write(self.answer(path))
        await writer.drain()
        writer.close()


def image(body: bytes = PNG) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: image/png\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


def redirect(location: str) -> bytes:
    return f"HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\n\r\n".encode()


async def serve(site: Site, host: IPv4Address, port: int, tls: ssl.SSLContext | None = None) -> asyncio.Server:
    return await asyncio.start_server(site.handle, str(host), port, ssl=tls)


async def free_port() -> int:
    """A port free on both 127.0.0.1 and 127.0.0.2."""
    for _ in range(20):
        probe = await asyncio.start_server(lambda r, w: None, str(PRIVATE), 0)
        port: int = probe.sockets[0].getsockname()[1]
        try:
            other = await asyncio.start_server(lambda r, w: None, str(PUBLIC), port)
        except OSError:
            probe.close()
            continue
        other.close()
        probe.close()
        await probe.wait_closed()
        await other.wait_closed()
        return port
    raise RuntimeError("no port free on both addresses")


@pytest.fixture
async def sites() -> AsyncIterator[tuple[Site, Site, int]]:
    """A 'public' site on 127.0.0.2 and a private one on 127.0.0.1, on the same port."""
    port = await free_port()
    private = Site(lambda path: image(b"private secret"))
    public = Site(lambda path: redirect(f"http://127.0.0.1:{port}/admin") if path == "/bounce" else image())
    servers = [await serve(public, PUBLIC, port), await serve(private, PRIVATE, port)]
    yield public, private, port
    for server in servers:
        server.close()
        await server.wait_closed()


class Rebinding:
    """A resolver that answers the public address first and 127.0.0.1 afterwards (DNS rebinding)."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls += 1
        return [PUBLIC] if self.calls == 1 else [PRIVATE]


async def test_connects_to_the_address_it_checked(sites: tuple[Site, Site, int]) -> None:
    """A name resolving to a public address, then to 127.0.0.1, is fetched from the checked public address only."""
    public, private, port = sites
    resolver = Rebinding()
    fetcher = ImageFetcher(timeout=10, resolver=resolver, allowed=public_is_127_0_0_2)
    try:
        data_url = await fetcher.fetch(f"http://rebind.test:{port}/cat.png")
    finally:
        await fetcher.aclose()
    assert data_url.startswith("data:image/png;base64,") and resolver.calls == 1
    assert private.requests == []
    # The server saw the name, not the address, as the Host.
    assert public.requests == [{"path": "/cat.png", "host": f"rebind.test:{port}",
                                **{k: v for k, v in public.requests[0].items() if k not in ("path", "host")}}]


async def test_redirect_to_a_private_address_is_refused(sites: tuple[Site, Site, int]) -> None:
    public, private, port = sites
    fetcher = ImageFetcher(timeout=10, resolver=Rebinding(), allowed=public_is_127_0_0_2)
    try:
        with pytest.raises(InvalidRequest, match="non-public"):
            await fetcher.fetch(f"http://{PUBLIC}:{port}/bounce")
    finally:
        await fetcher.aclose()
    assert [r["path"] for r in public.requests] == ["/bounce"] and private.requests == []


async def test_redirects_are_followed_a_few_times_only(sites: tuple[Site, Site, int]) -> None:
    public, private, port = sites
    hops = iter(range(100))
    public.answer = lambda path: redirect(f"/hop{next(hops)}") if path != "/final" else image()
    fetcher = ImageFetcher(timeout=10, allowed=public_is_127_0_0_2)
    try:
        with pytest.raises(InvalidRequest, match="redirects more than 3 times"):
            await fetcher.fetch(f"http://{PUBLIC}:{port}/start")
        public.answer = lambda path: redirect("/final") if path == "/start" else image()
        assert (await fetcher.fetch(f"http://{PUBLIC}:{port}/start")).startswith("data:image/png")
    finally:
        await fetcher.aclose()
    assert private.requests == []


SPELLINGS = ["http://127.0.0.1:{port}/", "http://2130706433:{port}/", "http://0x7f.1:{port}/",
             "http://017700000001:{port}/", "http://127.1:{port}/", "http://0177.0.0.1:{port}/",
             "http://0x7f000001:{port}/", "http://127.0.0.1.:{port}/", "http://[::ffff:127.0.0.1]:{port}/",
             "http://[::ffff:7f00:1]:{port}/", "http://[::1]:{port}/", "http://[::127.0.0.1]:{port}/",
             "http://[64:ff9b::7f00:1]:{port}/", "http://[2002:7f00:1::]:{port}/", "http://0:{port}/",
             "http://0.0.0.0:{port}/", "http://[::]:{port}/", "http://localhost:{port}/",
             "http://LOCALHOST:{port}/", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/",
             "http://[fe80::1]/", "http://224.0.0.1/", "http://100.64.0.1/", "https://127.0.0.1:{port}/",
             "http://\uff11\uff12\uff17.0.0.1:{port}/", "http://user:pass@127.0.0.1:{port}/",
             "http://256.0.0.1/", "http://example.0x7f/"]


async def test_every_spelling_of_a_private_address_is_refused(sites: tuple[Site, Site, int]) -> None:
    """With the real resolver and the real rule, no spelling of a local address gets a request out."""
    _, private, port = sites
    fetcher = ImageFetcher(timeout=10)
    try:
        for spelling in SPELLINGS:
            with pytest.raises(InvalidRequest, match=r"non-public|neither a name nor an IP"):
                await fetcher.fetch(spelling.format(port=port))
    finally:
        await fetcher.aclose()
    assert private.requests == []


async def test_other_schemes_and_bad_ports_are_refused() -> None:
    fetcher = ImageFetcher(timeout=10)
    try:
        for url in ("file:///etc/passwd", "ftp://example.com/a.png", "gopher://127.0.0.1/", "http:///nohost",
                    "http://example.com:99999/", "http://example.com:port/"):
            with pytest.raises(InvalidRequest):
                await fetcher.fetch(url)
    finally:
        await fetcher.aclose()


async def test_with_a_proxy_private_names_are_refused_and_unknown_names_go_to_the_proxy(
        sites: tuple[Site, Site, int]) -> None:
    """Behind a proxy the name is passed on, but literal private addresses and locally private names are not."""
    public, private, port = sites
    proxy = Site(lambda path: image())
    server = await serve(proxy, PUBLIC, 0)
    proxy_port = server.sockets[0].getsockname()[1]

    async def unknown(host: str, port: int) -> list[IPAddress]:
        if host == "localhost":
            return [PRIVATE]
        raise OSError("unknown name")

    fetcher = ImageFetcher(timeout=10, proxy=f"http://{PUBLIC}:{proxy_port}", resolver=unknown)
    try:
        for url in (f"http://127.0.0.1:{port}/", f"http://0x7f.1:{port}/", f"http://localhost:{port}/"):
            with pytest.raises(InvalidRequest, match="non-public"):
                await fetcher.fetch(url)
        assert (await fetcher.fetch("http://only-the-proxy-knows.test/cat.png")).startswith("data:image/png")
    finally:
        await fetcher.aclose()
        server.close()
    assert [r["path"] for r in proxy.requests] == ["http://only-the-proxy-knows.test/cat.png"]
    assert private.requests == [] and public.requests == []


def certificate(name: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for `name` and its key, in PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


async def test_https_keeps_sni_and_the_certificate_check_on_the_name(tmp_path: object) -> None:
    """Connecting to the checked IP still sends the name as SNI and verifies the certificate for the name."""
    from pathlib import Path

    cert_pem, key_pem = certificate("images.test")
    folder = Path(str(tmp_path))
    (folder / "cert.pem").write_bytes(cert_pem)
    (folder / "key.pem").write_bytes(key_pem)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    site = Site(lambda path: image())
    server_tls.sni_callback = lambda sock, name, context: site.server_names.append(name)
    server = await serve(site, PUBLIC, 0, server_tls)
    port = server.sockets[0].getsockname()[1]
    trust = ssl.create_default_context(cadata=cert_pem.decode())

    async def resolve(host: str, port: int) -> list[IPAddress]:
        return [PUBLIC]

    fetcher = ImageFetcher(timeout=10, resolver=resolve, allowed=public_is_127_0_0_2, verify=trust)
    try:
        assert (await fetcher.fetch(f"https://images.test:{port}/cat.png")).startswith("data:image/png")
        # The same server under another name fails the certificate check.
        with pytest.raises(InvalidRequest, match="cannot fetch"):
            await fetcher.fetch(f"https://other.test:{port}/cat.png")
    finally:
        await fetcher.aclose()
        server.close()
    assert site.server_names[0] == "images.test" and site.requests[0]["host"] == f"images.test:{port}"
