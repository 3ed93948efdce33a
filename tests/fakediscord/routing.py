"""HTTP in and out: every REST and CDN request is parsed, routed, answered and recorded.

Pitfalls handled here (verified against discord.py 2.7.1 / aiohttp 3.14):

* JSON responses must carry ``Content-Type: application/json`` exactly: with ``; charset=utf-8``
  discord.py treats the body as text and login crashes. Neither ``web.json_response`` nor
  ``web.Response(text=..., headers=...)`` gives that (the text setter appends a charset even to
  an explicit header); only ``web.Response(body=bytes, headers=...)`` does.
* Errors are 4xx, never 5xx: discord.py retries 500, 502, 504 and 524 with 1-9 s sleeps, which
  looks like a hang. A test that wants a server error (``outage``) gets 503, which discord.py
  raises at once (``DiscordServerError``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from .models import API_PREFIX, FakeDiscordError, RecordedFile, RecordedRequest
from .waits import Signal

log = logging.getLogger("fakediscord")

_JSON_HEADERS = {"Content-Type": "application/json"}

Handler = Callable[..., Awaitable[Any]]
Route = tuple[str, str, Handler]  # (method, path pattern relative to the API base, handler)


@dataclass
class Incoming:
    """A parsed request handed to route handlers."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    uploads: list[tuple[str, RecordedFile]]  # (form field name, file)
    authorization: str | None


@dataclass
class _Outage:
    """Requests to answer 503 instead of serving them."""

    method: str
    pattern: re.Pattern[str]
    left: int


class Router:
    """Answers HTTP requests from a route table; records each one in ``requests``."""

    def __init__(
        self,
        routes: list[Route],
        signal: Signal,
        *,
        token: str | None,
        cdn: dict[int, tuple[str, bytes, str]],
        errors: list[str],
    ) -> None:
        self._routes = [(m, re.compile(p), h) for m, p, h in routes]
        self._signal = signal
        self._token = token
        self._cdn = cdn
        self.requests: list[RecordedRequest] = []
        self._errors = errors
        self._outages: list[_Outage] = []

    def outage(self, method: str, pattern: str, times: int = 1) -> None:
        """The next ``times`` requests ``method pattern`` (a route pattern, e.g.
        ``/guilds/\\d+/members/\\d+``) get 503 Service Unavailable: Discord having a bad moment."""
        self._outages.append(_Outage(method, re.compile(pattern), times))

    def _in_outage(self, method: str, rel: str) -> bool:
        for outage in self._outages:
            if outage.method == method and outage.left > 0 and outage.pattern.fullmatch(rel):
                outage.left -= 1
                return True
        return False

    def unhandled(self) -> list[RecordedRequest]:
        """Requests to routes the fake does not implement (answered 404)."""
        return [r for r in self.requests if not r.handled]

    def summary(self) -> str:
        """The last requests, unhandled ones and the fake's own errors: what a timeout says."""
        recent = ", ".join(str(r) for r in self.requests[-8:]) or "none"
        text = f"recent requests: {recent}"
        if unhandled := self.unhandled():
            text += f"; UNHANDLED: {', '.join(str(r) for r in unhandled)}"
        if self._errors:
            text += f"; FAKE ERRORS: {self._errors}"
        return text

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """One request: the matching handler's JSON, a Discord error, or 404 if unknown."""
        path = request.path
        query = dict(request.query)
        if path.startswith("/cdn/"):
            return self._serve_cdn(request, path, query)
        rel = path[len(API_PREFIX) :] if path.startswith(API_PREFIX + "/") else path
        record = RecordedRequest(-1, request.method, rel, query, json=None, files=[])
        status, body = 200, None
        try:
            incoming = await _read(request, rel, query)
            record.json = incoming.json
            record.files = [f for _, f in incoming.uploads]
            handler, params = self._match(request.method, rel)
            if handler is None or not path.startswith(API_PREFIX + "/"):
                record.handled = False
                raise FakeDiscordError(404, 0, "404: Not Found")
            self._check_auth(rel, incoming.authorization)
            if self._in_outage(request.method, rel):
                raise FakeDiscordError(503, 0, "503: Service Unavailable")
            body = await handler(incoming, **params)
            status = 204 if body is None else 200
        except FakeDiscordError as exc:
            status, body = exc.status, exc.body()
        except Exception as exc:  # a bug in the fake or an unexpected payload: 400, not 5xx
            log.exception("fake handler failed for %s %s", request.method, rel)
            self._errors.append(f"{request.method} {rel}: {exc!r}")
            status, body = 400, {"message": f"fakediscord error: {exc!r}", "code": 0}
        record.status, record.response = status, body
        self._record(record)  # recorded once answered, so waiters see the status
        if body is None:
            return web.Response(status=204)
        # body= bytes, not text=: aiohttp's text setter appends "; charset=utf-8" even to an
        # explicit Content-Type header, and discord.py then hands the caller a str.
        return web.Response(status=status, body=json.dumps(body).encode(), headers=_JSON_HEADERS)

    def _record(self, record: RecordedRequest) -> None:
        record.index = len(self.requests)
        self.requests.append(record)
        self._signal.notify()

    def _serve_cdn(self, request: web.Request, path: str, query: dict[str, str]) -> web.Response:
        record = RecordedRequest(-1, request.method, path, query, None, [], kind="cdn")
        match = re.fullmatch(r"/cdn/attachments/\d+/(\d+)/[^/]+", path)
        entry = self._cdn.get(int(match.group(1))) if match else None
        if entry is None or request.method != "GET":
            record.status, record.handled = 404, entry is not None
            self._record(record)
            return web.Response(status=404, text="Not Found")
        _filename, data, content_type = entry
        record.status = 200
        self._record(record)
        return web.Response(body=data, headers={"Content-Type": content_type})

    def _check_auth(self, rel: str, authorization: str | None) -> None:
        if self._token is None or rel.startswith(("/interactions/", "/webhooks/")):
            return
        if authorization != f"Bot {self._token}":
            raise FakeDiscordError(401, 0, "401: Unauthorized")

    def _match(self, method: str, rel: str) -> tuple[Handler | None, dict[str, str]]:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(rel)
            if match and route_method == method:
                return handler, {k: v for k, v in match.groupdict().items() if v is not None}
        return None, {}


async def _read(request: web.Request, rel: str, query: dict[str, str]) -> Incoming:
    """The JSON body, or a multipart body's ``payload_json`` and its files."""
    body: Any = None
    uploads: list[tuple[str, RecordedFile]] = []
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                continue  # nested multipart: discord.py never sends one
            raw = await part.read(decode=False)
            name = part.name or ""
            if name == "payload_json":
                body = json.loads(raw)
            elif part.filename is not None:
                uploads.append((name, RecordedFile(part.filename, bytes(raw))))
    elif request.can_read_body:
        raw = await request.read()
        if raw:
            body = json.loads(raw)
    return Incoming(
        method=request.method,
        path=rel,
        query=query,
        json=body,
        uploads=uploads,
        authorization=request.headers.get("Authorization"),
    )
