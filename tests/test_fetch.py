"""The safe fetcher against a local server on 127.0.0.1: pages, feeds, redirects, slow, huge and
compressed bodies, and every way of spelling a non-public address (refused before connecting).
"""

from __future__ import annotations

import asyncio
import gzip
import ipaddress
import socket
import ssl
import subprocess
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import aiohttp.connector
import pytest
from aiohttp import web

from index.ingest import fetch as fetch_mod
from index.ingest.fetch import (
    FetchError,
    FetchPolicy,
    NotPublicError,
    fetch,
    fetch_sync,
)
from local_site import serving

HTML = b"<html><head><title>Shells</title></head><body><p>News.</p></body></html>"
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
ETAG = '"feed-v1"'
LAST_MODIFIED = "Tue, 01 Dec 2026 10:00:00 GMT"
LOCAL = FetchPolicy(allow=("127.0.0.1",))


@dataclass
class Server:
    port: int
    hits: list[str] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    headers: list[dict[str, str]] = field(default_factory=list)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture(scope="session")
def bomb() -> bytes:
    """200 MB of zeros as a ~200 KB gzip stream."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    parts = [packer.compress(zeros) for _ in range(200)]
    parts.append(packer.flush())
    return b"".join(parts)


@pytest.fixture
async def server(bomb: bytes) -> AsyncIterator[Server]:
    state = Server(port=0)

    @web.middleware
    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        state.hits.append(request.path)
        state.headers.append(dict(request.headers))
        return await handler(request)

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=HTML, content_type="text/html", charset="utf-8")

    async def text(request: web.Request) -> web.Response:
        return web.Response(text="Plain news.", content_type="text/plain")

    async def pdf(request: web.Request) -> web.Response:
        return web.Response(body=b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")

    async def feed(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == ETAG or (
            request.headers.get("If-Modified-Since") == LAST_MODIFIED
        ):
            return web.Response(status=304, headers={"ETag": ETAG})
        return web.Response(
            body=RSS,
            content_type="application/rss+xml",
            headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED},
        )

    async def redirect(request: web.Request) -> web.Response:
        step = request.match_info["step"]
        target = {"1": "/r/2", "2": state.url("/page")}[step]
        raise web.HTTPFound(target) if step == "1" else web.HTTPMovedPermanently(target)

    async def to(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["target"])

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/loop/{int(request.match_info['n']) + 1}")

    async def slow(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        for _ in range(40):
            await resp.write(b"x")
            await asyncio.sleep(0.5)
        return resp

    async def huge(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/html"})
        await resp.prepare(request)
        chunk = b"a" * 65536
        state.sent["huge"] = 0
        while state.sent["huge"] < 50_000_000:
            await resp.write(chunk)
            state.sent["huge"] += len(chunk)
        return resp

    async def declared(request: web.Request) -> web.Response:
        return web.Response(body=b"b" * 2_000_000, content_type="text/plain")

    async def gzip_bomb(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}
        )

    async def compressed(request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if kind == "gzip":
            body = gzip.compress(HTML)
        elif kind == "gzip-members":  # two gzip members back to back are one body
            body, kind = gzip.compress(HTML[:20]) + gzip.compress(HTML[20:]), "gzip"
        elif kind == "deflate":
            body = zlib.compress(HTML)
        else:  # raw deflate, as some servers send it
            packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
            body, kind = packer.compress(HTML) + packer.flush(), "deflate"
        return web.Response(
            body=body, headers={"Content-Type": "text/html", "Content-Encoding": kind}
        )

    async def png(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n", content_type="image/png")

    async def echo_host(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("Host", ""), content_type="text/plain")

    app = web.Application(middlewares=[record])
    app.router.add_get("/page", page)
    app.router.add_get("/text", text)
    app.router.add_get("/pdf", pdf)
    app.router.add_get("/feed", feed)
    app.router.add_get("/r/{step}", redirect)
    app.router.add_get("/to", to)
    app.router.add_get("/loop/{n}", loop)
    app.router.add_get("/slow", slow)
    app.router.add_get("/huge", huge)
    app.router.add_get("/declared", declared)
    app.router.add_get("/bomb", gzip_bomb)
    app.router.add_get("/compressed/{kind}", compressed)
    app.router.add_get("/png", png)
    app.router.add_get("/echo-host", echo_host)
    async with serving(app, quick=True) as port:
        state.port = port
        yield state


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Records every outgoing connect; refuses all but loopback so nothing leaves the machine."""
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def guarded(sock: socket.socket, address: object) -> None:
        attempts.append(address)
        host = address[0] if isinstance(address, tuple) else ""
        if host not in ("127.0.0.1", "::1"):
            raise ConnectionRefusedError(f"test refused a connection to {address}")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield attempts


