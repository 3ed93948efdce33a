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

Every refusal is a :class:`FetchError` whose ``str()`` can be shown to the user as it is
(``fetch_errors``). Which addresses may be reached is ``addresses``; the capped, inflating
body reader is ``fetch_body``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from yarl import URL

from .addresses import (
    WEB_SCHEMES,
    AllowRules,
    IPAddress,
    host_key,
    is_public,
    join_url,
    normalize_host_address,
    parse_web_url,
    shown_host,
)
from .fetch_body import BodyReader, media_type, size_text
from .fetch_errors import (
    ConnectError,
    FetchError,
    FetchTimeoutError,
    HTTPStatusError,
    NotArticleTypeError,
    NotPublicError,
    NotWebAddressError,
    TooLargeError,
    TooManyRedirectsError,
)

__all__ = [
    "ACCEPT_ENCODING",
    "ARTICLE_TYPES",
    "DEFAULT_ACCEPT",
    "REDIRECT_STATUSES",
    "WEB_SCHEMES",
    "ConnectError",
    "FetchError",
    "FetchPolicy",
    "FetchResult",
    "FetchTimeoutError",
    "HTTPStatusError",
    "NotArticleTypeError",
    "NotPublicError",
    "NotWebAddressError",
    "TooLargeError",
    "TooManyRedirectsError",
    "fetch",
    "fetch_sync",
    "is_public",
    "normalize_host_address",
    "resolve",
]
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
        AllowRules.parse(self.allow)
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
        addrs = self._pins.get(host_key(host))
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
        self._pins[host_key(host)] = list(addrs)

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
        pinned = self._pins.get(host_key(req.url.raw_host or ""), [])
        expected = {str(a).split("%")[0] for a in pinned}
        if addr is None or str(addr).split("%")[0] not in expected:
            conn.close()
            raise NotPublicError("that address is not public")
        return conn


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
    rules = AllowRules.parse(policy.allow)
    current = parse_web_url(url)
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
                        current = parse_web_url(join_url(current, location))
                        continue
                    return await _result(resp, current, url.strip(), policy, etag, last_modified)
            except aiohttp.ClientSSLError as exc:
                raise ConnectError(f"could not connect securely to {shown_host(host)}") from exc
            except (aiohttp.ClientError, OSError) as exc:
                raise ConnectError(f"could not connect to {shown_host(host)}") from exc
    raise TooManyRedirectsError("too many redirects")


async def _check_host(url: URL, rules: AllowRules) -> list[IPAddress]:
    """The addresses to connect to for ``url``, refusing any that is neither public nor allowed."""
    host = url.raw_host or ""
    literal = normalize_host_address(host)
    if literal is not None:
        addrs = [literal]
        name_allowed = False
    else:
        try:
            addrs = await resolve(host_key(host), url.port or 0)
        except (OSError, UnicodeError) as exc:
            raise ConnectError(f"could not connect to {shown_host(host)}") from exc
        if not addrs:
            raise ConnectError(f"could not connect to {shown_host(host)}")
        name_allowed = host_key(host) in rules.hosts
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
    content_type, charset = media_type(headers.get("content-type", ""))
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
    reader = BodyReader(encoding, policy.max_bytes)
    declared = resp.content_length
    if encoding == "identity" and declared is not None and declared > policy.max_bytes:
        raise TooLargeError(f"page too large (over {size_text(policy.max_bytes)})")
    while chunk := await resp.content.read(READ_CHUNK):
        reader.feed(chunk)
    return FetchResult(
        **common,
        body=reader.finish(),
        etag=headers.get("etag"),
        last_modified=headers.get("last-modified"),
    )


def _header_value(value: str | None) -> str | None:
    """Drop values that would break the request line (CR/LF) instead of sending them."""
    if not value or "\r" in value or "\n" in value:
        return None
    return value.strip() or None
