"""Following news feeds: /feeds add|list|remove|pause|resume for admins, and the poller that
ingests new entries in the background (never on the event loop's time)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import InputError
from index.feeds import FeedPoller, PollReport
from index.ingest import web
from index.ingest.fetch import fetch

from ..checks import admin_only, collection_for, guild_of
from ..errors import UserError
from ..render import address, feed_line, feed_list, feed_notice

if TYPE_CHECKING:
    from ..client import NewsBot

log = logging.getLogger("newsbot.feeds")


@admin_only()
class Feeds(
    commands.GroupCog, group_name="feeds", group_description="News feeds this server follows"
):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.first_polls: set[asyncio.Task] = set()
        self.poller = FeedPoller(
            bot.service, lock=bot.writer, owned=bot.owned_collections, on_report=self.polled
        )
        super().__init__()

    async def cog_load(self) -> None:
        if self.bot.settings.poll_feeds:
            self.task = asyncio.create_task(self.poller.run(self.stop), name="newsbot-feeds")

    async def cog_unload(self) -> None:
        self.stop.set()
        for task in list(self.first_polls):
            task.cancel()
        if self.task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self.task, 10)

    @app_commands.command(name="add", description="Follow an RSS or Atom feed")
    @app_commands.describe(url="The feed's address", every="Minutes between polls")
    async def add(
        self,
        interaction: discord.Interaction[NewsBot],
        url: str,
        every: app_commands.Range[int, 5, 1440] | None = None,
    ) -> None:
        address = web.web_address(url)  # before the defer: a refusal stays private
        await interaction.response.defer(thinking=True, ephemeral=True)
        try:
            result = await fetch(address, web.policy_for(self.bot.service.settings))
        except InputError as exc:
            raise UserError(f"I couldn't read that feed: {exc}.") from None
        async with self.bot.writer:
            feed = await asyncio.to_thread(
                self.bot.service.add_feed,
                collection_for(interaction.guild_id),
                address,
                added_by=f"{interaction.user} ({interaction.user.id})",
                fetched=result,
                interval_minutes=every,
            )
        await interaction.followup.send(f"📰 Following {feed_line(feed)}", ephemeral=True)
        if self.bot.settings.poll_feeds:  # its first entries now, not at the poller's next wake
            task = asyncio.create_task(self.poller.poll_feed(feed))
            self.first_polls.add(task)
            task.add_done_callback(self.first_polls.discard)

    @app_commands.command(name="notify", description="Where to tell admins a feed is failing")
    @app_commands.describe(channel="The channel for feed trouble; leave it out to stop")
    async def notify(
        self, interaction: discord.Interaction[NewsBot], channel: discord.TextChannel | None = None
    ) -> None:
        collection = collection_for(interaction.guild_id)
        if channel is None:
            await asyncio.to_thread(self.bot.service.set_feed_notices, collection, None)
            await interaction.response.send_message(
                "Feed trouble is no longer posted; `/feeds list` still shows it.", ephemeral=True
            )
            return
        await asyncio.to_thread(
            self.bot.service.set_feed_notices,
            collection,
            channel.id,
            set_by=f"{interaction.user} ({interaction.user.id})",
        )
        await interaction.response.send_message(
            f"A feed that fails {self.bot.service.settings.feed_notice_after} polls in a row,"
            f" or that I pause, will be posted in {channel.mention} (once, until it works again).",
            ephemeral=True,
        )

    # -- what each poll tells --------------------------------------------------------------------
    async def polled(self, report: PollReport) -> None:
        """Every poll of this process: counted (GET /metrics), and its trouble told once in the
        server's /feeds notify channel."""
        shard = self.bot.shard_label(guild_of(report.collection))
        self.bot.metrics.feed_poll(shard, report)
        kind = report.notice(self.bot.service.settings.feed_notice_after)
        if kind is None:
            return
        service = self.bot.service
        channel_id = await asyncio.to_thread(service.feed_notice_channel, report.collection)
        if channel_id is None:
            return  # told when a channel is set and it fails again; /feeds list shows it
        feed = await asyncio.to_thread(service.store.feeds.get, report.feed_id)
        error = report.status.removeprefix("error: ")
        text = feed_notice(feed, kind, feed.last_error or error, report.next_poll_at)
        try:
            channel = self.bot.get_channel(channel_id) or await self.bot.fetch_channel(channel_id)
            await channel.send(text)  # type: ignore[union-attr]
        except discord.HTTPException as exc:  # the channel is gone or closed to the bot
            log.warning("could not post a notice of feed %s: %s", feed.id, exc)
            return
        self.bot.metrics.feed_notices.labels(shard).inc()
        told = None if kind == "recovered" else kind
        await asyncio.to_thread(service.store.feeds.update, feed.id, notice=told)

    @app_commands.command(name="list", description="The feeds this server follows")
    async def list(self, interaction: discord.Interaction[NewsBot]) -> None:
        feeds = await asyncio.to_thread(
            self.bot.service.feeds, collection_for(interaction.guild_id)
        )
        await interaction.response.send_message(feed_list(feeds), ephemeral=True)

    @app_commands.command(name="remove", description="Stop following a feed")
    async def remove(
        self, interaction: discord.Interaction[NewsBot], feed_id: app_commands.Range[int, 1]
    ) -> None:
        async with self.bot.writer:
            feed = await asyncio.to_thread(
                self.bot.service.remove_feed, collection_for(interaction.guild_id), feed_id
            )
        await interaction.response.send_message(
            f"Stopped following {address(feed.url)}.", ephemeral=True
        )

    @app_commands.command(name="pause", description="Pause polling a feed")
    async def pause(
        self, interaction: discord.Interaction[NewsBot], feed_id: app_commands.Range[int, 1]
    ) -> None:
        await self._set_paused(interaction, feed_id, True)

    @app_commands.command(name="resume", description="Resume polling a feed")
    async def resume(
        self, interaction: discord.Interaction[NewsBot], feed_id: app_commands.Range[int, 1]
    ) -> None:
        await self._set_paused(interaction, feed_id, False)

    async def _set_paused(
        self, interaction: discord.Interaction[NewsBot], feed_id: int, paused: bool
    ) -> None:
        feed = await asyncio.to_thread(
            self.bot.service.pause_feed, collection_for(interaction.guild_id), feed_id, paused
        )
        if not paused:
            self.poller.wake()  # due now: polled now, not at the end of the poller's wait
        await interaction.response.send_message(feed_line(feed), ephemeral=True)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Feeds(bot))
