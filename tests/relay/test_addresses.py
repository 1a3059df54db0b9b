"""Every spelling of a non-public address is recognised, and public addresses stay allowed."""

from __future__ import annotations

from ipaddress import IPv4Address, ip_address

import pytest

from tollway.relay.addresses import is_public, literal, looks_numeric

LOOPBACK_SPELLINGS = ["127.0.0.1", "2130706433", "0x7f.1", "017700000001", "127.1", "127.0.1", "0177.0.0.1",
                      "0x7f000001", "0x7F.0x0.0x0.0x1", "127.0.0.1.", "0x7f.0.0.1", "[::ffff:127.0.0.1]",
                      "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
                      "[2002:7f00:1::]", "[::1]", "::1"]
NOT_PUBLIC = ["0", "0.0.0.0", "[::]", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
              "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255", "192.0.0.8", "198.18.0.1",
              "[fe80::1]", "[fc00::1]", "[fd12:3456::1]", "[ff02::1]", "[fec0::1]", "[2001:db8::1]",
              "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]", "[64:ff9b::a9fe:a9fe]", "[64:ff9b:1::1]",
              "[2002:c0a8:101::1]", "[2001::1]", "[100::1]", "0xa9.0xfe.0xa9.0xfe", "2852039166"]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "[2606:4700:4700::1111]", "[::ffff:8.8.8.8]",
          "[64:ff9b::808:808]", "134744072"]


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_loopback_in_every_spelling(host: str) -> None:
    address = literal(host)
    assert address is not None and not is_public(address), host


@pytest.mark.parametrize("host", NOT_PUBLIC)
def test_private_reserved_and_special_addresses_are_not_public(host: str) -> None:
    address = literal(host)
    assert address is not None, host
    assert not is_public(address), host


@pytest.mark.parametrize("host", PUBLIC)
def test_public_addresses_are_public(host: str) -> None:
    address = literal(host)
    assert address is not None and is_public(address), host


def test_numeric_forms_read_like_inet_aton() -> None:
    assert literal("2130706433") == IPv4Address("127.0.0.1")
    assert literal("0x7f.1") == IPv4Address("127.0.0.1")
    assert literal("017700000001") == IPv4Address("127.0.0.1")
    assert literal("127.1") == IPv4Address("127.0.0.1")
    assert literal("10.1.2") == IPv4Address("10.1.0.2")
    assert literal("[::FFFF:127.0.0.1]") == ip_address("::ffff:7f00:1")


def test_names_are_not_addresses_but_numeric_hosts_must_be() -> None:
    for name in ("example.com", "images.example", "cafe", "0day.example", "xn--bcher-kva.example"):
        assert literal(name) is None and not looks_numeric(name), name
    # Hosts ending in a number are IPv4 or nothing: these are invalid and must not be looked up as names.
    for invalid in ("256.0.0.1", "1.2.3.4.5", "09.0.0.1", "127.0.0.0x100", "example.0x1", "4294967296"):
        assert literal(invalid) is None and looks_numeric(invalid), invalid
