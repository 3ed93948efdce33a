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
from index.feeds import FeedPoller
from index.ingest import web
from index.ingest.fetch import fetch

from ..checks import admin_only, collection_for
from ..errors import UserError
from ..render import address, feed_line, feed_list

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
        self.poller = FeedPoller(bot.service, lock=bot.writer, owned=bot.owned_collections)
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
        await interaction.response.send_message(feed_line(feed), ephemeral=True)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Feeds(bot))
