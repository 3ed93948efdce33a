"""The ``commands.Bot`` subclass: the service is passed in, cogs are loaded in ``setup_hook``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
from discord.ext import commands

from index.service import NewsService

from . import errors
from .config import BotSettings
from .health import HealthServer
from .metrics import Metrics, shard_of

log = logging.getLogger("newsbot.bot")

COGS = (
    "bot.cogs.feedback",
    "bot.cogs.ask",
    "bot.cogs.ingest",
    "bot.cogs.admin",
    "bot.cogs.feeds",
    "bot.cogs.watch",
    "bot.cogs.digest",
    "bot.cogs.help",
)


def intents() -> discord.Intents:
    """Guilds and messages, plus message content for `!ingest`; no privileged members intent."""
    out = discord.Intents.default()
    out.message_content = True
    out.members = False
    out.presences = False
    return out


class NewsBot(commands.Bot):
    """newsbot on Discord: the cogs reach the service, the settings and the one writer lock
    through this class, which is what they are typed against."""

    def __init__(
        self,
        settings: BotSettings,
        service: NewsService,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        **options: Any,
    ) -> None:
        options.setdefault("chunk_guilds_at_startup", False)
        super().__init__(
            command_prefix=commands.when_mentioned_or(settings.command_prefix),
            intents=intents(),
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=commands.DefaultHelpCommand(no_category="Commands"),
            **options,
        )
        self.settings = settings
        self.service = service
        # What time it is, for what runs on the clock (the daily digest): passed in, so a test
        # starts the bot at the time it needs, before any loop has looked.
        self.clock = clock
        # One writer: ingests and admin writes queue here; questions never wait on it.
        self.writer = asyncio.Lock()
        self._warm_up: asyncio.Task[None] | None = None
        # This bot's counters (GET /metrics), and the server of /healthz and /metrics when
        # NEWSBOT_HEALTH_PORT is set.
        self.metrics = Metrics()
        self.health: HealthServer | None = None

    async def setup_hook(self) -> None:
        if self.settings.health_port is not None:  # first: a monitor sees the bot starting
            self.health = HealthServer(self, self.settings.health_host, self.settings.health_port)
            await self.health.start()
        for name in COGS:
            await self.load_extension(name)
        self.tree.on_error = errors.on_app_command_error
        await self.sync_commands()
        # The model loads in the background, so the first /ask doesn't wait seconds for it.
        self._warm_up = asyncio.create_task(self._warm())

    async def close(self) -> None:
        if self.health is not None:
            await self.health.stop()
            self.health = None
        await super().close()

    def shard_label(self, guild_id: int | None) -> str:
        """The metrics label of a server's events: its shard, never its name."""
        return shard_of(guild_id, self.shard_count)

    async def _warm(self) -> None:
        try:
            await asyncio.to_thread(self.service.warm_up)
        except Exception:  # the first question will show the same problem to whoever asks
            log.exception("warming up the model failed")

    async def on_command_error(self, ctx: commands.Context, error: commands.CommandError) -> None:
        await errors.on_command_error(ctx, error)

    async def on_ready(self) -> None:
        log.info("connected as %s to %d servers", self.user, len(self.guilds))

    def owned_collections(self) -> list[int] | None:
        """Ids of the collections of the servers this process serves, when it serves only some
        shards (their feeds are polled here and nowhere else); None: every collection."""
        if self.settings.shards() is None:
            return None
        from .checks import collection_for

        ids = (self.service.store.collections.id_of(collection_for(g.id)) for g in self.guilds)
        return [cid for cid in ids if cid is not None]

    def _sync_marker(self) -> Path:
        return self.service.settings.data_dir / "discord-commands.sha256"

    async def sync_commands(self) -> None:
        """Sync to the development server when set; globally only when the commands changed
        (global sync is rate-limited and slow to propagate)."""
        try:
            if self.settings.dev_guild:
                guild = discord.Object(id=self.settings.dev_guild)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
                log.info("commands synced to development server %s", self.settings.dev_guild)
                return
            payload = [c.to_dict(self.tree) for c in self.tree.get_commands()]
            blob = json.dumps([self.application_id, payload], sort_keys=True).encode()
            digest = hashlib.sha256(blob).hexdigest()
            marker = self._sync_marker()
            if marker.is_file() and marker.read_text().strip() == digest:
                log.info("commands unchanged; global sync skipped")
                return
            await self.tree.sync()
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(digest + "\n")
            log.info("commands synced globally")
        except discord.HTTPException as exc:
            log.warning("command sync failed (%s); slash commands may be out of date", exc.status)


class ShardedNewsBot(NewsBot, commands.AutoShardedBot):
    """newsbot on some of Discord's shards (``NEWSBOT_SHARD_COUNT``, ``NEWSBOT_SHARD_IDS``):
    Discord sends this process only its shards' servers, ``(guild_id >> 22) % shard_count``,
    and indexes are loaded on a collection's first use, so only those servers' are."""


def make_bot(settings: BotSettings, service: NewsService, **options: Any) -> NewsBot:
    """The bot the settings ask for: sharded or not."""
    shards = settings.shards()
    if shards is None:
        return NewsBot(settings, service, **options)
    count, ids = shards
    return ShardedNewsBot(settings, service, shard_count=count, shard_ids=ids, **options)