# --- refusals before any connection ----------------------------------------------------------

LOOPBACK_FORMS = [
    "http://127.0.0.1:{p}/page",
    "http://localhost:{p}/page",
    "http://2130706433:{p}/page",
    "http://0x7f000001:{p}/page",
    "http://127.1:{p}/page",
    "http://0177.0.0.1:{p}/page",
    "http://0.0.0.0:{p}/page",
    "http://[::1]:{p}/page",
    "http://[::ffff:127.0.0.1]:{p}/page",
    "http://127.0.0.1.:{p}/page",
    "https://127.0.0.1:{p}/page",
]
OTHER_PRIVATE = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://224.0.0.1/",
    "http://[ff02::1]/",
    "http://[::]/",
]


@pytest.mark.timeout(5)
@pytest.mark.parametrize("template", LOOPBACK_FORMS)
async def test_loopback_forms_refused(
    server: Server, connects: list[object], template: str
) -> None:
    started = time.monotonic()
    with pytest.raises(NotPublicError, match=r"^that address is not public$"):
        await fetch(template.format(p=server.port), FetchPolicy())
    assert time.monotonic() - started < 1
    assert connects == []
    assert server.hits == []


@pytest.mark.timeout(5)
@pytest.mark.parametrize("url", OTHER_PRIVATE)
async def test_private_addresses_refused_before_connecting(
    connects: list[object], url: str
) -> None:
    started = time.monotonic()
    with pytest.raises(NotPublicError, match=r"^that address is not public$"):
        await fetch(url, FetchPolicy())
    assert time.monotonic() - started < 1
    assert connects == []


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "url",
    [
        "ftp://x/",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "data:text/html,hi",
        "http://user:pass@example.com/",
        "http:///page",
        "not a url",
        "http://exa mple.com/",
        "http://%31%32%37.0.0.1/",
        "http://256.0.0.1/",
        "http://1.2.3.4.5/",
        "http://example.com:0/",
    ],
)
async def test_not_web_addresses(connects: list[object], url: str) -> None:
    with pytest.raises(FetchError, match=r"^not a web address$"):
        await fetch(url, FetchPolicy())
    assert connects == []


@pytest.mark.timeout(5)
async def test_any_non_public_answer_refuses_a_name(
    monkeypatch: pytest.MonkeyPatch, connects: list[object]
) -> None:
    async def fake_resolve(host: str, port: int) -> list[ipaddress.IPv4Address]:
        return [ipaddress.IPv4Address("93.184.216.34"), ipaddress.IPv4Address("10.0.0.5")]

    monkeypatch.setattr(fetch_mod, "resolve", fake_resolve)
    with pytest.raises(NotPublicError):
        await fetch("http://mixed.example/", FetchPolicy())
    assert connects == []


# --- connecting to the checked address ---------------------------------------------------------


