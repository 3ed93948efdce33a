"""Which web addresses a fetch may reach: URLs parsed strictly, hosts read the way
``inet_aton``/``getaddrinfo`` would (``2130706433``, ``0x7f000001``, ``127.1`` and
``0177.0.0.1`` are all 127.0.0.1), public addresses told from the rest, and the allow-list of
hosts and networks let through although not public (self-hosted feeds, tests).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from yarl import URL

from .fetch_errors import NotWebAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

WEB_SCHEMES = frozenset({"http", "https"})
# The fetcher's refusal of a link it will not parse (a member's typed link that is not one is
# answered earlier, by ``web.web_address``, saying what a link looks like).
NOT_WEB = "not a web address"

# Not reachable on the public internet (IANA special-purpose registries), or multicast.
_BLOCKED_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
)
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_BLOCKED_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "2001::/23",  # IETF protocol assignments, Teredo included
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: judged by its embedded IPv4 address instead
        "3fff::/20",  # documentation
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_HOST_CHARS = re.compile(r"[a-z0-9_.-]+")
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")


@dataclass(frozen=True)
class AllowRules:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> AllowRules:
        """Split entries into host names and networks; an IP without a prefix is a /32 or /128."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            try:
                if "/" in entry:
                    networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
                    continue
                addr = normalize_host_address(entry)
                if addr is not None:
                    networks.append(ipaddress.ip_network(addr))
                    continue
                host = host_key(URL.build(scheme="http", host=entry).raw_host or "")
            except ValueError:
                host = ""
            if not host or not _HOST_CHARS.fullmatch(host) or ends_in_number(host):
                raise ValueError(f"fetch allow-list entry {raw!r} is not a host name or network")
            hosts.add(host)
        return cls(frozenset(hosts), tuple(networks))

    def allows_address(self, addr: IPAddress) -> bool:
        candidates = [addr]
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            candidates.append(addr.ipv4_mapped)
        return any(a in net for a in candidates for net in self.networks)


def normalize_host_address(host: str) -> IPAddress | None:
    """The address a URL host denotes if it is an IP literal in any form, else ``None`` (a name).

    IPv4 follows ``inet_aton``: one to four dot-separated parts, each decimal, ``0x`` hex or
    ``0``-prefixed octal, the last part filling the remaining bytes (``127.1``, ``2130706433``).
    One trailing dot is ignored. IPv6 may be bracketed and may carry a zone (``%eth0``).
    """
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            return None
    if host.endswith("."):
        host = host[:-1]
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_IPV4_PART.fullmatch(p) for p in parts):
        return None
    values = []
    for part in parts:
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part[0] == "0":
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for i, v in enumerate(head):
        number += v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def is_public(addr: IPAddress | str) -> bool:
    """True when ``addr`` is a globally reachable unicast address.

    IPv4-mapped (``::ffff:a.b.c.d``), NAT64 (``64:ff9b::/96``) and 6to4 (``2002::/16``) addresses
    are judged by the IPv4 address they carry. Outside ``2000::/3`` no IPv6 address is public.
    """
    if isinstance(addr, str):
        addr = ipaddress.ip_address(addr)
    if isinstance(addr, ipaddress.IPv6Address):
        if addr.ipv4_mapped is not None:
            return is_public(addr.ipv4_mapped)
        if addr in _NAT64:
            return is_public(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
        if addr.sixtofour is not None:
            return is_public(addr.sixtofour)
        if addr not in _GLOBAL_UNICAST_V6 or any(addr in net for net in _BLOCKED_V6):
            return False
    elif any(addr in net for net in _BLOCKED_V4):
        return False
    return addr.is_global and not (
        addr.is_multicast
        or addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_reserved
        or addr.is_unspecified
    )


def parse_web_url(url: str | URL) -> URL:
    """An absolute http(s) URL with a plain host, IP literals in canonical form, no fragment."""
    try:
        parsed = url if isinstance(url, URL) else URL(url.strip())
        scheme, host, port = parsed.scheme.lower(), parsed.raw_host, parsed.port
    except (ValueError, TypeError, UnicodeError):
        raise NotWebAddressError(NOT_WEB) from None
    if scheme not in WEB_SCHEMES or not host or not port:
        raise NotWebAddressError(NOT_WEB)
    if parsed.user is not None or parsed.password is not None:
        raise NotWebAddressError(NOT_WEB)
    host = host.lower()
    addr = normalize_host_address(host)
    if addr is not None:
        if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
            raise NotWebAddressError(NOT_WEB)
        parsed = parsed.with_host(str(addr))
    elif ":" in host or not _HOST_CHARS.fullmatch(host) or ends_in_number(host):
        # Percent-escapes, spaces, or a number that no parser agrees on: never guess.
        raise NotWebAddressError(NOT_WEB)
    return parsed.with_fragment(None)


def join_url(base: URL, location: str) -> URL:
    try:
        return base.join(URL(location.strip()))
    except (ValueError, TypeError, UnicodeError):
        raise NotWebAddressError(NOT_WEB) from None


def ends_in_number(host: str) -> bool:
    """WHATWG's rule: a host whose last label is numeric must be an IPv4 address or nothing."""
    last = host.rstrip(".").rsplit(".", 1)[-1]
    return bool(last) and bool(_IPV4_PART.fullmatch(last) or last.isdigit())


def host_key(host: str) -> str:
    return host.lower().rstrip(".")


def shown_host(host: str) -> str:
    """A host as an error message names it."""
    return host_key(host) or "the server"
