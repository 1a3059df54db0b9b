"""Which network addresses users may make Tollway fetch from, and every spelling of an IP address in a URL host.

Only globally reachable unicast addresses are public. IPv6 forms that carry an IPv4 address (mapped, compatible,
NAT64, 6to4) are judged by the IPv4 address they carry, and a host written the way `inet_aton` reads numbers
(`2130706433`, `0x7f.1`, `017700000001`, `127.1`) is the address it spells, never a name to look up.
"""

from __future__ import annotations

import ipaddress
import re
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address

# Spelled out rather than left to `is_global`, whose answer changes between Python versions (3.11 calls
# multicast, NAT64 and 6to4 addresses global).
_BLOCKED: tuple[IPv4Network | IPv6Network, ...] = tuple(ipaddress.ip_network(net) for net in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
    "203.0.113.0/24", "224.0.0.0/3",
    "::/128", "::1/128", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7", "fe80::/10",
    "fec0::/10", "ff00::/8",
))
_NAT64 = IPv6Network("64:ff9b::/96")
_COMPATIBLE = IPv6Network("::/96")  # deprecated IPv4-compatible addresses, ::a.b.c.d
_NUMBER = re.compile(r"(0x[0-9a-f]*|[0-9]+)", re.IGNORECASE)


def _carried(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, if it is one of the forms that embed one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    """True for a globally reachable unicast address; loopback, private, link-local, reserved and the like are not."""
    if isinstance(address, IPv6Address):
        carried = _carried(address)
        if carried is not None:
            return is_public(carried)
    if any(address.version == net.version and address in net for net in _BLOCKED):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_link_local)


def _number(part: str) -> int | None:
    if not _NUMBER.fullmatch(part):
        return None
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part, 8) if part.isdigit() and "8" not in part and "9" not in part else None
    return int(part)


def _ipv4(host: str) -> IPv4Address | None:
    """An IPv4 address in any of inet_aton's forms: 1 to 4 parts, each decimal, octal (0…) or hex (0x…)."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = [_number(part) for part in parts]
    if any(n is None for n in numbers):
        return None
    values = [n for n in numbers if n is not None]
    *leading, last = values
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(values)):
        return None
    value = last
    for index, byte in enumerate(leading):
        value += byte << (8 * (3 - index))
    return IPv4Address(value)


def looks_numeric(host: str) -> bool:
    """True when a host ends in a number, so it must be an IPv4 address (as browsers read URLs), not a name."""
    last = host.rstrip(".").rsplit(".", 1)[-1]
    return bool(last) and _NUMBER.fullmatch(last) is not None


def literal(host: str) -> IPAddress | None:
    """The address a URL host spells (IPv6 with or without brackets, IPv4 in any numeric form), None for a name."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return IPv6Address(host)
        except ValueError:
            return None
    return _ipv4(host.removesuffix("."))
