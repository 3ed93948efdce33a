"""Fetch a web page or feed that a stranger named, without becoming a proxy into our network.

Pasted links and feed URLs are untrusted, so every fetch:

- parses the host the way ``inet_aton``/``getaddrinfo`` would (``2130706433``, ``0x7f000001``,
  ``127.1`` and ``0177.0.0.1`` are all 127.0.0.1), resolves a name once, and refuses when any
  address is not public unless the allow-list names the host or the address's network;
- connects only to the addresses it checked: aiohttp gets a resolver that knows nothing but those
  addresses, so a rebinding DNS answer has no second lookup to slip through, while the Host
  header, SNI and certificate checks still use the name;
- follows redirects itself and checks every hop the same way;
- runs under one deadline for everything (lookups, redirects, body), caps the decompressed body
  (it inflates gzip/deflate itself, a bounded step at a time, so a bomb stops at the cap) and
  accepts only page, text, PDF and feed content types.

Every refusal is a :class:`FetchError` whose ``str()`` can be shown to the user as it is.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from yarl import URL

from ..errors import InputError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

WEB_SCHEMES = frozenset({"http", "https"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# What an article or a feed can be served as; anything else is not worth downloading.
ARTICLE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/plain",
        "application/pdf",
        "application/rss+xml",
        "application/atom+xml",
        "application/xml",
        "text/xml",
        "application/feed+json",
        "application/rdf+xml",
        "application/x-rss+xml",
    }
)
DEFAULT_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,application/rss+xml;q=0.9,"
    "application/atom+xml;q=0.9,application/pdf;q=0.8,text/plain;q=0.8,*/*;q=0.1"
)
# Only encodings we inflate ourselves (so the size cap counts decompressed bytes).
ACCEPT_ENCODING = "gzip, deflate"
READ_CHUNK = 64 * 1024

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


class FetchError(InputError):
    """A URL could not or would not be fetched; the message says why in one short sentence."""


class NotWebAddressError(FetchError):
    """Not an http(s) URL with a plain host (other schemes, credentials, odd host syntax)."""


class NotPublicError(FetchError):
    """The host is, or resolves to, an address that is not public and is not allow-listed."""


class TooLargeError(FetchError):
    """The body, once decompressed, is larger than the policy allows."""


class FetchTimeoutError(FetchError):
    """The whole fetch (lookups, redirects and body) did not finish within the deadline."""


class NotArticleTypeError(FetchError):
    """The server answered with a content type that is not a page, text, PDF or feed."""


class TooManyRedirectsError(FetchError):
    """More redirects than the policy follows."""


class ConnectError(FetchError):
    """The host could not be resolved, reached or read from."""


class HTTPStatusError(FetchError):
    """The server answered with an error (or a redirect without a target)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"the server answered {status}")
        self.status = status


@dataclass(frozen=True)
class _AllowRules:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> _AllowRules:
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
                host = _host_key(URL.build(scheme="http", host=entry).raw_host or "")
            except ValueError:
                host = ""
            if not host or not _HOST_CHARS.fullmatch(host) or _ends_in_number(host):
                raise ValueError(f"fetch allow-list entry {raw!r} is not a host name or network")
            hosts.add(host)
        return cls(frozenset(hosts), tuple(networks))

    def allows_address(self, addr: IPAddress) -> bool:
        candidates = [addr]
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            candidates.append(addr.ipv4_mapped)
        return any(a in net for a in candidates for net in self.networks)


@dataclass(frozen=True)
class FetchPolicy:
    """What a fetch may do; build one from settings and share it."""

    allow: tuple[str, ...] = ()  # hosts and CIDR networks allowed though not public
    timeout: float = 20.0  # overall deadline, seconds
    max_bytes: int = 10_000_000  # decompressed body cap
    max_redirects: int = 5
    user_agent: str = "newsbot/0.1 (+https://github.com/newsbot)"

    def __post_init__(self) -> None:
        # Fail at start-up on a bad allow-list or limit, not on the first pasted link.
        _AllowRules.parse(self.allow)
        if not self.timeout > 0 or self.max_bytes <= 0 or self.max_redirects < 0:
            raise ValueError("fetch timeout and size cap must be positive, redirects >= 0")

    @classmethod
    def from_setting(cls, allow: str, **kw: Any) -> FetchPolicy:
        """Build a policy from a comma-separated allow-list such as ``"a,10.0.0.0/8, c"``."""
        entries = tuple(e.strip().lower() for e in (allow or "").split(",") if e.strip())
        return cls(allow=entries, **kw)


