"""/ask and /search know what day it is: the real discord.py client against the fake Discord.

Articles are dated relative to today (UTC, the day the fake's snowflakes, and so the
interaction's ``created_at``, carry), and everything is asserted on the embed a member sees.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bot.client import NewsBot
from bot_helpers import (
    COLLECTION,
    TODAY,
    add,
    days_ago,
    guild_discord,
    long_date,
    reply_embed,
    running_bot,
)
from fakediscord import FakeDiscord
from helpers import FAKE_EMBEDDER_BARS, make_service
from index.models import Document
from index.service import NewsService

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with guild_discord() as server:
        yield server


@pytest.fixture
def service(tmp_path: Path) -> Iterator[NewsService]:
    # Quoting needs a similarity of 0.2 on the FakeEmbedder here: a question sharing no word
    # with an article stays under it (the answer model decides the rest on real vectors).
    bars = {**FAKE_EMBEDDER_BARS, "min_answer_score": 0.2}
    with make_service(tmp_path / "data", chunk_tokens=60, **bars) as svc:
        yield svc


@pytest.fixture
async def bot(fake: FakeDiscord, service: NewsService) -> AsyncIterator[NewsBot]:
    async with running_bot(fake, service) as client:
        yield client


async def embed_of(fake: FakeDiscord, name: str, **options: str) -> dict:
    """A member runs /name; the embed of the bot's final reply."""
    return await reply_embed(fake, name, within=20, **options)


def field_of(embed: dict, title: str) -> dict | None:
    """The citation field whose link line carries ``title``."""
    return next((f for f in embed.get("fields", []) if title in f["value"].split("\n")[0]), None)


OLD_BRIDGE = Document(
    title="Council approves the bridge plan",
    text=(
        "The city council decided on Tuesday to approve the bridge plan for the river crossing. "
        "Councillors voted 9-2 for the bridge plan after a long debate about its cost.\n\n"
        "Construction was expected to start within two years."
    ),
    source="Gazette",
    published_at=days_ago(3 * 365 + 10),
    origin="old-bridge",
)
NEW_BRIDGE = Document(
    title="Council cancels river crossing",
    text=(
        "The council cancelled the bridge plan on Monday, citing soaring costs. "
        "Officials said the money would go to repairing roads instead.\n\n"
        "Residents who had campaigned for the crossing said they were disappointed."
    ),
    source="Herald",
    published_at=days_ago(2),
    origin="new-bridge",
)
BRIDGE_QUESTION = "What did the council decide about the bridge plan?"

YEAR = TODAY.year - 2  # the year a question names
NEXT = TODAY.year - 1  # another year's story on the same subject
MARATHON_THEN = Document(
    title="Marathon record falls in the city",
    text=(
        "Runner Ada Okafor won the city marathon in a course record of 2 hours 5 minutes. "
        "Thousands lined the streets to watch the race finish by the harbour.\n\n"
        "It was her first win in the city."
    ),
    source="Gazette",
    published_at=f"{YEAR}-04-20",
    origin="marathon-then",
)
# Worded closer to the question: asked without a year, this is the story that answers.
MARATHON_LATER = Document(
    title="Who won the city marathon this spring",
    text=(
        "The city marathon was won by Lena Park, who finished the marathon in 2 hours 9 minutes. "
        "Who won the city marathon surprised many, as Park had never won a marathon before.\n\n"
        "Rain slowed the runners."
    ),
    source="Herald",
    published_at=f"{NEXT}-04-22",
    origin="marathon-later",
)


async def test_a_story_that_moved_on_leads_with_its_latest_development(fake, bot, service):
    await add(service, OLD_BRIDGE, NEW_BRIDGE)
    # Asked with no day at all, the newer development still leads: the story moved on.
    undated = await asyncio.to_thread(service.ask, COLLECTION, BRIDGE_QUESTION)
    assert undated.citations[0].title == NEW_BRIDGE.title

    embed = await embed_of(fake, "ask", question=BRIDGE_QUESTION)
    first = embed["fields"][0]
    assert first["name"].startswith("[1]") and NEW_BRIDGE.published_at in first["name"]
    assert NEW_BRIDGE.title in first["value"].split("\n")[0]
    description = embed["description"]
    assert not description.startswith("**"), "recent news needs no lead"
    opening = description.split(" [1]")[0]
    assert "cancelled the bridge plan" in opening, description
    assert "approve" not in opening
    # A recent sentence is not dated.
    assert not description.split("[1]", 1)[1].startswith(" (")
    old = field_of(embed, OLD_BRIDGE.title)
    if old is not None:  # the earlier development follows, saying when it was
        n = old["name"].split("]")[0] + "]"
        assert n != "[1]" and OLD_BRIDGE.published_at in old["name"]
        earlier = f"Earlier, on {long_date(OLD_BRIDGE.published_at)}: "
        assert earlier in description, description
        assert description.index(earlier) < description.index(n)
        assert description.index(n) > description.index("[1]")