@pytest.mark.timeout(5)
async def test_public_name_connects_to_checked_address(
    monkeypatch: pytest.MonkeyPatch, connects: list[object]
) -> None:
    """A name resolving to a public address passes, and the socket goes to that address."""
    calls: list[str] = []

    async def fake_resolve(host: str, port: int) -> list[ipaddress.IPv4Address]:
        calls.append(host)
        return [ipaddress.IPv4Address("8.8.8.8")]

    monkeypatch.setattr(fetch_mod, "resolve", fake_resolve)
    with pytest.raises(FetchError, match=r"^could not connect to news\.example$"):
        await fetch("http://news.example/story", FetchPolicy())
    assert calls == ["news.example"]
    assert connects == [("8.8.8.8", 80)]  # the guard refused it: nothing left the machine


@pytest.mark.timeout(5)
async def test_connects_to_checked_ip_with_the_name_in_host_header(
    server: Server, monkeypatch: pytest.MonkeyPatch, connects: list[object]
) -> None:
    """No second lookup: aiohttp gets only the address we checked, Host still names the site."""
    calls: list[str] = []
    lookups: list[object] = []

    async def fake_resolve(host: str, port: int) -> list[ipaddress.IPv4Address]:
        calls.append(host)
        return [ipaddress.IPv4Address("127.0.0.1")]

    loop = asyncio.get_running_loop()
    real_getaddrinfo = loop.getaddrinfo

    async def spy_getaddrinfo(*args: object, **kw: object) -> object:
        lookups.append(args)
        return await real_getaddrinfo(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(fetch_mod, "resolve", fake_resolve)
    monkeypatch.setattr(loop, "getaddrinfo", spy_getaddrinfo)
    result = await fetch(
        server.url("/echo-host", host="news.example"), FetchPolicy(allow=("127.0.0.1/32",))
    )
    assert result.body.decode() == f"news.example:{server.port}"
    assert calls == ["news.example"]
    assert lookups == []
    assert connects == [("127.0.0.1", server.port)]


# --- allowed fetches ---------------------------------------------------------------------------


@pytest.mark.timeout(5)
async def test_html_page(server: Server) -> None:
    result = await fetch(server.url("/page"), LOCAL)
    assert result.status == 200
    assert result.body == HTML
    assert result.content_type == "text/html"
    assert result.charset == "utf-8"
    assert result.url == result.requested_url == server.url("/page")
    assert result.headers["content-type"].startswith("text/html")
    assert not result.not_modified
    sent = server.headers[0]
    assert sent["User-Agent"] == FetchPolicy().user_agent
    assert sent["Accept-Encoding"] == "gzip, deflate"


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/text", "text/plain"), ("/pdf", "application/pdf"), ("/feed", "application/rss+xml")],
)
async def test_other_accepted_types(server: Server, path: str, content_type: str) -> None:
    result = await fetch(server.url(path), LOCAL)
    assert result.content_type == content_type
    assert result.body


@pytest.mark.timeout(5)
@pytest.mark.parametrize("kind", ["gzip", "gzip-members", "deflate", "raw-deflate"])
async def test_compressed_bodies_are_inflated(server: Server, kind: str) -> None:
    result = await fetch(server.url(f"/compressed/{kind}"), LOCAL)
    assert result.body == HTML


@pytest.mark.timeout(5)
async def test_allowed_by_network_and_host_name(server: Server) -> None:
    by_net = await fetch(
        server.url("/page", host="2130706433"), FetchPolicy(allow=("127.0.0.0/8",))
    )
    assert by_net.body == HTML
    assert by_net.url == server.url("/page")  # the canonical form of the address
    by_name = await fetch(server.url("/page", host="localhost"), FetchPolicy(allow=("localhost",)))
    assert by_name.body == HTML


@pytest.mark.timeout(5)
async def test_fetch_sync_from_a_worker_thread(server: Server) -> None:
    result = await asyncio.to_thread(fetch_sync, server.url("/text"), LOCAL)
    assert result.body == b"Plain news."


