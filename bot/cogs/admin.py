"""Running a server's corpus: /rebuild-index and /forget for admins, /stats for everyone."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import BusyError

from .. import render
from ..checks import admin_only, collection_for, in_guild
from ..errors import UserError

if TYPE_CHECKING:
    from ..client import NewsBot


class Admin(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.rebuilding: set[int] = set()

    @app_commands.command(
        name="rebuild-index", description="Rebuild this server's search index from stored vectors"
    )
    @admin_only()
    async def rebuild(self, interaction: discord.Interaction[NewsBot]) -> None:
        guild_id = interaction.guild_id
        if guild_id in self.rebuilding:
            raise UserError("A rebuild is already running for this server; wait for it to end.")
        self.rebuilding.add(guild_id)
        try:
            await interaction.response.send_message("Rebuilding the index… 0%")
            loop = asyncio.get_running_loop()
            last = [0.0]

            def progress(label: str, done: int, total: int) -> None:
                now = time.monotonic()
                if total and now - last[0] >= 1.0:  # Discord rate-limits edits
                    last[0] = now
                    asyncio.run_coroutine_threadsafe(
                        interaction.edit_original_response(
                            content=f"Rebuilding the index… {100 * done // total}%"
                        ),
                        loop,
                    )

            started = time.perf_counter()
            try:
                async with self.bot.writer:
                    counts = await asyncio.to_thread(
                        self.bot.service.rebuild, collection_for(guild_id), progress=progress
                    )
            except BusyError:  # its public "Rebuilding…" goes; the reason is told privately
                await interaction.delete_original_response()
                raise
            self.bot.metrics.rebuilds.labels(self.bot.shard_label(guild_id)).inc()
            vectors = sum(counts.values())
            await interaction.edit_original_response(
                content=f"✅ Index rebuilt: {vectors} passages in "
                f"{time.perf_counter() - started:.1f} s."
            )
        finally:
            self.rebuilding.discard(guild_id)

    @app_commands.command(name="forget", description="Remove an article from this server")
    @app_commands.describe(article_id="The article number shown by /sources")
    @admin_only()
    async def forget(
        self, interaction: discord.Interaction[NewsBot], article_id: app_commands.Range[int, 1]
    ) -> None:
        collection = collection_for(interaction.guild_id)
        # A wrong id fails here, before the reply is deferred, so its error stays private.
        await asyncio.to_thread(self.bot.service.article, collection, article_id)
        await interaction.response.defer(thinking=True)
        async with self.bot.writer:
            article = await asyncio.to_thread(self.bot.service.forget, collection, article_id)
        await interaction.followup.send(render.forgotten(article))

    @app_commands.command(name="stats", description="How much news this server has")
    @in_guild()
    async def stats(self, interaction: discord.Interaction[NewsBot]) -> None:
        await interaction.response.defer(thinking=True)
        stats = await asyncio.to_thread(
            self.bot.service.stats, collection_for(interaction.guild_id)
        )
        await interaction.followup.send(embed=render.stats_embed(stats))


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Admin(bot))