async def test_a_question_naming_a_year_gets_that_years_story(fake, bot, service):
    await add(service, MARATHON_THEN, MARATHON_LATER)
    # Without the year the other story answers, so the year is what picks the one cited.
    plain = await embed_of(fake, "ask", question="Who won the city marathon?")
    assert MARATHON_LATER.title in plain["fields"][0]["value"]

    embed = await embed_of(fake, "ask", question=f"Who won the city marathon in {YEAR}?")
    assert "Ada Okafor" in embed["description"]
    assert "Lena Park" not in embed["description"]
    assert field_of(embed, MARATHON_THEN.title) is embed["fields"][0]
    assert field_of(embed, MARATHON_LATER.title) is None
    assert embed["footer"]["text"].endswith(f"· searched news from {YEAR}")
    assert "Nothing in" not in embed["description"]


async def test_an_answer_from_old_news_says_how_old_it_is(fake, bot, service):
    old = replace(OLD_BRIDGE, published_at=days_ago(400), origin="old")
    await add(service, old)
    embed = await embed_of(fake, "ask", question=BRIDGE_QUESTION)
    lead = f"**The latest I have on this is from {long_date(old.published_at)}:**\n"
    assert embed["description"].startswith(lead), embed["description"]
    assert "approve the bridge plan" in embed["description"]
    assert "searched" not in embed["footer"]["text"]  # the question named no time


async def test_a_year_with_no_news_says_so_and_gives_the_closest(fake, bot, service):
    """Asked about a year the server holds nothing from: the member is told that year was
    searched in vain, and when the closest news is from."""
    old = replace(OLD_BRIDGE, published_at=days_ago(400), origin="old")
    await add(service, old)
    empty_year = TODAY.year - 4
    embed = await embed_of(
        fake, "ask", question=f"What did the council decide about the bridge plan in {empty_year}?"
    )
    lead = (
        f"**Nothing in news from {empty_year}; the closest I have is from "
        f"{long_date(old.published_at)}:**\n"
    )
    assert embed["description"].startswith(lead), embed["description"]
    assert "approve the bridge plan" in embed["description"]
    assert "searched news from" not in embed["footer"]["text"]  # it was not found there


async def test_nothing_at_all_for_a_named_year_names_the_year(fake, bot, service):
    await add(service, MARATHON_THEN)
    # No word (not even "the") in common with the article: nothing relevant anywhere.
    embed = await embed_of(fake, "ask", question=f"Which orchestra performed Mahler in {YEAR - 2}?")
    assert "fields" not in embed or not embed["fields"]
    text = embed["description"]
    assert "couldn't find anything relevant" in text
    assert f"news from {YEAR - 2}" in text


async def test_not_found_does_not_suggest_searching_what_was_already_searched(fake, bot, service):
    """/ask searches all news before it gives up on a named year: telling the member to "ask
    without the date to search everything" sends them to the same empty answer."""
    await add(service, MARATHON_THEN)
    question = f"Which orchestra performed Mahler in {YEAR - 2}?"
    undated = await embed_of(fake, "ask", question="Which orchestra performed Mahler?")
    assert "couldn't find anything relevant" in undated["description"]  # everything: nothing
    embed = await embed_of(fake, "ask", question=question)
    assert "search everything" not in embed["description"], embed["description"]


async def test_search_with_a_date_phrase_says_which_time_it_searched(fake, bot, service):
    await add(service, MARATHON_THEN, MARATHON_LATER)
    embed = await embed_of(fake, "search", query=f"city marathon winner in {YEAR}")
    assert embed["footer"]["text"] == f"Searched news from {YEAR}"
    assert [f["value"].split("\n")[0] for f in embed["fields"]] == [f"**{MARATHON_THEN.title}**"]

    empty_year = TODAY.year - 4
    embed = await embed_of(fake, "search", query=f"city marathon winner in {empty_year}")
    assert embed["footer"]["text"] == f"Nothing in news from {empty_year}: showing all news"
    assert len(embed["fields"]) == 2