@pytest.mark.timeout(5)
async def test_conditional_requests(server: Server) -> None:
    first = await fetch(server.url("/feed"), LOCAL)
    assert (first.etag, first.last_modified) == (ETAG, LAST_MODIFIED)
    again = await fetch(server.url("/feed"), LOCAL, etag=first.etag)
    assert again.not_modified and again.status == 304 and again.body == b""
    assert again.etag == ETAG
    by_date = await fetch(server.url("/feed"), LOCAL, last_modified=first.last_modified)
    assert by_date.not_modified
    assert by_date.last_modified == LAST_MODIFIED  # kept from the request when not re-sent
    assert server.headers[1]["If-None-Match"] == ETAG
    assert server.headers[2]["If-Modified-Since"] == LAST_MODIFIED


# --- redirects -----------------------------------------------------------------------------------


@pytest.mark.timeout(5)
async def test_redirect_chain(server: Server) -> None:
    result = await fetch(server.url("/r/1"), LOCAL)
    assert result.body == HTML
    assert result.url == server.url("/page")
    assert result.requested_url == server.url("/r/1")
    assert server.hits == ["/r/1", "/r/2", "/page"]


@pytest.mark.timeout(5)
async def test_too_many_redirects(server: Server) -> None:
    with pytest.raises(FetchError, match=r"^too many redirects$"):
        await fetch(server.url("/loop/0"), LOCAL)
    assert len(server.hits) == 6  # the first request and five redirects followed
    with pytest.raises(FetchError, match=r"^too many redirects$"):
        await fetch(server.url("/r/1"), FetchPolicy(allow=("127.0.0.1",), max_redirects=0))


@pytest.mark.timeout(5)
@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{p}/page",
        "http://2130706433:{p}/page",
        "http://0x7f000001:{p}/page",
        "http://127.1:{p}/page",
        "http://[::1]:{p}/page",
        "http://[::ffff:127.0.0.1]:{p}/page",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
    ],
)
async def test_redirect_from_allowed_host_to_loopback_refused(
    server: Server, connects: list[object], target: str
) -> None:
    """Only the name "localhost" is allowed; the same server by address is not."""
    policy = FetchPolicy(allow=("localhost",))
    start = server.url("/to", host="localhost") + "?target=" + quote(target.format(p=server.port))
    with pytest.raises(NotPublicError, match=r"^that address is not public$"):
        await fetch(start, policy, accept="text/html")
    await asyncio.sleep(0)
    assert server.hits == ["/to"]
    assert connects == [("127.0.0.1", server.port)]


@pytest.mark.timeout(5)
@pytest.mark.parametrize("target", ["ftp://example.com/x", "file:///etc/passwd"])
async def test_redirect_to_other_scheme_refused(server: Server, target: str) -> None:
    with pytest.raises(FetchError, match=r"^not a web address$"):
        await fetch(server.url("/to") + "?target=" + quote(target), LOCAL)


# --- limits and refusals -----------------------------------------------------------------------


@pytest.mark.timeout(5)
async def test_slow_body_hits_overall_deadline(server: Server) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^took too long \(over 1\.5 s\)$"):
        await fetch(server.url("/slow"), FetchPolicy(allow=("127.0.0.1",), timeout=1.5))
    assert time.monotonic() - started < 3


@pytest.mark.timeout(10)
async def test_huge_body_stops_at_cap(server: Server) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match=r"^page too large \(over 1 MB\)$"):
        await fetch(server.url("/huge"), FetchPolicy(allow=("127.0.0.1",), max_bytes=1_000_000))
    assert time.monotonic() - started < 3
    await asyncio.sleep(0.2)
    assert server.sent["huge"] < 25_000_000  # the client hung up; the rest was never sent


@pytest.mark.timeout(5)
async def test_declared_length_over_cap_refused(server: Server) -> None:
    with pytest.raises(FetchError, match=r"^page too large \(over 1 MB\)$"):
        await fetch(server.url("/declared"), FetchPolicy(allow=("127.0.0.1",), max_bytes=10**6))


