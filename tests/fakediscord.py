"""A protocol-level fake of Discord (gateway websocket + REST + CDN) for tests of discord.py bots.

Why: Discord is unreachable here, and mocking discord.py internals would test our mocks instead of
the bot. This server speaks the wire protocol, so the *real* discord.py client (2.7.1) logs in,
syncs commands, receives gateway events and answers them over HTTP exactly as in production. The
fake also enforces a few Discord rules that bite bots in real life (2000-character content limit,
embed limits, 3-second interaction acknowledgement, first follow-up after a defer replacing the
"thinking" message, message-content intent stripping, CDN URLs carrying query strings).

Typical use (pytest-asyncio)::

    async with FakeDiscord(guilds=[guild]) as fake:
        async with fake.run_client(bot):          # patches discord.py, starts, waits for ready
            sent = await fake.send_message(guild_id=G, channel_id=C, author=user, content="!ping")
            reply = await fake.wait_channel_message(C, after=sent["id"])
            assert reply["content"] == "pong"

Client settings tests should use (they keep start-up around 0.1 s instead of 2-5 s)::

    intents = discord.Intents.default()
    intents.message_content = True                # else the fake blanks guild message content
    bot = commands.Bot(command_prefix="!", intents=intents,
                       guild_ready_timeout=0.05,  # default 2 s wait for GUILD_CREATEs
                       chunk_guilds_at_startup=False)  # optional: the fake answers
                                                       # member-chunk requests at once anyway

For event-loop blocking tests build ``FakeDiscord(heartbeat_interval_ms=100)`` and read
``max_heartbeat_gap()``: discord.py sends heartbeats from a thread *through the event loop*, so a
blocked loop shows up as a gap (the fake runs on the same loop, so it times arrivals after the
loop frees up, which is exactly the gap).

Reading results: ``channel_messages(c)`` is what a user would see from the bot in channel ``c``
(posts, edits applied, non-ephemeral interaction replies); ``FakeInteraction.wait_response()``
is the acknowledgement and ``wait_final()`` the visible answer. Assert ``fake.unhandled == []``
and ``fake.errors == []`` at the end of a test to catch routes the fake does not implement.
The 3 s acknowledgement rule is on by default (``interaction_ack_timeout``): a bot that works
before deferring gets ``404 Unknown interaction`` here as it would on Discord.

Pitfalls this module already handles (verified against discord.py 2.7.1 / aiohttp 3.14):

* JSON responses must carry ``Content-Type: application/json`` exactly: with ``; charset=utf-8``
  discord.py treats the body as text and login crashes. Neither ``web.json_response`` nor
  ``web.Response(text=..., headers=...)`` gives that (the text setter appends a charset even to
  an explicit header); only ``web.Response(body=bytes, headers=...)`` does.
* Gateway frames go out as TEXT: the client asks for ``compress=zlib-stream`` but only inflates
  binary frames.
* The interaction callback is POSTed with ``?with_response=1`` and needs a JSON body back
  (``{"interaction": ..., "resource": ...}``); a bare 204 breaks ``response.send_message``.
* Errors are 4xx, never 5xx: discord.py retries 5xx with 1-9 s sleeps, which looks like a hang.
* aiohttp's default 1 MiB request limit would reject uploads; the server allows 32 MiB.
* ``patch_discord()`` sets ``discord.http.Route.BASE`` (REST, interaction callbacks and webhooks
  all go through it), ``DiscordWebSocket.DEFAULT_GATEWAY`` and ``Asset.BASE``.
"""

# The public waits take ``timeout=`` by design (the brief's API), hence ASYNC109 is off here.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import mimetypes
import re
import secrets
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, TypeVar
from urllib.parse import quote

import discord
import discord.asset
import discord.gateway
import discord.http
import yarl
from aiohttp import BodyPartReader, WSMsgType, web

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "ATTACH_FILES",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "EMBED_LINKS",
    "MANAGE_GUILD",
    "SEND_MESSAGES",
    "FakeChannel",
    "FakeDiscord",
    "FakeDiscordError",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "RecordedFile",
    "RecordedRequest",
]

log = logging.getLogger("fakediscord")
T = TypeVar("T")

API_PREFIX = "/api/v10"
DISCORD_EPOCH_MS = 1_420_070_400_000

# Permission bits (https://discord.com/developers/docs/topics/permissions).
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_APPLICATION_COMMANDS = 1 << 31
ALL_PERMISSIONS = (1 << 51) - 1
DEFAULT_EVERYONE_PERMISSIONS = (
    VIEW_CHANNEL
    | SEND_MESSAGES
    | READ_MESSAGE_HISTORY
    | ADD_REACTIONS
    | EMBED_LINKS
    | ATTACH_FILES
    | USE_APPLICATION_COMMANDS
)
DEFAULT_BOT_PERMISSIONS = DEFAULT_EVERYONE_PERMISSIONS

# Gateway intent bits the fake honours.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
_SETTABLE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_EPHEMERAL | FLAG_SUPPRESS_NOTIFICATIONS

# Application command option types.
OPT_SUB_COMMAND = 1
OPT_SUB_COMMAND_GROUP = 2
OPT_USER = 6
OPT_CHANNEL = 7
OPT_ROLE = 8
OPT_MENTIONABLE = 9
OPT_ATTACHMENT = 11

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
_JSON_HEADERS = {"Content-Type": "application/json"}
_MENTION_RE = re.compile(r"<@!?(\d+)>")
_COMMAND_NAME_RE = re.compile(r"^[-_\w]{1,32}$")


# --------------------------------------------------------------------------- data classes


@dataclass(frozen=True)
class FakeUser:
    """A Discord user as the fake knows it; ``bot`` users are ignored by ``commands.Bot``."""

    id: int
    username: str
    bot: bool = False
    global_name: str | None = None

    def payload(self) -> dict[str, Any]:
        """User object in Discord's wire form."""
        return {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "bot": self.bot,
            "public_flags": 0,
        }


