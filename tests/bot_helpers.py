"""newsbot's own bot against the fake Discord: how a test starts it and speaks to it; and the
server, dated news and ``newsbot`` process of the tests that ask about articles dated relative
to today.

Apart from helpers.py so that tests of the core never import discord.py.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.client import NewsBot
from bot.config import BotSettings
from fakediscord import FakeDiscord, FakeGuild, FakeInteraction, FakeMember, FakeUser
from helpers import REPO
from index.models import Document
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


# -- a server asked about dated news ----------------------------------------------------------
# One guild, a member who may run every command there, and the guild's collection.
BOB = FakeUser(102, "bob")
MEMBER = FakeMember(BOB, permissions=0x800 | 0x400)
GUILD = FakeGuild(1001, "Alpha", owner_id=999, channels=[(2001, "news")], members=[MEMBER])
COLLECTION = f"guild-{GUILD.id}"

# The day a member asks on: the interaction's own (UTC) date.
TODAY = datetime.now(UTC).date()


def days_ago(n: int) -> str:
    """An article's date ``n`` days before TODAY."""
    return (TODAY - timedelta(days=n)).isoformat()


def long_date(iso: str) -> str:
    """ "2 March 2023", as an answer dates old news."""
    d = date.fromisoformat(iso)
    return f"{d.day} {calendar.month_name[d.month]} {d.year}"


def short_date(iso: str) -> str:
    """ "2 Mar 2023", as a timeline dates a development."""
    d = date.fromisoformat(iso)
    return f"{d.day} {calendar.month_abbr[d.month]} {d.year}"


@asynccontextmanager
async def guild_discord() -> AsyncIterator[FakeDiscord]:
    """The fake Discord serving GUILD (a quick heartbeat: the bot is ready sooner)."""
    async with FakeDiscord(guilds=[GUILD], heartbeat_interval_ms=100) as server:
        yield server


async def add(service: NewsService, *docs: Document) -> None:
    """``docs`` ingested into GUILD's collection, every one of them added."""
    report = await asyncio.to_thread(service.ingest, COLLECTION, list(docs))
    assert len(report.added) == len(docs), report.failed


async def reply_embed(
    fake: FakeDiscord, name: str, *, within: float = 30, deferred: bool = False, **options: Any
) -> dict:
    """MEMBER runs ``/name``; the embed of the bot's final reply (in ``within`` seconds), the
    fake having seen no error. ``deferred``: the bot is seen to answer "thinking…" first."""
    interaction = await slash(fake, GUILD, MEMBER, name, **options)
    if deferred:
        assert (await interaction.wait_response())["type"] == 5
    final = await interaction.wait_final(timeout=within)
    assert fake.errors == [] and fake.unhandled == []
    return final["embeds"][0]


# -- the same news through the command line ---------------------------------------------------
def newsbot(data: Path, cache: Path, *args: str) -> subprocess.CompletedProcess:
    """One real ``newsbot`` process on ``data``, with the session's model export."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    env |= {"NEWSBOT_DATA_DIR": str(data), "NEWSBOT_MODEL_CACHE": str(cache)}
    env |= {"NEWSBOT_TORCH_THREADS": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "index.cli", "-q", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ingest_by_cli(data: Path, cache: Path, docs: list[Document]) -> None:
    """``docs`` written as a JSON-lines file beside ``data`` and ingested by ``newsbot ingest``."""
    articles = data.parent / "articles.jsonl"
    rows = [
        {"title": d.title, "body": d.text, "source": d.source, "published_at": d.published_at}
        for d in docs
    ]
    articles.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    ingest = newsbot(data, cache, "ingest", str(articles))
    assert ingest.returncode == 0, ingest.stderr
