"""/watch add|list|remove: standing questions, and the loop that alerts them.

A watch without a channel is personal: its alerts come by DM. One in a channel alerts everyone
there, so only admins set those. The loop looks for articles added since its last look (feeds,
members, the command line alike: the store keeps how far it got), every few seconds and right
after an ingest through the bot. A look that finds many new articles is a bulk import: its
alerts wait until the import is over and go out as one summary a watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from .. import render
from ..checks import collection_for, is_admin_member
from ..errors import NotAdmin, NotInGuild

if TYPE_CHECKING:
    from index.alerts import Alert
    from index.store import Watch

    from ..client import NewsBot

log = logging.getLogger("newsbot.watch")


@app_commands.guild_only()
class Watches(
    commands.GroupCog, group_name="watch", group_description="Standing questions: alerts on news"
):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.wake = asyncio.Event()
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None
        # Bulk imports in progress, a guild: their alerts wait here for one summary.
        self.bulk: dict[int, list[Alert]] = {}
        self.bulk_articles: dict[int, int] = defaultdict(int)
        super().__init__()

    async def cog_load(self) -> None:
        self.task = asyncio.create_task(self._run(), name="newsbot-alerts")

    async def cog_unload(self) -> None:
        self.stop.set()
        self.wake.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self.task, 10)

    @commands.Cog.listener()
    async def on_newsbot_ingested(self, guild_id: int) -> None:
        self.wake.set()

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.guild_id is None:  # hidden from DMs; refused there all the same
            raise NotInGuild()
        return True

    def _admin(self, interaction: discord.Interaction[NewsBot]) -> bool:
        return is_admin_member(
            interaction.user, interaction.permissions, self.bot.settings.admin_role
        )

    # -- commands ------------------------------------------------------------------------------
    @app_commands.command(name="add", description="Get an alert when news on a topic arrives")
    @app_commands.describe(
        topic="What to watch for, e.g. 'ceasefire talks in Gaza'",
        channel="Alert this channel (admins) instead of you by DM",
    )
    async def add(
        self,
        interaction: discord.Interaction[NewsBot],
        topic: app_commands.Range[str, 3, 200],
        channel: discord.TextChannel | None = None,
    ) -> None:
        if channel is not None and not self._admin(interaction):
            raise NotAdmin(self.bot.settings.admin_role)
        await interaction.response.defer(ephemeral=True, thinking=True)
        watch = await asyncio.to_thread(
            self.bot.service.watches.add,
            collection_for(interaction.guild_id),
            topic,
            owner=str(interaction.user.id),
            channel_id=channel.id if channel else None,
        )
        where = f"in {channel.mention}" if channel else "to you by DM"
        await interaction.followup.send(
            f"🔔 Watching {render.watch_line(watch)}. New articles on it will be posted {where}.",
            ephemeral=True,
        )

    @app_commands.command(name="list", description="Your watches (admins: all of this server's)")
    async def list(self, interaction: discord.Interaction[NewsBot]) -> None:
        admin = self._admin(interaction)
        watches = await asyncio.to_thread(
            self.bot.service.watches.of_collection,
            collection_for(interaction.guild_id),
            None if admin else str(interaction.user.id),
        )
        await interaction.response.send_message(render.watch_list(watches, admin), ephemeral=True)

    @app_commands.command(name="remove", description="Stop a watch")
    @app_commands.describe(watch_id="The number /watch list shows")
    async def remove(
        self, interaction: discord.Interaction[NewsBot], watch_id: app_commands.Range[int, 1]
    ) -> None:
        watch = await asyncio.to_thread(
            self.bot.service.watches.remove,
            collection_for(interaction.guild_id),
            watch_id,
            by=str(interaction.user.id),
            admin=self._admin(interaction),
        )
        await interaction.response.send_message(
            f"Stopped watching {render.watch_line(watch)}.", ephemeral=True
        )

    # -- alerts --------------------------------------------------------------------------------
    async def _run(self) -> None:
        await self.bot.wait_until_ready()
        while not self.stop.is_set():
            try:
                await self.scan_all()
            except Exception:  # the loop goes on: one bad look must not end alerts
                log.exception("the alert scan failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.bot.settings.alert_scan_seconds)
            self.wake.clear()

    async def scan_all(self) -> None:
        for guild in list(self.bot.guilds):
            await self.scan(guild.id)

    async def scan(self, guild_id: int) -> None:
        collection = collection_for(guild_id)
        alerts, articles = await asyncio.to_thread(self.bot.service.watches.scan, collection)
        if articles >= self.bot.settings.alert_bulk or (guild_id in self.bulk and articles):
            self.bulk.setdefault(guild_id, []).extend(alerts)
            self.bulk_articles[guild_id] += articles
            return
        if guild_id in self.bulk:  # the import is over: one summary a watch
            await self._summaries(guild_id)
        for alert in alerts:
            await self._deliver(alert, embed=True)

    async def _summaries(self, guild_id: int) -> None:
        alerts = self.bulk.pop(guild_id, [])
        articles = self.bulk_articles.pop(guild_id, 0)
        by_watch: dict[int, list[Alert]] = defaultdict(list)
        for alert in alerts:
            by_watch[alert.watch_id].append(alert)
        for watch_id, found in by_watch.items():
            watch = await self._watch(watch_id)
            if watch is not None:
                await self._send(watch, content=render.bulk_summary(watch, found, articles))

    async def _watch(self, watch_id: int) -> Watch | None:
        try:
            return await asyncio.to_thread(self.bot.service.watches.get, watch_id)
        except Exception:  # removed meanwhile
            return None

    async def _deliver(self, alert: Alert, *, embed: bool) -> None:
        watch = await self._watch(alert.watch_id)
        if watch is not None:
            await self._send(watch, embed=render.alert_embed(alert, watch))

    async def _send(self, watch: Watch, **message: object) -> None:
        try:
            if watch.channel_id is not None:
                channel = self.bot.get_channel(watch.channel_id)
                if channel is None:
                    channel = await self.bot.fetch_channel(watch.channel_id)
                await channel.send(**message)  # type: ignore[union-attr]
            else:
                user = self.bot.get_user(int(watch.owner)) or await self.bot.fetch_user(
                    int(watch.owner)
                )
                await user.send(**message)  # type: ignore[arg-type]
        except discord.HTTPException as exc:  # DMs closed, channel gone: logged, not retried
            log.warning("could not deliver an alert of watch %s: %s", watch.id, exc)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Watches(bot))