@dataclass(frozen=True)
class FetchResult:
    url: str  # final URL after redirects
    requested_url: str
    status: int
    content_type: str  # media type only, lower-case, e.g. "text/html"
    charset: str | None
    headers: dict[str, str] = field(repr=False)  # response headers (lower-case keys)
    body: bytes = field(repr=False)
    not_modified: bool = False
    etag: str | None = None
    last_modified: str | None = None


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


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to, in resolver order. Tests may replace this function."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    found: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            addr = ipaddress.ip_address(sockaddr[0])
            if addr not in found:
                found.append(addr)
    return found


class _PinnedResolver(AbstractResolver):
    """Answers aiohttp with the addresses we already checked for a host, and nothing else."""

    def __init__(self, pins: dict[str, list[IPAddress]]) -> None:
        self._pins = pins

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addrs = self._pins.get(_host_key(host))
        if not addrs:
            raise OSError(f"{host} was not checked before connecting")
        return [
            {
                "hostname": host,
                "host": str(a),
                "port": port,
                "family": socket.AF_INET6 if a.version == 6 else socket.AF_INET,
                "proto": socket.IPPROTO_TCP,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for a in addrs
        ]

    async def close(self) -> None:
        pass


class _PinnedConnector(aiohttp.TCPConnector):
    """Connects only to checked addresses, and verifies the peer before a byte is sent."""

    def __init__(self) -> None:
        self._pins: dict[str, list[IPAddress]] = {}
        super().__init__(
            resolver=_PinnedResolver(self._pins), use_dns_cache=False, force_close=True
        )

    def pin(self, host: str, addrs: list[IPAddress]) -> None:
        self._pins[_host_key(host)] = list(addrs)

    async def connect(  # overrides aiohttp's method, whose signature this must keep
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109
    ) -> Connection:
        conn = await super().connect(req, traces, timeout)
        transport = conn.transport
        peer = transport.get_extra_info("peername") if transport is not None else None
        try:
            addr = ipaddress.ip_address(peer[0]) if peer else None
        except ValueError:
            addr = None
        pinned = self._pins.get(_host_key(req.url.raw_host or ""), [])
        expected = {str(a).split("%")[0] for a in pinned}
        if addr is None or str(addr).split("%")[0] not in expected:
            conn.close()
            raise NotPublicError("that address is not public")
        return conn


class _BodyReader:
    """Collects a body, inflating gzip/deflate in bounded steps so the cap applies to output."""

    def __init__(self, encoding: str, max_bytes: int) -> None:
        self.encoding = encoding
        self.max_bytes = max_bytes
        self.out = bytearray()
        self._pending = b""  # deflate: bytes held until the zlib header can be recognised
        self._inflater: Any = None
        if encoding == "gzip":
            self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding not in ("identity", "deflate"):
            raise FetchError(f"the page uses an unsupported compression ({encoding})")

    def feed(self, data: bytes) -> None:
        if self.encoding == "identity":
            self._append(data)
            return
        if self._inflater is None:  # deflate: zlib-wrapped per the RFC, raw from some servers
            self._pending += data
            if len(self._pending) < 2:
                return
            b0, b1 = self._pending[0], self._pending[1]
            wrapped = b0 & 0x0F == 8 and (b0 << 8 | b1) % 31 == 0
            self._inflater = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
            data, self._pending = self._pending, b""
        self._inflate(data)

    def _inflate(self, data: bytes) -> None:
        try:
            while data:
                if self._inflater.eof:
                    # Another gzip member may follow; anything else after the end is ignored.
                    if self.encoding != "gzip" or not data.startswith(b"\x1f\x8b"):
                        return
                    self._inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                room = self.max_bytes - len(self.out) + 1
                self._append(self._inflater.decompress(data, room))
                data = self._inflater.unconsumed_tail
                if self._inflater.eof:
                    data = self._inflater.unused_data
        except zlib.error:
            raise FetchError("the page could not be decompressed") from None

    def finish(self) -> bytes:
        if self._pending:  # a one-byte deflate body
            self._inflater = zlib.decompressobj(-zlib.MAX_WBITS)
            self._inflate(self._pending)
        if self._inflater is not None and not self._inflater.eof:
            try:
                self._append(self._inflater.flush())
            except zlib.error:
                raise FetchError("the page could not be decompressed") from None
        return bytes(self.out)

    def _append(self, data: bytes) -> None:
        self.out += data
        if len(self.out) > self.max_bytes:
            raise TooLargeError(f"page too large (over {_size(self.max_bytes)})")


async def fetch(
    url: str,
    policy: FetchPolicy,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    accept: str | None = None,
) -> FetchResult:
    """GET ``url`` under ``policy``; raise a :class:`FetchError` for every refusal.

    ``etag``/``last_modified`` (from an earlier result) make the request conditional; a 304
    answer comes back as an empty result with ``not_modified=True``. ``accept`` replaces the
    Accept header; it does not widen the accepted content types.
    """
    try:
        async with asyncio.timeout(policy.timeout):
            return await _fetch(url, policy, etag, last_modified, accept)
    except TimeoutError:
        raise FetchTimeoutError(f"took too long (over {policy.timeout:g} s)") from None


def fetch_sync(url: str, policy: FetchPolicy, **kw: Any) -> FetchResult:
    """Run :func:`fetch` in a fresh event loop: for the CLI and worker threads (not a loop)."""
    return asyncio.run(fetch(url, policy, **kw))


async def _fetch(
    url: str,
    policy: FetchPolicy,
    etag: str | None,
    last_modified: str | None,
    accept: str | None,
) -> FetchResult:
    rules = _AllowRules.parse(policy.allow)
    current = _parse_web_url(url)
    headers = {
        "User-Agent": policy.user_agent,
        "Accept": _header_value(accept) or DEFAULT_ACCEPT,
        "Accept-Encoding": ACCEPT_ENCODING,
    }
    if _header_value(etag):
        headers["If-None-Match"] = _header_value(etag)
    if _header_value(last_modified):
        headers["If-Modified-Since"] = _header_value(last_modified)

    connector = _PinnedConnector()
    async with aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        trust_env=False,
        timeout=aiohttp.ClientTimeout(total=None),
    ) as session:
        for _hop in range(policy.max_redirects + 1):
            host = current.raw_host or ""
            connector.pin(host, await _check_host(current, rules))
            try:
                async with session.get(current, headers=headers, allow_redirects=False) as resp:
                    if resp.status in REDIRECT_STATUSES:
                        location = resp.headers.get("Location")
                        if not location:
                            raise HTTPStatusError(resp.status)
                        current = _parse_web_url(_join(current, location))
                        continue
                    return await _result(resp, current, url.strip(), policy, etag, last_modified)
            except aiohttp.ClientSSLError as exc:
                raise ConnectError(f"could not connect securely to {_shown(host)}") from exc
            except (aiohttp.ClientError, OSError) as exc:
                raise ConnectError(f"could not connect to {_shown(host)}") from exc
    raise TooManyRedirectsError("too many redirects")


