"""``FakeDiscord``: the parts served on 127.0.0.1, and what a test drives and reads.

``patch_discord()`` sets ``discord.http.Route.BASE`` (REST, interaction callbacks and webhooks
all go through it), ``DiscordWebSocket.DEFAULT_GATEWAY`` and ``Asset.BASE``. aiohttp's default
1 MiB request limit would reject uploads; the server allows 32 MiB.
"""

# The public waits take ``timeout=`` by design (the fake's API), hence ASYNC109 is off here.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import discord
import discord.asset
import discord.gateway
import discord.http
import yarl
from aiohttp import web

from .commands import CommandRegistry
from .gateway import Gateway
from .interactions import Interactions
from .messages import MessageStore
from .models import (
    API_PREFIX,
    FLAG_LOADING,
    FakeGuild,
    RecordedRequest,
    Snowflakes,
)
from .rest import Rest
from .routing import Router
from .users import Users
from .waits import Signal
from .world import World


class FakeDiscord:
    """Gateway + REST + CDN fake bound to 127.0.0.1 on a free port (see the package docstring).

    What a test does: ``send_message``, ``send_dm`` (a member posts), ``send_interaction`` (a
    member runs a slash command or a message context menu), ``press`` (a member presses a
    button), ``leave`` (a member leaves a guild or is banned), ``add_attachment`` (a file on
    the CDN), ``outage`` (the next requests to a route get 503), ``drop_gateway``,
    ``gateway_down`` and ``gateway_up`` (an outage: reconnections refused until it ends); each
    is the method of the part that does it (``Users``, ``Interactions``, ``MessageStore``,
    ``Router``, ``Gateway``), bound here. What it reads: ``identify``, ``heartbeats``, ``resumes``,
    ``gateway_queries`` (the gateway), ``requests`` and ``unhandled`` (REST),
    ``registered_commands``, ``interactions``, ``channel_messages(c)`` and ``errors``
    (exceptions inside the fake: should stay empty).
    """

    def __init__(
        self,
        *,
        heartbeat_interval_ms: int = 41250,
        guilds: list[FakeGuild] | None = None,
        token: str | None = None,
    ) -> None:
        self.token = token  # when set, REST auth and IDENTIFY tokens are checked
        self.errors: list[str] = []
        self.world = World(guilds or [], Snowflakes())
        self.bot_user = self.world.bot_user
        self.application_id = self.world.application_id
        self._signal = Signal(lambda: self.router.summary())
        self.messages = MessageStore(self.world, self._signal, lambda: self.base_url)
        self.gateway = Gateway(
            self.world,
            self._signal,
            url=lambda: self.gateway_url,
            heartbeat_interval_ms=heartbeat_interval_ms,
            token=token,
            errors=self.errors,
        )
        self.commands = CommandRegistry(self.world)
        self._interactions = Interactions(
            self.world, self.messages, self.commands, self.gateway, self._signal
        )
        rest = Rest(self.world, self.messages)
        routes = rest.routes() + self.commands.routes() + self._interactions.routes()
        self.router = Router(
            routes, self._signal, token=token, cdn=self.messages.cdn, errors=self.errors
        )
        users = Users(self.world, self.messages, self.gateway)
        # what tests call and read, straight from the part that does it or records it
        self.send_message = users.send_message
        self.send_dm = users.send_dm
        self.leave = users.leave
        self.outage = self.router.outage
        self.send_interaction = self._interactions.send
        self.press = self._interactions.press
        self.add_attachment = self.messages.add_attachment
        self.dm_channel_id = self.world.dm_channel_id
        self.drop_gateway = self.gateway.drop
        self.gateway_down = self.gateway.go_down
        self.gateway_up = self.gateway.come_up
        self.heartbeats = self.gateway.heartbeats
        self.resumes = self.gateway.resumes
        self.gateway_queries = self.gateway.gateway_queries
        self.requests = self.router.requests
        self.registered_commands = self.commands.registered
        self.interactions = self._interactions.by_id
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Bind 127.0.0.1 on a free port and start serving."""
        app = web.Application(client_max_size=32 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        app.router.add_route("*", "/{tail:.*}", self.router.handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def close(self) -> None:
        """Close gateway connections and stop the server (idempotent)."""
        await self.gateway.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._signal.cancel_all()

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
        """Value for ``discord.http.Route.BASE`` (and ``DISCORD_API_BASE``)."""
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        """Value for ``DiscordWebSocket.DEFAULT_GATEWAY`` (also sent as resume_gateway_url)."""
        return f"ws://127.0.0.1:{self._port}/gateway"

    @property
    def bot_mention(self) -> str:
        """``<@BOT_ID>``: put it in content to mention the bot."""
        return f"<@{self.bot_user.id}>"

    @property
    def identify(self) -> dict[str, Any] | None:
        """The client's IDENTIFY payload (token, intents, ...), once it logged in."""
        return self.gateway.identify

    @property
    def interaction_ack_timeout(self) -> float:
        """Seconds the bot has to acknowledge an interaction (Discord: 3)."""
        return self._interactions.ack_timeout

    @interaction_ack_timeout.setter
    def interaction_ack_timeout(self, seconds: float) -> None:
        self._interactions.ack_timeout = seconds

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
                        summary = self.router.summary()
                        raise TimeoutError(f"client not ready after {timeout}s; {summary}")
                    await asyncio.sleep(0.005)
                yield client
            finally:
                await client.close()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout)

    # ------------------------------------------------------------------ waiting and reading

    async def wait_ready(self, timeout: float = 5, *, shards: int | None = None) -> None:
        """Until the client IDENTIFYed and got READY plus every GUILD_CREATE (``shards``: until
        that many shard sessions did, from one process or several)."""

        def ready() -> bool | None:
            if shards is not None:
                return True if len(self.gateway.ready_shards) >= shards else None
            return True if self.gateway.ready else None

        await self._signal.wait_until(ready, timeout, "IDENTIFY/READY")

    async def wait_for(
        self, predicate: Callable[[RecordedRequest], bool], timeout: float = 10, *, since: int = 0
    ) -> RecordedRequest:
        """First recorded request (index >= ``since``) matching ``predicate``, waiting if needed.

        Already-recorded requests count (no race with a fast bot); pass
        ``since=len(fake.requests)`` to only look at traffic after that point.
        """

        def check() -> RecordedRequest | None:
            return next((r for r in self.requests[since:] if predicate(r)), None)

        return await self._signal.wait_until(check, timeout, "a matching request")

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

        return await self._signal.wait_until(check, timeout, f"a bot message in {channel_id}")

    async def wait_heartbeats(self, count: int, timeout: float = 5) -> None:
        """Until at least ``count`` heartbeats have been received in total."""
        await self._signal.wait_until(
            lambda: True if len(self.heartbeats) >= count else None,
            timeout,
            f"{count} heartbeats (have {len(self.heartbeats)})",
        )

    async def wait_commands(
        self, guild_id: int | None = None, timeout: float = 5
    ) -> list[dict[str, Any]]:
        """Commands registered for ``guild_id`` (None = global), waiting for the first sync."""
        return await self._signal.wait_until(
            lambda: self.registered_commands.get(guild_id),
            timeout,
            f"command sync for guild {guild_id}",
        )

    @property
    def unhandled(self) -> list[RecordedRequest]:
        """Requests to routes the fake does not implement (answered 404)."""
        return self.router.unhandled()

    def max_heartbeat_gap(self) -> float:
        """Largest interval between consecutive heartbeats: a blocked event loop shows here."""
        return max((b - a for a, b in itertools.pairwise(self.heartbeats)), default=0.0)

    def channel_messages(
        self, channel_id: int, *, include_ephemeral: bool = False
    ) -> list[dict[str, Any]]:
        """The bot's messages in a channel, oldest first, in their final (edited) state.

        By default only what everyone sees: channel posts plus non-ephemeral interaction
        responses (a deferred one shows as ``flags & 128`` "thinking" until filled).
        """
        return self.messages.in_channel(channel_id, include_ephemeral=include_ephemeral)
