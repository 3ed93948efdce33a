"""newsbot's own bot against the fake Discord: how a test starts it and speaks to it.

Apart from helpers.py so that tests of the core never import discord.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from bot.client import NewsBot
from bot.config import BotSettings
from fakediscord import FakeDiscord, FakeGuild, FakeInteraction, FakeMember, FakeUser
from index.service import NewsService

# Unless a test is about them, cooldowns would only make its second command wait.
NO_COOLDOWNS: dict[str, Any] = {"ask_cooldown_seconds": 0, "ingest_cooldown_seconds": 0}


@asynccontextmanager
async def running_bot(
    fake: FakeDiscord,
    service: NewsService,
    clock: Callable[[], datetime] | None = None,
    **settings: Any,
) -> AsyncIterator[NewsBot]:
    """NewsBot logged in to ``fake`` with its commands synced, closed on exit.

    ``settings`` are BotSettings fields; the token is the fake's and there are no cooldowns
    unless given. ``clock``: the time the bot reads from its start (the real time if None).
    """
    bot_settings = BotSettings(**{"token": "fake-token", **NO_COOLDOWNS, **settings})
    timed = {"clock": clock} if clock is not None else {}
    client = NewsBot(bot_settings, service, guild_ready_timeout=0.05, **timed)
    async with fake.run_client(client):
        await fake.wait_commands(bot_settings.dev_guild)
        yield client


async def slash(
    fake: FakeDiscord,
    guild: FakeGuild,
    member: FakeMember,
    name: str,
    *,
    subcommand: str | None = None,
    **options: Any,
) -> FakeInteraction:
    """``member`` runs ``/name`` with ``options`` in the guild's first channel."""
    return await fake.send_interaction(
        guild_id=guild.id,
        channel_id=guild.channels[0][0],
        member=member,
        name=name,
        subcommand=subcommand,
        options=options,
    )


async def ingest_file(
    fake: FakeDiscord,
    guild: FakeGuild,
    author: FakeUser,
    name: str,
    data: bytes,
    content_type: str = "text/markdown",
) -> dict[str, Any]:
    """``author`` posts ``!ingest`` with one file in the guild's first channel; the bot's reply."""
    channel = guild.channels[0][0]
    att = fake.add_attachment(name, data, content_type)
    sent = await fake.send_message(
        guild_id=guild.id, channel_id=channel, author=author, content="!ingest", attachments=[att]
    )
    return await fake.wait_channel_message(channel, after=sent["id"], timeout=90)