async def _check_host(url: URL, rules: _AllowRules) -> list[IPAddress]:
    """The addresses to connect to for ``url``, refusing any that is neither public nor allowed."""
    host = url.raw_host or ""
    literal = normalize_host_address(host)
    if literal is not None:
        addrs = [literal]
        name_allowed = False
    else:
        try:
            addrs = await resolve(_host_key(host), url.port or 0)
        except (OSError, UnicodeError) as exc:
            raise ConnectError(f"could not connect to {_shown(host)}") from exc
        if not addrs:
            raise ConnectError(f"could not connect to {_shown(host)}")
        name_allowed = _host_key(host) in rules.hosts
    if not name_allowed:
        for addr in addrs:
            if not (is_public(addr) or rules.allows_address(addr)):
                raise NotPublicError("that address is not public")
    return addrs


async def _result(
    resp: aiohttp.ClientResponse,
    url: URL,
    requested: str,
    policy: FetchPolicy,
    etag: str | None,
    last_modified: str | None,
) -> FetchResult:
    headers: dict[str, str] = {}
    for key, value in resp.headers.items():
        k = key.lower()
        headers[k] = f"{headers[k]}, {value}" if k in headers else value
    content_type, charset = _media_type(headers.get("content-type", ""))
    common = {
        "url": str(url),
        "requested_url": requested,
        "status": resp.status,
        "content_type": content_type,
        "charset": charset,
        "headers": headers,
    }
    if resp.status == 304:
        return FetchResult(
            **common,
            body=b"",
            not_modified=True,
            etag=headers.get("etag", etag),
            last_modified=headers.get("last-modified", last_modified),
        )
    if not 200 <= resp.status < 300:
        raise HTTPStatusError(resp.status)
    if content_type not in ARTICLE_TYPES:
        shown = f"content type {content_type}" if content_type else "no content type"
        raise NotArticleTypeError(f"not an article ({shown})")

    encoding = headers.get("content-encoding", "identity").strip().lower() or "identity"
    encoding = "gzip" if encoding == "x-gzip" else encoding
    reader = _BodyReader(encoding, policy.max_bytes)
    declared = resp.content_length
    if encoding == "identity" and declared is not None and declared > policy.max_bytes:
        raise TooLargeError(f"page too large (over {_size(policy.max_bytes)})")
    while chunk := await resp.content.read(READ_CHUNK):
        reader.feed(chunk)
    return FetchResult(
        **common,
        body=reader.finish(),
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
    )