@pytest.mark.timeout(10)
async def test_gzip_bomb_stops_at_cap(server: Server) -> None:
    policy = FetchPolicy(allow=("127.0.0.1",), max_bytes=2_000_000)
    started = time.monotonic()
    tracemalloc.start()
    try:
        with pytest.raises(FetchError, match=r"^page too large \(over 2 MB\)$"):
            await fetch(server.url("/bomb"), policy)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.monotonic() - started < 3
    assert peak < 20_000_000, peak


@pytest.mark.timeout(10)
async def test_gzip_bomb_default_cap_message(server: Server) -> None:
    with pytest.raises(FetchError, match=r"^page too large \(over 10 MB\)$"):
        await fetch(server.url("/bomb"), LOCAL)


@pytest.mark.timeout(5)
async def test_image_refused(server: Server) -> None:
    with pytest.raises(FetchError, match=r"^not an article \(content type image/png\)$"):
        await fetch(server.url("/png"), LOCAL)


@pytest.mark.timeout(5)
async def test_http_error_status(server: Server) -> None:
    with pytest.raises(FetchError, match=r"^the server answered 404$") as caught:
        await fetch(server.url("/missing"), LOCAL)
    assert caught.value.status == 404  # type: ignore[attr-defined]


@pytest.mark.timeout(5)
async def test_connection_refused(unused_tcp_port: int) -> None:
    with pytest.raises(FetchError, match=r"^could not connect to 127\.0\.0\.1$"):
        await fetch(f"http://127.0.0.1:{unused_tcp_port}/", LOCAL)


# --- https: the checked address, the name's certificate ------------------------------------------


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throw-away CA and a certificate for news.example, made with the openssl command."""
    folder = tmp_path_factory.mktemp("tls")
    ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
    (folder / "ext.cnf").write_text("subjectAltName=DNS:news.example\n")
    for command in (
        f"req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=newsbot-test-ca"
        " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign",
        f"req {ec} -keyout site.key -out site.csr -subj /CN=news.example",
        "x509 -req -in site.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out site.pem -days 2"
        " -extfile ext.cnf",
    ):
        subprocess.run(["openssl", *command.split()], cwd=folder, check=True, capture_output=True)
    return folder


@pytest.fixture
async def tls_port(tls_files: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[int]:
    """An https server on 127.0.0.1 whose certificate names news.example; its CA is trusted."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tls_files / "site.pem", tls_files / "site.key")
    client_ctx = ssl.create_default_context(cafile=str(tls_files / "ca.pem"))
    monkeypatch.setattr(aiohttp.connector, "_SSL_CONTEXT_VERIFIED", client_ctx)

    async def echo_host(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("Host", ""), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/echo-host", echo_host)
    async with serving(app, ssl_context=server_ctx, quick=True) as port:
        yield port


@pytest.mark.timeout(10)
async def test_https_verifies_the_name_while_connecting_to_the_checked_address(
    tls_port: int, monkeypatch: pytest.MonkeyPatch, connects: list[object]
) -> None:
    async def fake_resolve(host: str, port: int) -> list[ipaddress.IPv4Address]:
        return [ipaddress.IPv4Address("127.0.0.1")]

    monkeypatch.setattr(fetch_mod, "resolve", fake_resolve)
    policy = FetchPolicy(allow=("127.0.0.0/8",))
    result = await fetch(f"https://news.example:{tls_port}/echo-host", policy)
    assert result.body.decode() == f"news.example:{tls_port}"
    assert connects == [("127.0.0.1", tls_port)]
    # Same address, another name: the certificate does not match, so nothing is fetched.
    with pytest.raises(FetchError, match=r"^could not connect securely to other\.example$"):
        await fetch(f"https://other.example:{tls_port}/echo-host", policy)