@dataclass
class FakeMember:
    """A guild member.

    ``permissions`` is the integer bitfield Discord puts into interaction payloads (e.g.
    ``MANAGE_GUILD`` = 0x20). ``None`` means "compute it like Discord does": @everyone plus the
    member's roles, everything for the owner or an ADMINISTRATOR. Prefix commands always see the
    role-derived value (discord.py computes ``guild_permissions`` itself), so give members the
    matching roles when a test mixes both kinds of command.
    """

    user: FakeUser
    roles: list[int] = field(default_factory=list)
    permissions: int | None = None
    nick: str | None = None
    joined_at: str = "2024-01-01T00:00:00+00:00"

    @property
    def id(self) -> int:
        """The member's user id."""
        return self.user.id

    def payload(self, *, with_user: bool = True) -> dict[str, Any]:
        """Guild member object (``flags`` is required by discord.py's Member)."""
        data: dict[str, Any] = {
            "roles": [str(r) for r in self.roles],
            "nick": self.nick,
            "avatar": None,
            "joined_at": self.joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            data["user"] = self.user.payload()
        return data


class FakeRole(NamedTuple):
    """A guild role; a plain ``(id, name, permissions)`` tuple works too."""

    id: int
    name: str
    permissions: int = 0


class FakeChannel(NamedTuple):
    """A guild text channel; a plain ``(id, name)`` tuple works too."""

    id: int
    name: str


@dataclass
class FakeGuild:
    """A guild with text channels, roles and members; @everyone (id == guild id) is implied."""

    id: int
    name: str
    owner_id: int
    channels: list[tuple[int, str]] = field(default_factory=list)
    roles: list[tuple[int, str] | tuple[int, str, int]] = field(default_factory=list)
    members: list[FakeMember] = field(default_factory=list)
    everyone_permissions: int = DEFAULT_EVERYONE_PERMISSIONS


class RecordedFile(NamedTuple):
    """One uploaded file: the name the bot gave it and its bytes."""

    filename: str
    data: bytes


@dataclass
class RecordedRequest:
    """One HTTP request the client made.

    ``path`` is relative to ``api_base`` (``/channels/1/messages``) for API calls and starts with
    ``/cdn/`` for CDN downloads (``kind == "cdn"``). ``json`` is the parsed JSON body, or the
    parsed ``payload_json`` field of a multipart body. ``handled`` is False for routes the fake
    does not know (answered 404). A request is recorded once answered (``status`` is set);
    ``index`` is its position in ``FakeDiscord.requests``.
    """

    index: int
    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[RecordedFile]
    kind: str = "api"
    status: int = 0
    response: Any = None
    handled: bool = True
    at: float = 0.0

    def __str__(self) -> str:
        return f"{self.method} {self.path} -> {self.status}"


class FakeDiscordError(Exception):
    """Raised inside a handler to answer with a Discord-style error body."""

    def __init__(
        self, status: int, code: int, message: str, errors: dict[str, Any] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        """Error JSON in the shape discord.py parses into ``HTTPException.text``."""
        data: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            data["errors"] = self.errors
        return data


def _form_error(field_name: str, message: str, code: str = "BASE_TYPE_MAX_LENGTH") -> Exception:
    return FakeDiscordError(
        400,
        50035,
        "Invalid Form Body",
        {field_name: {"_errors": [{"code": code, "message": message}]}},
    )


def _unknown(what: str, code: int) -> FakeDiscordError:
    return FakeDiscordError(404, code, f"Unknown {what}")


class _GuildKeyed(dict[str | None, list[dict[str, Any]]]):
    """Dict keyed by guild id as str (or None = global) that also accepts int keys on lookup."""

    @staticmethod
    def _key(key: object) -> str | None:
        return None if key is None else str(key)

    def __getitem__(self, key: object) -> list[dict[str, Any]]:
        return super().__getitem__(self._key(key))

    def __setitem__(self, key: object, value: list[dict[str, Any]]) -> None:
        super().__setitem__(self._key(key), value)

    def __contains__(self, key: object) -> bool:
        return super().__contains__(self._key(key))

    def get(self, key: object, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(self._key(key), default)


@dataclass
class _Incoming:
    """A parsed request handed to route handlers."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    uploads: list[tuple[str, RecordedFile]]  # (form field name, file)
    authorization: str | None


@dataclass(eq=False)  # identity-hashed: kept in a set
class _Conn:
    """One gateway websocket connection."""

    ws: web.WebSocketResponse
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    identified: bool = False


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in {"1", "true", "yes"}


# --------------------------------------------------------------------------- interactions


class FakeInteraction:
    """An application-command interaction the fake dispatched, and the bot's answers to it."""

    def __init__(
        self,
        fake: FakeDiscord,
        *,
        id: int,
        token: str,
        payload: dict[str, Any],
        guild_id: int | None,
        channel_id: int,
    ) -> None:
        self._fake = fake
        self.id = id
        self.token = token
        self.payload = payload
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.created_at = time.monotonic()
        self.callback: dict[str, Any] | None = None
        self.original_id: int | None = None
        self.followup_ids: list[int] = []
        self.defer_flags: int | None = None  # set by a type-5 callback
        self.original_filled = False  # deferred "thinking" message replaced yet?

    def __repr__(self) -> str:
        name = self.payload["data"]["name"]
        return f"<FakeInteraction id={self.id} name={name!r} callback={self.response_type}>"

    @property
    def response_type(self) -> int | None:
        """Callback type: 4 message, 5 deferred, None if not acknowledged yet."""
        return None if self.callback is None else int(self.callback.get("type", 0))

    @property
    def original(self) -> dict[str, Any] | None:
        """Current state of the original response message, if any."""
        return self._fake._message_copy(self.original_id)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Original response (if any) then follow-ups, each in its latest (edited) state."""
        ids = ([self.original_id] if self.original_id is not None else []) + self.followup_ids
        found = (self._fake._message_copy(i) for i in ids)
        return [m for m in found if m is not None]

    async def wait_response(self, timeout: float = 5.0) -> dict[str, Any]:
        """The initial callback body (``{"type": 4|5, "data": {... "flags": 64 ...}}``)."""
        return await self._fake._wait_until(
            lambda: self.callback, timeout, f"the callback of interaction {self.id}"
        )

    async def wait_final(
        self,
        timeout: float = 10.0,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """The latest-touched visible message of this interaction (not the "thinking" one).

        For a type-4 callback that is the original message; for a deferred one the PATCHed
        @original or a follow-up. Pass ``predicate`` when the bot edits in steps ("Searching..."
        then the answer), so the wait ends at the step the test cares about.
        """

        def check() -> dict[str, Any] | None:
            candidates = [m for m in self.messages if not int(m.get("flags", 0)) & FLAG_LOADING]
            if predicate is not None:
                candidates = [m for m in candidates if predicate(m)]
            if not candidates:
                return None
            return max(candidates, key=lambda m: self._fake._touched.get(int(m["id"]), 0))

        return await self._fake._wait_until(check, timeout, f"a final reply to {self!r}")


# --------------------------------------------------------------------------- the server


Handler = Callable[..., Awaitable[Any]]


class FakeDiscord:
    """Gateway + REST + CDN fake bound to 127.0.0.1 on a free port (see module docstring)."""

    def __init__(
        self,
        *,
        heartbeat_interval_ms: int = 41250,
        guilds: list[FakeGuild] | None = None,
        bot_user_id: int = 1_200_000_000_000_000_001,
        application_id: int | None = None,
        bot_username: str = "newsbot",
        bot_permissions: int = DEFAULT_BOT_PERMISSIONS,
        token: str | None = None,
        interaction_ack_timeout: float = 3.0,
        application_flags: int = 0,
    ) -> None:
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.guilds: dict[int, FakeGuild] = {g.id: g for g in guilds or []}
        self.bot_user = FakeUser(bot_user_id, bot_username, bot=True)
        self.application_id = application_id if application_id is not None else bot_user_id
        self.bot_permissions = bot_permissions
        self.token = token  # when set, REST auth and IDENTIFY tokens are checked
        self.interaction_ack_timeout = interaction_ack_timeout
        self.application_flags = application_flags

        # observations
        self.identify: dict[str, Any] | None = None
        self.resumes: list[dict[str, Any]] = []
        self.presence_updates: list[dict[str, Any]] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.heartbeats: list[float] = []
        self.requests: list[RecordedRequest] = []
        self.registered_commands: _GuildKeyed = _GuildKeyed()
        self.dispatched: list[tuple[str, dict[str, Any]]] = []
        self.errors: list[str] = []  # exceptions inside the fake (should stay empty)
        self.interactions: dict[int, FakeInteraction] = {}
        self.deleted_messages: list[dict[str, Any]] = []

        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._conns: set[_Conn] = set()
        self._session_conn: _Conn | None = None
        self._session_id: str | None = None
        self._seq = 0
        self._ready = False
        self._waiters: set[asyncio.Future[None]] = set()
        self._last_id = 0
        self._touch_counter = 0
        self._touched: dict[int, int] = {}
        self._messages: dict[int, dict[str, Any]] = {}
        self._cdn: dict[int, tuple[str, bytes, str]] = {}
        self._attachments: dict[int, dict[str, Any]] = {}
        self._users: dict[int, FakeUser] = {self.bot_user.id: self.bot_user}
        self._dm_channels: dict[int, int] = {}  # user id -> DM channel id
        self._dm_users: dict[int, int] = {}  # DM channel id -> user id
        self._command_ids: dict[tuple[str | None, str, int], int] = {}
        self._command_versions: dict[int, int] = {}
        self._bot_roles: dict[int, int] = {}
        for guild in self.guilds.values():
            self._bot_roles[guild.id] = self._snowflake()
            for member in guild.members:
                self._users[member.user.id] = member.user
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start serving."""
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/gateway", self._ws_handler)
        app.router.add_route("*", "/{tail:.*}", self._http_handler)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        """Close gateway connections and stop the server (idempotent)."""
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001), 2)
        self._conns.clear()
        self._session_conn = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for fut in self._waiters:
            if not fut.done():
                fut.cancel()

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        if self._port is None:
            raise RuntimeError("FakeDiscord.start() has not been awaited")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_base(self) -> str:
        """Value for ``discord.http.Route.BASE``."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (also sent as resume_gateway_url)."""
        return f"ws://127.0.0.1:{self._port}/gateway"

    @property
    def bot_mention(self) -> str:
        """``<@BOT_ID>``: put it in content to mention the bot."""
        return f"<@{self.bot_user.id}>"

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py's REST base, default gateway and asset CDN at this server."""
        ws_cls = discord.gateway.DiscordWebSocket
        saved = (discord.http.Route.BASE, ws_cls.DEFAULT_GATEWAY, discord.asset.Asset.BASE)
        discord.http.Route.BASE = self.api_base
        ws_cls.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        discord.asset.Asset.BASE = self.base_url + "/cdn"
        try:
            yield
        finally:
            discord.http.Route.BASE, ws_cls.DEFAULT_GATEWAY, discord.asset.Asset.BASE = saved

    @contextlib.asynccontextmanager
    async def run_client(
        self, client: discord.Client, token: str | None = None, *, timeout: float = 5.0
    ) -> AsyncIterator[discord.Client]:
        """Patch discord.py, start ``client`` and wait until it is ready; close it on exit.

        Raises the client's own exception if it dies during start-up (login failure, a crash in
        ``setup_hook``...), and TimeoutError if it is not ready within ``timeout``.
        """
        with self.patch_discord():
            task = asyncio.create_task(client.start(token or self.token or "fake-token"))
            try:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + timeout
                while not client.is_ready():
                    if task.done():
                        task.result()
                        raise RuntimeError("client.start() returned before the client was ready")
                    if loop.time() > deadline:
                        raise TimeoutError(f"client not ready after {timeout}s; {self._summary()}")
                    await asyncio.sleep(0.005)
                yield client
            finally:
                await client.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout)

    # ------------------------------------------------------------------ waiting

    def _notify(self) -> None:
        for fut in list(self._waiters):
            if not fut.done():
                fut.set_result(None)

    async def _wait_until(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = check()
            if result is not None:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {what}; {self._summary()}"
                )
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.add(fut)
            try:
                await asyncio.wait_for(fut, remaining)
            except TimeoutError:
                pass
            finally:
                self._waiters.discard(fut)

    def _summary(self) -> str:
        recent = ", ".join(str(r) for r in self.requests[-8:]) or "none"
        text = f"recent requests: {recent}"
        if self.unhandled:
            text += f"; UNHANDLED: {', '.join(str(r) for r in self.unhandled)}"
        if self.errors:
            text += f"; FAKE ERRORS: {self.errors}"
        return text

    async def wait_ready(self, timeout: float = 5) -> None:
        """Until the client IDENTIFYed and got READY plus every GUILD_CREATE."""
        await self._wait_until(lambda: True if self._ready else None, timeout, "IDENTIFY/READY")

    async def wait_for(
        self,
        predicate: Callable[[RecordedRequest], bool],
        timeout: float = 10,
        *,
        since: int = 0,
    ) -> RecordedRequest:
        """First recorded request (index >= ``since``) matching ``predicate``, waiting if needed.

        Already-recorded requests count (no race with a fast bot); pass
        ``since=len(fake.requests)`` to only look at traffic after that point.
        """

        def check() -> RecordedRequest | None:
            return next((r for r in self.requests[since:] if predicate(r)), None)

        return await self._wait_until(check, timeout, "a matching request")

    async def wait_channel_message(
        self,
        channel_id: int,
        *,
        after: int | str | None = None,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10,
    ) -> dict[str, Any]:
        """Newest bot message in the channel (id > ``after``) matching ``predicate``."""

        def check() -> dict[str, Any] | None:
            found = [
                m
                for m in self.channel_messages(channel_id)
                if (after is None or int(m["id"]) > int(after))
                and not int(m.get("flags", 0)) & FLAG_LOADING
                and (predicate is None or predicate(m))
            ]
            return found[-1] if found else None

        return await self._wait_until(check, timeout, f"a bot message in channel {channel_id}")

    async def wait_heartbeats(self, count: int, timeout: float = 5) -> None:
        """Until at least ``count`` heartbeats have been received in total."""
        await self._wait_until(
            lambda: True if len(self.heartbeats) >= count else None,
            timeout,
            f"{count} heartbeats (have {len(self.heartbeats)})",
        )

    async def wait_commands(
        self, guild_id: int | None = None, timeout: float = 5
    ) -> list[dict[str, Any]]:
        """Commands registered for ``guild_id`` (None = global), waiting for the first sync."""
        return await self._wait_until(
            lambda: self.registered_commands.get(guild_id),
            timeout,
            f"command sync for guild {guild_id}",
        )

    # ------------------------------------------------------------------ observations

    @property
    def unhandled(self) -> list[RecordedRequest]:
        """Requests to routes the fake does not implement (answered 404)."""
        return [r for r in self.requests if not r.handled]

    def max_heartbeat_gap(self, *, include_now: bool = False) -> float:
        """Largest interval between consecutive heartbeats (optionally up to now)."""
        times = list(self.heartbeats)
        if include_now and times:
            times.append(time.monotonic())
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)

    def channel_messages(
        self, channel_id: int, *, include_users: bool = False, include_ephemeral: bool = False
    ) -> list[dict[str, Any]]:
        """Messages in a channel, oldest first, in their final (edited) state.

        By default only the bot's own visible messages: channel posts plus non-ephemeral
        interaction responses (a deferred one shows as ``flags & 128`` "thinking" until filled).
        """
        out = []
        for msg in self._messages.values():
            if int(msg["channel_id"]) != int(channel_id):
                continue
            if not include_users and int(msg["author"]["id"]) != self.bot_user.id:
                continue
            if not include_ephemeral and int(msg.get("flags", 0)) & FLAG_EPHEMERAL:
                continue
            out.append(copy.deepcopy(msg))
        return out

    def get_message(self, message_id: int | str) -> dict[str, Any] | None:
        """Any stored message (user, bot, ephemeral) by id, as a copy."""
        return self._message_copy(int(message_id))

    def dm_channel_id(self, user: FakeUser | int) -> int:
        """The DM channel between the bot and ``user`` (created on first use)."""
        user_id = user.id if isinstance(user, FakeUser) else int(user)
        if isinstance(user, FakeUser):
            self._users.setdefault(user.id, user)
        if user_id not in self._dm_channels:
            channel_id = self._snowflake()
            self._dm_channels[user_id] = channel_id
            self._dm_users[channel_id] = user_id
        return self._dm_channels[user_id]

    # ------------------------------------------------------------------ ids and payloads

    def _snowflake(self) -> int:
        """Increasing snowflakes whose timestamp part is now (discord.py derives created_at)."""
        candidate = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        self._last_id = max(candidate, self._last_id + 1)
        return self._last_id

    def _touch(self, message_id: int) -> None:
        self._touch_counter += 1
        self._touched[message_id] = self._touch_counter

    def _message_copy(self, message_id: int | None) -> dict[str, Any] | None:
        if message_id is None or message_id not in self._messages:
            return None
        return copy.deepcopy(self._messages[message_id])

    def _guild(self, guild_id: int | str) -> FakeGuild:
        try:
            return self.guilds[int(guild_id)]
        except KeyError:
            raise _unknown("Guild", 10004) from None

    def _channel_guild(self, channel_id: int) -> FakeGuild | None:
        for guild in self.guilds.values():
            if any(int(c[0]) == channel_id for c in guild.channels):
                return guild
        return None

    def _roles(self, guild: FakeGuild) -> list[FakeRole]:
        roles = [FakeRole(guild.id, "@everyone", guild.everyone_permissions)]
        roles += [FakeRole(*r) for r in guild.roles if int(r[0]) != guild.id]
        return roles

    def _member_permissions(self, guild: FakeGuild, member: FakeMember) -> int:
        if member.permissions is not None:
            return member.permissions
        if member.user.id == guild.owner_id:
            return ALL_PERMISSIONS
        perms = guild.everyone_permissions
        for role in self._roles(guild):
            if role.id in member.roles:
                perms |= role.permissions
        return ALL_PERMISSIONS if perms & ADMINISTRATOR else perms

    def _bot_member(self, guild: FakeGuild) -> FakeMember:
        return FakeMember(self.bot_user, roles=[self._bot_roles[guild.id]])

    def _find_member(self, guild: FakeGuild, user_id: int) -> FakeMember | None:
        if user_id == self.bot_user.id:
            return self._bot_member(guild)
        return next((m for m in guild.members if m.user.id == user_id), None)

    def _bot_user_payload(self) -> dict[str, Any]:
        data = self.bot_user.payload()
        data.update(verified=True, mfa_enabled=False, flags=0, locale="en-US")
        return data

    def _role_payload(self, role: FakeRole, position: int) -> dict[str, Any]:
        return {
            "id": str(role.id),
            "name": role.name,
            "permissions": str(role.permissions),
            "position": position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }

    def _channel_payload(self, guild: FakeGuild, channel_id: int) -> dict[str, Any]:
        for position, (cid, name) in enumerate((int(c[0]), c[1]) for c in guild.channels):
            if cid == channel_id:
                return {
                    "id": str(cid),
                    "type": 0,
                    "guild_id": str(guild.id),
                    "name": name,
                    "position": position,
                    "permission_overwrites": [],
                    "nsfw": False,
                    "parent_id": None,
                    "topic": None,
                    "last_message_id": None,
                    "rate_limit_per_user": 0,
                    "flags": 0,
                }
        raise _unknown("Channel", 10003)

    def _dm_channel_payload(self, channel_id: int) -> dict[str, Any]:
        user = self._users[self._dm_users[channel_id]]
        return {
            "id": str(channel_id),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [user.payload()],
        }

    def _guild_payload(self, guild: FakeGuild) -> dict[str, Any]:
        roles = [self._role_payload(r, i) for i, r in enumerate(self._roles(guild))]
        bot_role = self._role_payload(
            FakeRole(self._bot_roles[guild.id], self.bot_user.username, self.bot_permissions),
            len(roles),
        )
        bot_role.update(managed=True, tags={"bot_id": str(self.bot_user.id)})
        members = [m.payload() for m in guild.members]
        members.append(self._bot_member(guild).payload())
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [*roles, bot_role],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": "2024-01-01T00:00:00+00:00",
            "large": False,
            "unavailable": False,
            "member_count": len(members),
            "voice_states": [],
            "members": members,
            "channels": [self._channel_payload(guild, int(c[0])) for c in guild.channels],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _mentions(self, content: str, guild: FakeGuild | None) -> list[dict[str, Any]]:
        out = []
        for user_id in dict.fromkeys(int(m) for m in _MENTION_RE.findall(content)):
            user = self._users.get(user_id)
            if user is None:
                continue
            data = user.payload()
            member = self._find_member(guild, user_id) if guild else None
            if member is not None:
                data["member"] = member.payload(with_user=False)
            out.append(data)
        return out

    def _new_message(
        self,
        *,
        channel_id: int,
        author: FakeUser,
        content: str,
        embeds: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        flags: int = 0,
        msg_type: int = 0,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        guild = self._channel_guild(channel_id)
        message: dict[str, Any] = {
            "id": str(self._snowflake()),
            "channel_id": str(channel_id),
            "author": author.payload(),
            "content": content,
            "timestamp": _now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": self._mentions(content, guild),
            "mention_roles": [],
            "attachments": list(attachments or []),
            "embeds": list(embeds or []),
            "reactions": [],
            "pinned": False,
            "type": msg_type,
            "flags": flags,
            "components": [],
        }
        if guild is not None:
            message["guild_id"] = str(guild.id)
        message.update(extra or {})
        self._messages[int(message["id"])] = message
        self._touch(int(message["id"]))
        self._notify()
        return message

    # ------------------------------------------------------------------ gateway

    async def _ws_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Conn(ws)
        self._conns.add(conn)
        self.gateway_queries.append(dict(request.query))
        try:
            hello = {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["fakediscord"]}
            await self._send(conn, {"op": 10, "d": hello, "s": None, "t": None})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        await self._on_gateway(conn, json.loads(msg.data))
                    except Exception as exc:  # keep serving; surface through .errors
                        log.exception("gateway handler failed")
                        self.errors.append(f"gateway: {exc!r}")
                elif msg.type is WSMsgType.BINARY:
                    self.errors.append("gateway: unexpected binary frame from client")
        finally:
            self._conns.discard(conn)
            if self._session_conn is conn:
                self._session_conn = None
            self._notify()
        return ws

    async def _send(self, conn: _Conn, payload: dict[str, Any]) -> None:
        async with conn.lock:
            await conn.ws.send_str(json.dumps(payload))

    async def _send_dispatch(self, conn: _Conn, event: str, data: dict[str, Any]) -> None:
        async with conn.lock:
            self._seq += 1
            frame = {"op": 0, "t": event, "s": self._seq, "d": data}
            await conn.ws.send_str(json.dumps(frame))
        self.dispatched.append((event, data))

    async def _on_gateway(self, conn: _Conn, msg: dict[str, Any]) -> None:
        op, data = msg.get("op"), msg.get("d")
        if op == 1:  # HEARTBEAT
            self.heartbeats.append(time.monotonic())
            await self._send(conn, {"op": 11, "d": None, "s": None, "t": None})
            self._notify()
        elif op == 2:  # IDENTIFY
            await self._on_identify(conn, data)
        elif op == 6:  # RESUME
            self.resumes.append(data)
            if self._session_id is None or data.get("session_id") != self._session_id:
                await self._send(conn, {"op": 9, "d": False, "s": None, "t": None})
                return
            conn.identified = True
            self._session_conn = conn
            await self._send_dispatch(conn, "RESUMED", {"_trace": ["fakediscord"]})
            self._notify()
        elif op == 3:  # PRESENCE UPDATE
            self.presence_updates.append(data)
        elif op == 8:  # REQUEST GUILD MEMBERS: answer at once so chunking never stalls
            guild = self.guilds.get(int(data["guild_id"]))
            members = [m.payload() for m in guild.members] if guild else []
            chunk = {
                "guild_id": str(data["guild_id"]),
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
                "nonce": data.get("nonce"),
            }
            await self._send_dispatch(conn, "GUILD_MEMBERS_CHUNK", chunk)
        else:
            log.debug("ignoring gateway op %s", op)

    async def _on_identify(self, conn: _Conn, data: dict[str, Any]) -> None:
        self.identify = data
        if self.token is not None and data.get("token") != self.token:
            await conn.ws.close(code=4004, message=b"Authentication failed.")
            return
        self._session_id = uuid.uuid4().hex
        self._seq = 0
        conn.identified = True
        self._session_conn = conn
        intents = int(data.get("intents", 0))
        ready = {
            "v": 10,
            "user": self._bot_user_payload(),
            "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds],
            "session_id": self._session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "shard": data.get("shard", [0, 1]),
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["fakediscord"],
        }
        await self._send_dispatch(conn, "READY", ready)
        if intents & INTENT_GUILDS:  # Discord sends no GUILD_CREATE without the guilds intent
            for guild in self.guilds.values():
                await self._send_dispatch(conn, "GUILD_CREATE", self._guild_payload(guild))
        self._ready = True
        self._notify()

    async def dispatch(self, event: str, data: dict[str, Any], timeout: float = 5) -> None:
        """Send a DISPATCH event on the live session (waits for a (re)connected session)."""
        conn = await self._wait_until(
            lambda: (
                self._session_conn
                if self._session_conn is not None and not self._session_conn.ws.closed
                else None
            ),
            timeout,
            "an identified gateway session (is the client running?)",
        )
        await self._send_dispatch(conn, event, data)

    async def drop_gateway(self, code: int = 4000) -> None:
        """Close the live gateway socket with ``code``; discord.py reconnects and RESUMEs."""
        conn = self._session_conn
        if conn is not None:
            self._session_conn = None
            await asyncio.wait_for(conn.ws.close(code=code), 5)

    def _intents(self) -> int:
        return int((self.identify or {}).get("intents", 0))

    # ------------------------------------------------------------------ driving the bot

    def add_attachment(self, filename: str, data: bytes, content_type: str) -> dict[str, Any]:
        """Serve ``data`` on this server's CDN route; returns a Discord attachment object.

        The URL carries ``?ex=..&is=..&hm=..`` like real CDN links, so code that guesses the
        type from ``url.endswith(".pdf")`` fails here as it would in production.
        """
        attachment_id = self._snowflake()
        self._cdn[attachment_id] = (filename, data, content_type)
        expires = int(time.time()) + 86400
        url = (
            f"{self.base_url}/cdn/attachments/0/{attachment_id}/{quote(filename)}"
            f"?ex={expires:x}&is={int(time.time()):x}&hm={secrets.token_hex(16)}&"
        )
        attachment = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
            "flags": 0,
        }
        self._attachments[attachment_id] = attachment
        return copy.deepcopy(attachment)

    async def send_message(
        self,
        *,
        guild_id: int,
        channel_id: int,
        author: FakeUser,
        content: str,
        attachments: Sequence[dict[str, Any]] = (),
        reply_to: int | str | None = None,
    ) -> dict[str, Any]:
        """A user posts in a guild channel: MESSAGE_CREATE (with ``member``) is dispatched.

        As on Discord, nothing is delivered without the guild_messages intent, and content,
        embeds and attachments arrive empty without message_content unless the bot is mentioned.
        Returns the full message as stored (with content).
        """
        guild = self._guild(guild_id)
        self._channel_payload(guild, channel_id)  # 404s on an unknown channel
        self._users.setdefault(author.id, author)
        extra: dict[str, Any] = {}
        if reply_to is not None:
            extra["message_reference"] = {
                "type": 0,
                "message_id": str(reply_to),
                "channel_id": str(channel_id),
                "guild_id": str(guild_id),
            }
        message = self._new_message(
            channel_id=channel_id,
            author=author,
            content=content,
            attachments=list(attachments),
            msg_type=19 if reply_to is not None else 0,
            extra=extra,
        )
        member = self._find_member(guild, author.id) or FakeMember(author)
        event = copy.deepcopy(message)
        event["member"] = member.payload(with_user=False)
        intents = self._intents()
        mentioned = any(int(u["id"]) == self.bot_user.id for u in message["mentions"])
        if not intents & INTENT_MESSAGE_CONTENT and not mentioned:
            event.update(content="", embeds=[], attachments=[], components=[])
        if intents & INTENT_GUILD_MESSAGES:
            await self.dispatch("MESSAGE_CREATE", event)
        return copy.deepcopy(message)

    async def send_dm(
        self,
        *,
        author: FakeUser,
        content: str,
        attachments: Sequence[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A user DMs the bot (needs the dm_messages intent; content is always visible)."""
        channel_id = self.dm_channel_id(author)
        message = self._new_message(
            channel_id=channel_id, author=author, content=content, attachments=list(attachments)
        )
        event = copy.deepcopy(message)
        event["channel_type"] = 1
        if self._intents() & INTENT_DIRECT_MESSAGES:
            await self.dispatch("MESSAGE_CREATE", event)
        return copy.deepcopy(message)

    def find_command(self, name: str, guild_id: int | None) -> tuple[dict[str, Any], str | None]:
        """The registered chat-input command ``name``: guild scope first, then global."""
        scopes = ([str(guild_id)] if guild_id is not None else []) + [None]
        for scope in scopes:
            for cmd in self.registered_commands.get(scope) or []:
                if cmd["name"] == name and int(cmd.get("type", 1)) == 1:
                    return cmd, scope
        known = {k: [c["name"] for c in v] for k, v in self.registered_commands.items()}
        raise LookupError(f"command {name!r} not registered (guild {guild_id}); have {known}")

    async def send_interaction(
        self,
        *,
        guild_id: int | None,
        channel_id: int,
        member: FakeMember,
        name: str,
        options: Sequence[Mapping[str, Any]] | Mapping[str, Any] = (),
        resolved: Mapping[str, Any] | None = None,
        subcommand: str | None = None,
        group: str | None = None,
        locale: str = "en-US",
        enforce_default_permissions: bool = False,
    ) -> FakeInteraction:
        """A member runs slash command ``name``: INTERACTION_CREATE type 2 is dispatched.

        ``options`` is either Discord's raw option list (with ``resolved`` given by hand) or a
        mapping ``{option_name: value}`` typed from the synced schema: attachment values may be
        the dict from ``add_attachment``, user values a FakeUser/FakeMember, channel/role values
        ids; ``resolved`` is then built for you. ``subcommand``/``group`` nest the options.

        Discord itself hides commands whose ``default_member_permissions`` the member lacks,
        but guild admins can override that, so by default the bot gets the interaction anyway;
        ``enforce_default_permissions=True`` raises PermissionError instead.
        """
        cmd, scope = self.find_command(name, guild_id)
        guild = self._guild(guild_id) if guild_id is not None else None
        perms = self._member_permissions(guild, member) if guild else ALL_PERMISSIONS
        required = cmd.get("default_member_permissions")
        if (
            enforce_default_permissions
            and required is not None
            and not perms & ADMINISTRATOR
            and perms & int(required) != int(required)
        ):
            raise PermissionError(f"{member.user.username} cannot see /{name}")
        resolved_out: dict[str, Any] = copy.deepcopy(dict(resolved or {}))
        option_list = self._build_options(
            cmd, guild, options, resolved_out, subcommand=subcommand, group=group
        )
        self._users.setdefault(member.user.id, member.user)
        interaction_id = self._snowflake()
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        data: dict[str, Any] = {"id": cmd["id"], "name": name, "type": 1, "options": option_list}
        if resolved_out:
            data["resolved"] = resolved_out
        if scope is not None:
            data["guild_id"] = scope
        payload: dict[str, Any] = {
            "id": str(interaction_id),
            "application_id": str(self.application_id),
            "type": 2,
            "token": token,
            "version": 1,
            "channel_id": str(channel_id),
            "app_permissions": str(self.bot_permissions),
            "locale": locale,
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
            "data": data,
        }
        if guild is not None:
            channel = self._channel_payload(guild, channel_id)
            channel["permissions"] = str(perms)
            member_data = member.payload()
            member_data["permissions"] = str(perms)
            payload.update(
                guild_id=str(guild.id),
                guild={"id": str(guild.id), "locale": "en-US", "features": []},
                guild_locale="en-US",
                channel=channel,
                member=member_data,
                context=0,
                authorizing_integration_owners={"0": str(guild.id)},
            )
        else:
            channel_id = self.dm_channel_id(member.user)
            payload.update(
                channel_id=str(channel_id),
                channel=self._dm_channel_payload(channel_id),
                user=member.user.payload(),
                context=1,
                authorizing_integration_owners={"0": str(self.application_id)},
            )
        interaction = FakeInteraction(
            self,
            id=interaction_id,
            token=token,
            payload=payload,
            guild_id=guild_id,
            channel_id=channel_id,
        )
        self.interactions[interaction_id] = interaction
        await self.dispatch("INTERACTION_CREATE", copy.deepcopy(payload))
        return interaction

    def _build_options(
        self,
        cmd: dict[str, Any],
        guild: FakeGuild | None,
        options: Sequence[Mapping[str, Any]] | Mapping[str, Any],
        resolved: dict[str, Any],
        *,
        subcommand: str | None,
        group: str | None,
    ) -> list[dict[str, Any]]:
        schema: list[dict[str, Any]] = cmd.get("options") or []
        path: list[tuple[str, int]] = []
        for wanted, kind in ((group, OPT_SUB_COMMAND_GROUP), (subcommand, OPT_SUB_COMMAND)):
            if wanted is None:
                continue
            node = next((o for o in schema if o["name"] == wanted and o["type"] == kind), None)
            if node is None:
                raise LookupError(f"/{cmd['name']} has no {wanted!r} (type {kind})")
            schema = node.get("options") or []
            path.append((wanted, kind))
        if isinstance(options, Mapping):
            leaf = [
                self._typed_option(schema, key, value, guild, resolved)
                for key, value in options.items()
            ]
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in options]
            if missing:
                raise ValueError(f"/{cmd['name']}: missing required options {missing}")
        else:
            leaf = [dict(o) for o in options]
        for name, kind in reversed(path):
            leaf = [{"name": name, "type": kind, "options": leaf}]
        return leaf

    def _typed_option(
        self,
        schema: list[dict[str, Any]],
        name: str,
        value: Any,
        guild: FakeGuild | None,
        resolved: dict[str, Any],
    ) -> dict[str, Any]:
        spec = next((o for o in schema if o["name"] == name), None)
        if spec is None:
            raise LookupError(f"no option {name!r}; have {[o['name'] for o in schema]}")
        kind = int(spec["type"])
        if kind == OPT_ATTACHMENT:
            att = value if isinstance(value, Mapping) else self._attachments[int(value)]
            resolved.setdefault("attachments", {})[str(att["id"])] = dict(att)
            value = str(att["id"])
        elif kind in (OPT_USER, OPT_MENTIONABLE) and isinstance(value, FakeUser | FakeMember):
            user = value.user if isinstance(value, FakeMember) else value
            self._users.setdefault(user.id, user)
            resolved.setdefault("users", {})[str(user.id)] = user.payload()
            member = value if isinstance(value, FakeMember) else None
            if member is None and guild is not None:
                member = self._find_member(guild, user.id)
            if member is not None and guild is not None:
                data = member.payload(with_user=False)
                data["permissions"] = str(self._member_permissions(guild, member))
                resolved.setdefault("members", {})[str(user.id)] = data
            value = str(user.id)
        elif kind == OPT_CHANNEL and guild is not None:
            channel = self._channel_payload(guild, int(value))
            channel["permissions"] = str(self.bot_permissions)
            resolved.setdefault("channels", {})[str(value)] = channel
            value = str(value)
        elif kind in (OPT_ROLE, OPT_MENTIONABLE) and guild is not None:
            roles = self._roles(guild)
            role = next((r for r in roles if r.id == int(value)), None)
            if role is None:
                raise LookupError(f"no role {value} in guild {guild.id}")
            payload = self._role_payload(role, roles.index(role))
            resolved.setdefault("roles", {})[str(role.id)] = payload
            value = str(role.id)
        return {"name": name, "type": kind, "value": value}

    # ------------------------------------------------------------------ HTTP plumbing

    async def _http_handler(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        query = dict(request.query)
        if path.startswith("/cdn/"):
            return self._serve_cdn(request, path, query)
        rel = path[len(API_PREFIX) :] if path.startswith(API_PREFIX + "/") else path
        record = RecordedRequest(
            index=-1,
            method=request.method,
            path=rel,
            query=query,
            json=None,
            files=[],
            at=time.monotonic(),
        )
        status, body = 200, None
        try:
            incoming = await self._read_request(request, rel, query)
            record.json = incoming.json
            record.files = [f for _, f in incoming.uploads]
            handler, params = self._match(request.method, rel)
            if handler is None or not path.startswith(API_PREFIX + "/"):
                record.handled = False
                raise FakeDiscordError(404, 0, "404: Not Found")
            self._check_auth(rel, incoming.authorization)
            body = await handler(incoming, **params)
            status = 204 if body is None else 200
        except FakeDiscordError as exc:
            status, body = exc.status, exc.body()
        except Exception as exc:  # a bug in the fake or an unexpected payload: 400, not 5xx
            log.exception("fake handler failed for %s %s", request.method, rel)
            self.errors.append(f"{request.method} {rel}: {exc!r}")
            status, body = 400, {"message": f"fakediscord error: {exc!r}", "code": 0}
        record.status, record.response = status, body
        record.index = len(self.requests)
        self.requests.append(record)  # recorded once answered, so waiters see the status
        self._notify()
        if body is None:
            return web.Response(status=204)
        # body= bytes, not text=: aiohttp's text setter appends "; charset=utf-8" even to an
        # explicit Content-Type header, and discord.py then hands the caller a str.
        return web.Response(status=status, body=json.dumps(body).encode(), headers=_JSON_HEADERS)

    def _serve_cdn(self, request: web.Request, path: str, query: dict[str, str]) -> web.Response:
        record = RecordedRequest(
            index=len(self.requests),
            method=request.method,
            path=path,
            query=query,
            json=None,
            files=[],
            kind="cdn",
            at=time.monotonic(),
        )
        self.requests.append(record)
        match = re.fullmatch(r"/cdn/attachments/\d+/(\d+)/[^/]+", path)
        entry = self._cdn.get(int(match.group(1))) if match else None
        self._notify()
        if entry is None or request.method != "GET":
            record.status, record.handled = 404, entry is not None
            return web.Response(status=404, text="Not Found")
        _filename, data, content_type = entry
        record.status = 200
        return web.Response(body=data, headers={"Content-Type": content_type})

    async def _read_request(
        self, request: web.Request, rel: str, query: dict[str, str]
    ) -> _Incoming:
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
        return _Incoming(
            method=request.method,
            path=rel,
            query=query,
            json=body,
            uploads=uploads,
            authorization=request.headers.get("Authorization"),
        )

    def _check_auth(self, rel: str, authorization: str | None) -> None:
        if self.token is None or rel.startswith(("/interactions/", "/webhooks/")):
            return
        if authorization != f"Bot {self.token}":
            raise FakeDiscordError(401, 0, "401: Unauthorized")

    def _match(self, method: str, rel: str) -> tuple[Handler | None, dict[str, str]]:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(rel)
            if match and route_method == method:
                return handler, {k: v for k, v in match.groupdict().items() if v is not None}
        return None, {}

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], Handler]]:
        app = r"/applications/(?P<app>\d+)"
        cmds = app + r"(?:/guilds/(?P<guild>\d+))?/commands"
        msgs = r"/channels/(?P<channel>\d+)/messages"
        hook = r"/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"
        table: list[tuple[str, str, Handler]] = [
            ("GET", r"/users/@me", self._get_me),
            ("GET", r"/users/(?P<user>\d+)", self._get_user),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/@me", self._get_application),
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway),
            ("GET", cmds, self._list_commands),
            ("PUT", cmds, self._put_commands),
            ("POST", cmds, self._post_command),
            ("GET", cmds + r"/(?P<cmd>\d+)", self._get_command),
            ("PATCH", cmds + r"/(?P<cmd>\d+)", self._patch_command),
            ("DELETE", cmds + r"/(?P<cmd>\d+)", self._delete_command),
            ("GET", r"/guilds/(?P<guild>\d+)", self._get_guild),
            ("GET", r"/guilds/(?P<guild>\d+)/channels", self._get_guild_channels),
            ("GET", r"/guilds/(?P<guild>\d+)/members/(?P<user>\d+)", self._get_member),
            ("GET", r"/channels/(?P<channel>\d+)", self._get_channel),
            ("POST", r"/channels/(?P<channel>\d+)/typing", self._typing),
            ("GET", msgs, self._history),
            ("POST", msgs, self._post_message),
            ("GET", msgs + r"/(?P<message>\d+)", self._get_message),
            ("PATCH", msgs + r"/(?P<message>\d+)", self._patch_message),
            ("DELETE", msgs + r"/(?P<message>\d+)", self._delete_message),
            ("PUT", msgs + r"/(?P<message>\d+)/reactions/(?P<emoji>[^/]+)/@me", self._react),
            ("DELETE", msgs + r"/(?P<message>\d+)/reactions/(?P<emoji>[^/]+)/@me", self._unreact),
            ("POST", r"/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback", self._callback),
            ("POST", hook, self._followup),
            ("GET", hook + r"/messages/(?P<message>@original|\d+)", self._hook_get),
            ("PATCH", hook + r"/messages/(?P<message>@original|\d+)", self._hook_patch),
            ("DELETE", hook + r"/messages/(?P<message>@original|\d+)", self._hook_delete),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    # ------------------------------------------------------------------ REST: identity

    async def _get_me(self, req: _Incoming) -> Any:
        return self._bot_user_payload()

    async def _get_user(self, req: _Incoming, user: str) -> Any:
        found = self._users.get(int(user))
        if found is None:
            raise _unknown("User", 10013)
        return found.payload()

    async def _create_dm(self, req: _Incoming) -> Any:
        user_id = int(req.json["recipient_id"])
        if user_id not in self._users:
            raise _unknown("User", 10013)
        return self._dm_channel_payload(self.dm_channel_id(user_id))

    async def _get_application(self, req: _Incoming) -> Any:
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": FakeUser(1, "owner").payload(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": self.application_flags,
            "bot": self.bot_user.payload(),
            "interactions_endpoint_url": None,
        }

    async def _get_gateway(self, req: _Incoming) -> Any:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        return {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    # ------------------------------------------------------------------ REST: commands

    def _check_app(self, app: str) -> None:
        if int(app) != self.application_id:
            raise _unknown("Application", 10002)

    def _store_command(self, scope: str | None, data: Mapping[str, Any]) -> dict[str, Any]:
        name = str(data.get("name", ""))
        cmd_type = int(data.get("type", 1))
        if not _COMMAND_NAME_RE.match(name) or (cmd_type == 1 and name != name.lower()):
            raise _form_error("name", f"Invalid command name {name!r}", "APPLICATION_COMMAND_NAME")
        description = str(data.get("description", ""))
        if cmd_type == 1 and not 1 <= len(description) <= 100:
            raise _form_error("description", "Must be between 1 and 100 in length.")
        key = (scope, name, cmd_type)
        cmd_id = self._command_ids.setdefault(key, self._snowflake())
        version = self._command_versions[cmd_id] = self._snowflake()
        stored: dict[str, Any] = {
            "type": cmd_type,
            "description": description,
            "options": [],
            "default_member_permissions": None,
            "nsfw": False,
            **copy.deepcopy(dict(data)),
            "id": str(cmd_id),
            "application_id": str(self.application_id),
            "version": str(version),
        }
        if stored["default_member_permissions"] is not None:  # discord.py sends an int
            stored["default_member_permissions"] = str(int(stored["default_member_permissions"]))
        if scope is not None:
            stored["guild_id"] = scope
        return stored

    async def _list_commands(self, req: _Incoming, app: str, guild: str | None = None) -> Any:
        self._check_app(app)
        return self.registered_commands.get(guild) or []

    async def _put_commands(self, req: _Incoming, app: str, guild: str | None = None) -> Any:
        self._check_app(app)
        if guild is not None:
            self._guild(guild)
        body = req.json or []
        if len({(c.get("name"), c.get("type", 1)) for c in body}) != len(body):
            raise _form_error("_", "Application command names must be unique", "DUPLICATE")
        stored = [self._store_command(guild, c) for c in body]
        self.registered_commands[guild] = stored
        return stored

    async def _post_command(self, req: _Incoming, app: str, guild: str | None = None) -> Any:
        self._check_app(app)
        stored = self._store_command(guild, req.json)
        current = [c for c in self.registered_commands.get(guild) or [] if c["id"] != stored["id"]]
        self.registered_commands[guild] = [*current, stored]
        return stored

    def _find_stored(self, guild: str | None, cmd: str) -> tuple[list[dict[str, Any]], int]:
        commands = self.registered_commands.get(guild) or []
        for index, stored in enumerate(commands):
            if stored["id"] == cmd:
                return commands, index
        raise _unknown("application command", 10063)

    async def _get_command(
        self, req: _Incoming, app: str, cmd: str, guild: str | None = None
    ) -> Any:
        commands, index = self._find_stored(guild, cmd)
        return commands[index]

    async def _patch_command(
        self, req: _Incoming, app: str, cmd: str, guild: str | None = None
    ) -> Any:
        commands, index = self._find_stored(guild, cmd)
        merged = {**commands[index], **(req.json or {})}
        commands[index] = self._store_command(guild, merged)
        return commands[index]

    async def _delete_command(
        self, req: _Incoming, app: str, cmd: str, guild: str | None = None
    ) -> Any:
        commands, index = self._find_stored(guild, cmd)
        del commands[index]
        return None

    # ------------------------------------------------------------------ REST: guilds/channels

    async def _get_guild(self, req: _Incoming, guild: str) -> Any:
        data = self._guild_payload(self._guild(guild))
        for key in ("members", "channels", "threads", "presences", "voice_states"):
            data.pop(key)
        return data

    async def _get_guild_channels(self, req: _Incoming, guild: str) -> Any:
        found = self._guild(guild)
        return [self._channel_payload(found, int(c[0])) for c in found.channels]

    async def _get_member(self, req: _Incoming, guild: str, user: str) -> Any:
        member = self._find_member(self._guild(guild), int(user))
        if member is None:
            raise _unknown("Member", 10007)
        return member.payload()

    def _require_channel(self, channel_id: int) -> FakeGuild | None:
        guild = self._channel_guild(channel_id)
        if guild is None and channel_id not in self._dm_users:
            raise _unknown("Channel", 10003)
        return guild

    async def _get_channel(self, req: _Incoming, channel: str) -> Any:
        guild = self._require_channel(int(channel))
        if guild is None:
            return self._dm_channel_payload(int(channel))
        return self._channel_payload(guild, int(channel))

    async def _typing(self, req: _Incoming, channel: str) -> Any:
        self._require_channel(int(channel))
        return None

    # ------------------------------------------------------------------ REST: messages

    def _validate_payload(self, body: Mapping[str, Any]) -> None:
        """Discord's size limits: the ones a chatty bot trips over first."""
        content = body.get("content")
        if content is not None and len(str(content)) > 2000:
            raise _form_error("content", "Must be 2000 or fewer in length.")
        embeds = body.get("embeds") or []
        if len(embeds) > 10:
            raise _form_error("embeds", "Must be 10 or fewer in length.")
        total = 0
        for index, embed in enumerate(embeds):
            limits = {"title": 256, "description": 4096}
            for key, limit in limits.items():
                text = str(embed.get(key) or "")
                total += len(text)
                if len(text) > limit:
                    raise _form_error(f"embeds.{index}.{key}", f"Must be {limit} or fewer.")
            fields = embed.get("fields") or []
            if len(fields) > 25:
                raise _form_error(f"embeds.{index}.fields", "Must be 25 or fewer in length.")
            for f_index, fld in enumerate(fields):
                for key, limit in (("name", 256), ("value", 1024)):
                    text = str(fld.get(key) or "")
                    total += len(text)
                    if not text or len(text) > limit:
                        raise _form_error(
                            f"embeds.{index}.fields.{f_index}.{key}",
                            f"Must be between 1 and {limit} in length.",
                        )
            footer = str((embed.get("footer") or {}).get("text") or "")
            author = str((embed.get("author") or {}).get("name") or "")
            total += len(footer) + len(author)
            if len(footer) > 2048 or len(author) > 256:
                raise _form_error(f"embeds.{index}", "Embed footer/author too long.")
        if total > 6000:
            raise _form_error("embeds", "Embed size exceeds maximum size of 6000")

    def _check_not_empty(self, message: Mapping[str, Any]) -> None:
        if not (
            message.get("content")
            or message.get("embeds")
            or message.get("attachments")
            or message.get("sticker_ids")
            or message.get("components")
            or message.get("poll")
        ):
            raise FakeDiscordError(400, 50006, "Cannot send an empty message")

    def _attachments_for(
        self,
        body: Mapping[str, Any],
        uploads: list[tuple[str, RecordedFile]],
        existing: list[dict[str, Any]],
        channel_id: int,
    ) -> list[dict[str, Any]]:
        """Resolve payload ``attachments`` against uploaded ``files[n]`` and kept attachments."""
        by_index = {}
        for position, (fieldname, upload) in enumerate(uploads):
            match = re.fullmatch(r"files\[(\d+)\]", fieldname)
            by_index[int(match.group(1)) if match else position] = upload
        if "attachments" not in body:
            described = [{"id": i} for i in by_index] if by_index else None
            kept = existing
        else:
            described, kept = [], []
            for entry in body.get("attachments") or []:
                old = next((a for a in existing if a["id"] == str(entry.get("id"))), None)
                if old is not None:
                    kept.append(old)
                else:
                    described.append(entry)
        out = list(kept)
        for entry in described or []:
            upload = by_index.get(int(entry["id"]))
            if upload is None:
                raise _form_error("attachments", f"Unknown attachment {entry['id']}")
            filename = entry.get("filename") or upload.filename
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            att = self.add_attachment(filename, upload.data, content_type)
            att["url"] = att["proxy_url"] = att["url"].replace(
                "/attachments/0/", f"/attachments/{channel_id}/"
            )
            if entry.get("description"):
                att["description"] = entry["description"]
            self._attachments[int(att["id"])] = att
            out.append(att)
        return out

    def _apply_edit(
        self,
        message: dict[str, Any],
        body: Mapping[str, Any],
        uploads: list[tuple[str, RecordedFile]],
    ) -> None:
        self._validate_payload(body)
        for key, empty in (("content", ""), ("embeds", []), ("components", []), ("poll", None)):
            if key in body:
                message[key] = body[key] if body[key] is not None else empty
        if "flags" in body and body["flags"] is not None:
            keep = int(message.get("flags", 0)) & ~FLAG_SUPPRESS_EMBEDS
            message["flags"] = keep | (int(body["flags"]) & FLAG_SUPPRESS_EMBEDS)
        if "attachments" in body or uploads:
            message["attachments"] = self._attachments_for(
                body, uploads, message.get("attachments", []), int(message["channel_id"])
            )
        if "content" in message:
            message["mentions"] = self._mentions(
                message["content"] or "", self._channel_guild(int(message["channel_id"]))
            )
        message["edited_timestamp"] = _now_iso()

    def _create_bot_message(
        self,
        channel_id: int,
        body: Mapping[str, Any],
        uploads: list[tuple[str, RecordedFile]],
        *,
        flags: int,
        msg_type: int = 0,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._validate_payload(body)
        attachments = self._attachments_for(body, uploads, [], channel_id)
        draft = {**body, "attachments": attachments}
        self._check_not_empty(draft)
        extra = dict(extra or {})
        reference = body.get("message_reference")
        if reference:
            reference = {  # discord.py sends int ids; Discord answers with strings
                k: str(v) if k.endswith("_id") and v is not None else v
                for k, v in reference.items()
            }
            extra["message_reference"] = reference
            referenced = self._message_copy(int(reference["message_id"]))
            if referenced is None and reference.get("fail_if_not_exists", True):
                raise _form_error(
                    "message_reference", "Unknown message", "MESSAGE_REFERENCE_UNKNOWN_MESSAGE"
                )
            extra["referenced_message"] = referenced
            msg_type = 19 if msg_type == 0 else msg_type
        for key in ("components", "poll", "nonce", "tts"):
            if body.get(key) is not None:
                extra[key] = body[key]
        return self._new_message(
            channel_id=channel_id,
            author=self.bot_user,
            content=str(body.get("content") or ""),
            embeds=list(body.get("embeds") or []),
            attachments=attachments,
            flags=flags,
            msg_type=msg_type,
            extra=extra,
        )

    def _stored_in_channel(self, channel: str, message: str) -> dict[str, Any]:
        found = self._messages.get(int(message))
        if found is None or found["channel_id"] != channel:
            raise _unknown("Message", 10008)
        return found

    async def _post_message(self, req: _Incoming, channel: str) -> Any:
        guild = self._require_channel(int(channel))
        if guild is not None:
            if not self.bot_permissions & (SEND_MESSAGES | ADMINISTRATOR):
                raise FakeDiscordError(403, 50013, "Missing Permissions")
            if req.uploads and not self.bot_permissions & (ATTACH_FILES | ADMINISTRATOR):
                raise FakeDiscordError(403, 50013, "Missing Permissions")
        body = req.json or {}
        flags = int(body.get("flags") or 0) & (FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS)
        return self._create_bot_message(int(channel), body, req.uploads, flags=flags)

    async def _history(self, req: _Incoming, channel: str) -> Any:
        self._require_channel(int(channel))
        limit = int(req.query.get("limit", 50))
        found = [
            m
            for m in self._messages.values()
            if m["channel_id"] == channel and not int(m.get("flags", 0)) & FLAG_EPHEMERAL
        ]
        if "before" in req.query:
            found = [m for m in found if int(m["id"]) < int(req.query["before"])]
        if "after" in req.query:
            found = [m for m in found if int(m["id"]) > int(req.query["after"])]
            return found[:limit][::-1]
        return found[::-1][:limit]

    async def _get_message(self, req: _Incoming, channel: str, message: str) -> Any:
        return self._stored_in_channel(channel, message)

    async def _patch_message(self, req: _Incoming, channel: str, message: str) -> Any:
        found = self._stored_in_channel(channel, message)
        if int(found["author"]["id"]) != self.bot_user.id:
            raise FakeDiscordError(403, 50005, "Cannot edit a message authored by another user")
        self._apply_edit(found, req.json or {}, req.uploads)
        self._check_not_empty(found)
        self._touch(int(message))
        return found

    async def _delete_message(self, req: _Incoming, channel: str, message: str) -> Any:
        self._stored_in_channel(channel, message)
        self.deleted_messages.append(self._messages.pop(int(message)))
        return None

    async def _react(self, req: _Incoming, channel: str, message: str, emoji: str) -> Any:
        found = self._stored_in_channel(channel, message)
        reaction = next((r for r in found["reactions"] if r["emoji"]["name"] == emoji), None)
        if reaction is None:
            new = {"emoji": {"id": None, "name": emoji}, "count": 1, "me": True}
            found["reactions"].append(new)
        elif not reaction["me"]:
            reaction.update(count=reaction["count"] + 1, me=True)
        return None

    async def _unreact(self, req: _Incoming, channel: str, message: str, emoji: str) -> Any:
        found = self._stored_in_channel(channel, message)
        for reaction in list(found["reactions"]):
            if reaction["emoji"]["name"] == emoji and reaction["me"]:
                reaction.update(count=reaction["count"] - 1, me=False)
                if reaction["count"] <= 0:
                    found["reactions"].remove(reaction)
        return None

    # ------------------------------------------------------------------ REST: interactions

    def _interaction_message_extra(self, interaction: FakeInteraction) -> dict[str, Any]:
        user = interaction.payload.get("member", {}).get("user") or interaction.payload.get("user")
        return {
            "webhook_id": str(self.application_id),
            "application_id": str(self.application_id),
            "interaction_metadata": {
                "id": str(interaction.id),
                "type": 2,
                "name": interaction.payload["data"]["name"],
                "user": user,
                "authorizing_integration_owners": interaction.payload.get(
                    "authorizing_integration_owners", {}
                ),
            },
        }

    async def _callback(self, req: _Incoming, iid: str, token: str) -> Any:
        interaction = self.interactions.get(int(iid))
        if interaction is None or interaction.token != token:
            raise _unknown("interaction", 10062)
        if interaction.callback is not None:
            raise FakeDiscordError(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - interaction.created_at > self.interaction_ack_timeout:
            raise _unknown("interaction", 10062)  # what a late (>3 s) acknowledgement gets
        body = req.json or {}
        cb_type = int(body.get("type", 0))
        data = body.get("data") or {}
        message: dict[str, Any] | None = None
        if cb_type == 4:
            flags = int(data.get("flags") or 0) & _SETTABLE_FLAGS
            message = self._create_bot_message(
                interaction.channel_id,
                data,
                req.uploads,
                flags=flags,
                msg_type=20,
                extra=self._interaction_message_extra(interaction),
            )
            interaction.original_id = int(message["id"])
            interaction.original_filled = True
        elif cb_type == 5:
            interaction.defer_flags = int(data.get("flags") or 0) & FLAG_EPHEMERAL
            message = self._new_message(
                channel_id=interaction.channel_id,
                author=self.bot_user,
                content="",
                flags=FLAG_LOADING | interaction.defer_flags,
                msg_type=20,
                extra=self._interaction_message_extra(interaction),
            )
            interaction.original_id = int(message["id"])
        elif cb_type not in (1, 6, 7, 8, 9, 12):
            raise _form_error("type", f"Invalid interaction callback type {cb_type}")
        interaction.callback = copy.deepcopy(body)
        self._notify()
        flags = int(message["flags"]) if message else 0
        info: dict[str, Any] = {
            "id": str(interaction.id),
            "type": 2,
            "response_message_loading": bool(flags & FLAG_LOADING),
            "response_message_ephemeral": bool(flags & FLAG_EPHEMERAL),
        }
        if message is not None:
            info["response_message_id"] = message["id"]
        resource: dict[str, Any] = {"type": cb_type}
        if message is not None:
            resource["message"] = message
        return {"interaction": info, "resource": resource}

    def _hook_interaction(self, app: str, token: str) -> FakeInteraction:
        if int(app) == self.application_id:
            for interaction in self.interactions.values():
                if interaction.token == token and interaction.callback is not None:
                    return interaction
        raise _unknown("Webhook", 10015)  # also what an un-acknowledged token gets

    def _hook_message(self, interaction: FakeInteraction, message: str) -> dict[str, Any]:
        if message == "@original":
            wanted = interaction.original_id
        else:
            wanted = int(message)
            if wanted != interaction.original_id and wanted not in interaction.followup_ids:
                wanted = None
        if wanted is None or wanted not in self._messages:
            raise _unknown("Message", 10008)
        return self._messages[wanted]

    async def _followup(self, req: _Incoming, app: str, token: str) -> Any:
        interaction = self._hook_interaction(app, token)
        body = req.json or {}
        original = self._messages.get(interaction.original_id or -1)
        loading = original is not None and int(original["flags"]) & FLAG_LOADING
        if original is not None and loading and not interaction.original_filled:
            # First follow-up after a defer replaces the "thinking" message; its ephemerality
            # comes from the defer, the follow-up's own flags are ignored (Discord docs).
            self._validate_payload(body)
            self._apply_edit(original, body, req.uploads)
            original["flags"] = int(original["flags"]) & ~FLAG_LOADING
            original["edited_timestamp"] = None
            self._check_not_empty(original)
            interaction.original_filled = True
            self._touch(int(original["id"]))
            self._notify()
            message = original
        else:
            flags = int(body.get("flags") or 0) & _SETTABLE_FLAGS
            message = self._create_bot_message(
                interaction.channel_id,
                body,
                req.uploads,
                flags=flags,
                extra=self._interaction_message_extra(interaction),
            )
            interaction.followup_ids.append(int(message["id"]))
        return message if _truthy(req.query.get("wait")) else None

    async def _hook_get(self, req: _Incoming, app: str, token: str, message: str) -> Any:
        return self._hook_message(self._hook_interaction(app, token), message)

    async def _hook_patch(self, req: _Incoming, app: str, token: str, message: str) -> Any:
        interaction = self._hook_interaction(app, token)
        found = self._hook_message(interaction, message)
        self._apply_edit(found, req.json or {}, req.uploads)
        if int(found["flags"]) & FLAG_LOADING:
            found["flags"] = int(found["flags"]) & ~FLAG_LOADING
            interaction.original_filled = True
        self._check_not_empty(found)
        self._touch(int(found["id"]))
        return found

    async def _hook_delete(self, req: _Incoming, app: str, token: str, message: str) -> Any:
        interaction = self._hook_interaction(app, token)
        found = self._hook_message(interaction, message)
        self.deleted_messages.append(self._messages.pop(int(found["id"])))
        return None
