"""Reading the news: /ask, /search and /sources."""

from __future__ import annotations

import asyncio
import math
from datetime import date
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.search.retrieve import Filters

from .. import render
from ..checks import ask_cooldown, collection_for, in_guild
from ..errors import UserError

if TYPE_CHECKING:
    from index.models import Article

    from ..client import NewsBot

PER_PAGE = 10


def asked_on(interaction: discord.Interaction[NewsBot]) -> str:
    """The day a member asked (UTC, from the interaction's own id): news questions are about
    the news of their days, so it ranks and bars the evidence (see README)."""
    return interaction.created_at.date().isoformat()


def _since(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError:
        raise UserError(f"`{value}` is not a date like 2023-10-26.") from None


class Ask(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    @app_commands.command(name="ask", description="Ask a question about this server's news")
    @app_commands.describe(
        question="What you want to know",
        source="Only articles from this source (e.g. AP)",
        since="Only articles published on or after this date (YYYY-MM-DD)",
    )
    @in_guild()
    @app_commands.checks.dynamic_cooldown(ask_cooldown)
    async def ask(
        self,
        interaction: discord.Interaction[NewsBot],
        question: app_commands.Range[str, 3, 500],
        source: app_commands.Range[str, 1, 100] | None = None,
        since: str | None = None,
    ) -> None:
        filters = Filters(source=source, since=_since(since), as_of=asked_on(interaction))
        await interaction.response.defer(thinking=True)
        answer = await asyncio.to_thread(
            self.bot.service.ask, collection_for(interaction.guild_id), question, filters=filters
        )
        await interaction.followup.send(embed=render.answer_embed(answer))

    @app_commands.command(name="search", description="Read the passages that best match")
    @app_commands.describe(query="Words or a question to look for")
    @in_guild()
    @app_commands.checks.dynamic_cooldown(ask_cooldown)
    async def search(
        self, interaction: discord.Interaction[NewsBot], query: app_commands.Range[str, 2, 500]
    ) -> None:
        await interaction.response.defer(thinking=True)
        found = await asyncio.to_thread(
            self.bot.service.find,
            collection_for(interaction.guild_id),
            query,
            top_k=5,
            filters=Filters(as_of=asked_on(interaction)),
        )
        await interaction.followup.send(embed=render.hits_embed(query, found))

    @app_commands.command(name="sources", description="The articles this server has added")
    @app_commands.describe(page="Page number, newest articles first")
    @in_guild()
    async def sources(
        self,
        interaction: discord.Interaction[NewsBot],
        page: app_commands.Range[int, 1, 10_000] = 1,
    ) -> None:
        collection = collection_for(interaction.guild_id)
        await interaction.response.defer(thinking=True)

        def load() -> tuple[int, list[Article]]:
            stats = self.bot.service.stats(collection)
            items = self.bot.service.sources(
                collection, limit=PER_PAGE, offset=(page - 1) * PER_PAGE
            )
            return int(stats["articles"]), items

        total, items = await asyncio.to_thread(load)
        pages = max(1, math.ceil(total / PER_PAGE))
        await interaction.followup.send(embed=render.sources_embed(items, page, pages, total))


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Ask(bot))