def _parse_web_url(url: str | URL) -> URL:
    """An absolute http(s) URL with a plain host, IP literals in canonical form, no fragment."""
    try:
        parsed = url if isinstance(url, URL) else URL(url.strip())
        scheme, host, port = parsed.scheme.lower(), parsed.raw_host, parsed.port
    except (ValueError, TypeError, UnicodeError):
        raise NotWebAddressError("not a web address") from None
    if scheme not in WEB_SCHEMES or not host or not port:
        raise NotWebAddressError("not a web address")
    if parsed.user is not None or parsed.password is not None:
        raise NotWebAddressError("not a web address")
    host = host.lower()
    addr = normalize_host_address(host)
    if addr is not None:
        if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
            raise NotWebAddressError("not a web address")
        parsed = parsed.with_host(str(addr))
    elif ":" in host or not _HOST_CHARS.fullmatch(host) or _ends_in_number(host):
        # Percent-escapes, spaces, or a number that no parser agrees on: never guess.
        raise NotWebAddressError("not a web address")
    return parsed.with_fragment(None)


def _join(base: URL, location: str) -> URL:
    try:
        return base.join(URL(location.strip()))
    except (ValueError, TypeError, UnicodeError):
        raise NotWebAddressError("not a web address") from None


def _ends_in_number(host: str) -> bool:
    """WHATWG's rule: a host whose last label is numeric must be an IPv4 address or nothing."""
    last = host.rstrip(".").rsplit(".", 1)[-1]
    return bool(last) and bool(_IPV4_PART.fullmatch(last) or last.isdigit())


def _host_key(host: str) -> str:
    return host.lower().rstrip(".")


def _shown(host: str) -> str:
    return _host_key(host) or "the server"


def _header_value(value: str | None) -> str | None:
    """Drop values that would break the request line (CR/LF) instead of sending them."""
    if not value or "\r" in value or "\n" in value:
        return None
    return value.strip() or None


def _media_type(raw: str) -> tuple[str, str | None]:
    media, *params = raw.split(";")
    charset = None
    for param in params:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip().strip("\"'").lower() or None
    return media.strip().lower(), charset


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:g} MB"
    if n >= 1_000:
        return f"{n / 1_000:g} KB"
    return f"{n} bytes"
