"""Which addresses the fetcher may reach (``index.ingest.addresses``): every spelling of an IP
address read the way the system resolver would, public addresses told from the rest, and the
allow-list setting. No network: the fetcher against a live server is ``test_fetch.py``."""

from __future__ import annotations

import ipaddress

import pytest

from index.errors import InputError
from index.ingest.fetch import (
    FetchError,
    FetchPolicy,
    NotPublicError,
    is_public,
    normalize_host_address,
)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0X7F000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("127.0.0.1.", "127.0.0.1"),
        ("169.254.169.254", "169.254.169.254"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("example.com", None),
        ("localhost", None),
        ("1.2.3.4.5", None),
        ("256.0.0.1", None),
        ("08.0.0.1", None),
        ("127.0.0.1x", None),
        ("", None),
    ],
)
def test_normalize_host_address(host: str, expected: str | None) -> None:
    addr = normalize_host_address(host)
    assert (None if addr is None else str(addr)) == expected


@pytest.mark.parametrize("addr", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808"])
def test_public_addresses(addr: str) -> None:
    assert is_public(ipaddress.ip_address(addr))
    assert is_public(addr)


@pytest.mark.parametrize(
    "addr",
    [
        "127.0.0.1",
        "0.0.0.0",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "198.18.0.1",
        "192.0.2.1",
        "::",
        "::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::1",
        "fd00::1",
        "fe80::1",
        "ff02::1",
        "2001:db8::1",
        "2001::1",
    ],
)
def test_non_public_addresses(addr: str) -> None:
    assert not is_public(ipaddress.ip_address(addr))


def test_policy_from_setting() -> None:
    policy = FetchPolicy.from_setting(" 127.0.0.1, 10.0.0.0/8 ,Feeds.Local,,", timeout=5)
    assert policy.allow == ("127.0.0.1", "10.0.0.0/8", "feeds.local")
    assert policy.timeout == 5
    assert FetchPolicy.from_setting("").allow == ()
    for bad in ("10.0.0.0/33", "bad host", "1.2.3.4.5"):
        with pytest.raises(ValueError):
            FetchPolicy.from_setting(bad)


def test_errors_are_input_errors() -> None:
    assert issubclass(FetchError, InputError)
    assert issubclass(NotPublicError, FetchError)
