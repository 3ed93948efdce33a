"""Reading the news: /ask, /search, /timeline, /sources, "Ask newsbot about this" on any
message, and follow-ups: a reply to one of the bot's answers continues its question.

Every answer carries 👍/👎 buttons (``feedback.vote_view``) and is kept in the store with the
window it searched: what the votes and a later reply refer to.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from datetime import date
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from index.search.retrieve import Filters

from .. import render
from ..checks import ask_cooldown, collection_for, in_guild, per_member
from ..errors import UserError, message_for, unexpected_reply
from .feedback import vote_view

if TYPE_CHECKING:
    from index.models import Answer, Article

    from ..client import NewsBot

PER_PAGE = 10
QUESTION_MAX = 500  # what /ask takes; a longer message is asked by its first 500 characters


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


def question_from(text: str) -> str:
    """A message's text as a question: one line of words, at most ``QUESTION_MAX`` characters
    (cut at a word), mentions and links left out."""
    words = [
        w
        for w in text.split()
        if not (w.startswith("<") and w.endswith(">")) and not w.startswith(("http://", "https://"))
    ]
    return render.cut(" ".join(words), QUESTION_MAX).rstrip(render.ELLIPSIS).strip()


class Ask(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.ask_menu = app_commands.ContextMenu(
            name="Ask newsbot about this", callback=self.ask_about_message
        )
        # Follow-ups (replies) have /ask's limit, counted apart.
        rate = per_member(bot.settings.ask_burst, bot.settings.ask_cooldown_seconds)
        self.reply_cooldown = (
            commands.CooldownMapping(rate, commands.BucketType.user) if rate else None
        )

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.ask_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.ask_menu.name, type=self.ask_menu.type)

    def _count(self, guild_id: int | None, answer: Answer, started: float) -> None:
        """A question answered or refused, and how long it took (GET /metrics)."""
        self.bot.metrics.question(
            self.bot.shard_label(guild_id),
            answered=answer.found,
            seconds=time.perf_counter() - started,
        )

    async def _answer(
        self, interaction: discord.Interaction[NewsBot], question: str, filters: Filters
    ) -> None:
        """Ask, keep the answer, and show it with its vote buttons (the reply is deferred)."""
        collection = collection_for(interaction.guild_id)
        service = self.bot.service

        def ask() -> tuple[Answer, int]:
            answer = service.ask(collection, question, filters=filters)
            answer_id = service.feedback.record(
                collection,
                answer,
                filters,
                asked_by=f"{interaction.user} ({interaction.user.id})",
                channel_id=interaction.channel_id,
            )
            return answer, answer_id

        started = time.perf_counter()
        answer, answer_id = await asyncio.to_thread(ask)
        self._count(interaction.guild_id, answer, started)
        message = await interaction.followup.send(
            embed=render.answer_embed(answer), view=vote_view(answer_id), wait=True
        )
        await asyncio.to_thread(service.feedback.shown, answer_id, message.id)

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
        await self._answer(interaction, question, filters)

    @in_guild()
    @app_commands.checks.dynamic_cooldown(ask_cooldown)
    async def ask_about_message(
        self, interaction: discord.Interaction[NewsBot], message: discord.Message
    ) -> None:
        """Right-click → Apps → "Ask newsbot about this": the message's text as a question."""
        question = question_from(message.content)
        if len(question) < 3:
            raise UserError(
                "That message has no text to ask about. Pick a message with words in it, "
                "or use `/ask`."
            )
        await interaction.response.defer(thinking=True)
        await self._answer(interaction, question, Filters(as_of=asked_on(interaction)))

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        """A reply to one of the bot's answers is a follow-up question."""
        reference = message.reference
        if (
            message.author.bot
            or message.guild is None
            or reference is None
            or reference.message_id is None
            or not isinstance(reference.resolved, discord.Message)
            or reference.resolved.author.id != self.bot.user.id
        ):
            return
        text = message.content.strip()
        if not text or text.startswith(self.bot.settings.command_prefix):
            return
        try:
            await self._follow_up(message, reference.message_id, text)
        except Exception as exc:  # every failure becomes a reply
            reply, expected = message_for(exc)
            if not expected:
                reply = unexpected_reply(exc, "a follow-up")
            with contextlib.suppress(discord.HTTPException):
                await message.reply(reply, mention_author=False)

    async def _follow_up(self, message: discord.Message, answered: int, text: str) -> None:
        service = self.bot.service
        collection = collection_for(message.guild.id)
        earlier = await asyncio.to_thread(service.feedback.in_message, answered)
        if earlier is None or earlier.collection != collection:
            return  # not an answer (an alert, a report…), or one no longer kept
        if self.reply_cooldown is not None:
            bucket = self.reply_cooldown.get_bucket(message)
            retry = bucket.update_rate_limit() if bucket else None
            if retry:
                raise commands.CommandOnCooldown(bucket, retry, commands.BucketType.user)
        question = question_from(text)
        if len(question) < 2:
            return
        as_of = message.created_at.date().isoformat()

        def ask() -> tuple[Answer, int, bool]:
            continued, filters = service.feedback.continue_from(
                earlier, question, Filters(as_of=as_of)
            )
            answer = service.ask(collection, continued.question, filters=filters)
            answer_id = service.feedback.record(
                collection,
                answer,
                filters,
                asked_by=f"{message.author} ({message.author.id})",
                channel_id=message.channel.id,
            )
            return answer, answer_id, continued.inherited

        async with message.channel.typing():
            started = time.perf_counter()
            answer, answer_id, inherited = await asyncio.to_thread(ask)
            self._count(message.guild.id, answer, started)
        sent = await message.reply(
            embed=render.continued_embed(answer, earlier.question, inherited),
            view=vote_view(answer_id),
            mention_author=False,
        )
        await asyncio.to_thread(service.feedback.shown, answer_id, sent.id)

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

    @app_commands.command(
        name="timeline", description="One story's developments, newest first, dated and cited"
    )
    @app_commands.describe(topic="The story to follow (e.g. harbour bridge repairs)")
    @in_guild()
    @app_commands.checks.dynamic_cooldown(ask_cooldown)
    async def timeline(
        self, interaction: discord.Interaction[NewsBot], topic: app_commands.Range[str, 2, 200]
    ) -> None:
        await interaction.response.defer(thinking=True)
        timeline = await asyncio.to_thread(
            self.bot.service.timeline,
            collection_for(interaction.guild_id),
            topic,
            filters=Filters(as_of=asked_on(interaction)),
        )
        await interaction.followup.send(embed=render.timeline_embed(timeline))

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
