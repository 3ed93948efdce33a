"""/digest set|off|now for admins, and the loop that posts each server's daily digest at its
hour in its time zone (once a local day: the store records the day sent, so a restart within
the hour does not send it twice)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from .. import render
from ..checks import admin_only, collection_for, guild_of
from ..errors import UserError

if TYPE_CHECKING:
    from index.features.digests import DigestSchedule

    from ..client import NewsBot

log = logging.getLogger("newsbot.digest")


@admin_only()
class Digests(
    commands.GroupCog, group_name="digest", group_description="This server's daily news digest"
):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.clock = bot.clock  # tests move time
        super().__init__()

    async def cog_load(self) -> None:
        self.task = asyncio.create_task(self._run(), name="newsbot-digest")

    async def cog_unload(self) -> None:
        self.stop.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self.task, 10)

    @app_commands.command(name="set", description="Post a daily digest in a channel")
    @app_commands.describe(
        channel="Where to post it",
        hour="Hour of the day (0-23); before noon it covers the day before",
        timezone="Time zone, e.g. Europe/Paris or America/New_York (default UTC)",
    )
    async def set(
        self,
        interaction: discord.Interaction[NewsBot],
        channel: discord.TextChannel,
        hour: app_commands.Range[int, 0, 23],
        timezone: app_commands.Range[str, 1, 64] = "UTC",
    ) -> None:
        schedule = await asyncio.to_thread(
            self.bot.service.digests.set,
            collection_for(interaction.guild_id),
            channel.id,
            hour,
            timezone,
        )
        await interaction.response.send_message(
            render.digest_schedule_line(schedule.channel_id, schedule.hour, schedule.timezone),
            ephemeral=True,
        )

    @app_commands.command(name="off", description="Stop the daily digest")
    async def off(self, interaction: discord.Interaction[NewsBot]) -> None:
        stopped = await asyncio.to_thread(
            self.bot.service.digests.stop, collection_for(interaction.guild_id)
        )
        if not stopped:
            raise UserError("There is no daily digest to stop: `/digest set` starts one.")
        await interaction.response.send_message("The daily digest is off.", ephemeral=True)

    @app_commands.command(name="now", description="Preview a day's digest (only you see it)")
    @app_commands.describe(day="The day (YYYY-MM-DD); default: the one the next digest covers")
    async def now(self, interaction: discord.Interaction[NewsBot], day: str | None = None) -> None:
        collection = collection_for(interaction.guild_id)
        service = self.bot.service
        if day:
            from datetime import date

            try:
                day = date.fromisoformat(day.strip()).isoformat()
            except ValueError:
                raise UserError(f"`{day}` is not a date like 2023-10-26.") from None
        await interaction.response.defer(ephemeral=True, thinking=True)

        def build():
            if day:
                return service.digests.build(collection, day)
            schedules = {s.collection: s for s in service.digests.schedules()}
            schedule = schedules.get(collection)
            today = (
                self.clock().astimezone(_zone(schedule)).date().isoformat()
                if schedule
                else self.clock().date().isoformat()
            )
            return service.digests.build(collection, service.digests.covers(schedule, today))

        digest = await asyncio.to_thread(build)
        await interaction.followup.send(
            embed=render.digest_embed(digest, preview=True), ephemeral=True
        )

    # -- the daily post ------------------------------------------------------------------------
    async def _run(self) -> None:
        await self.bot.wait_until_ready()
        while not self.stop.is_set():
            try:
                await self.post_due()
            except Exception:
                log.exception("posting digests failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.bot.settings.digest_check_seconds)

    async def post_due(self) -> None:
        service = self.bot.service
        schedules = await asyncio.to_thread(service.digests.schedules)
        guilds = {collection_for(g.id): g for g in self.bot.guilds}
        now = self.clock()
        for schedule in schedules:
            if schedule.collection not in guilds:
                continue  # another shard's server, or one the bot left
            day = service.digests.due_day(schedule, now)
            if day is None:
                continue
            if not await asyncio.to_thread(service.digests.sent, schedule.collection, day):
                continue  # another process sent it
            covered = service.digests.covers(schedule, day)
            digest = await asyncio.to_thread(service.digests.build, schedule.collection, covered)
            await self._post(schedule, render.digest_embed(digest))

    async def _post(self, schedule: DigestSchedule, embed: discord.Embed) -> None:
        try:
            channel = self.bot.get_channel(schedule.channel_id) or await self.bot.fetch_channel(
                schedule.channel_id
            )
            await channel.send(embed=embed)  # type: ignore[union-attr]
            shard = self.bot.shard_label(guild_of(schedule.collection))
            self.bot.metrics.digests.labels(shard).inc()
        except discord.HTTPException as exc:
            log.warning("could not post the digest of %s: %s", schedule.collection, exc)


def _zone(schedule: DigestSchedule):
    from zoneinfo import ZoneInfo

    return ZoneInfo(schedule.timezone)


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Digests(bot))
