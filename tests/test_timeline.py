"""/timeline and `newsbot timeline` (issue 18, item 5): one story's developments, one dated line
each, newest first, a verbatim sentence and a citation per line, outlets merged, ending with the
count and the span. Through the fake Discord with the real client and a real `newsbot` process,
on the real model (which articles are on the topic is the model's similarities' doing); the
embed's limits and escaping as a unit.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import pytest
from discord_markup import live, only_text, shown

from bot import render
from bot_helpers import (
    GUILD,
    MEMBER,
    add,
    days_ago,
    guild_discord,
    ingest_by_cli,
    newsbot,
    reply_embed,
    running_bot,
    short_date,
    slash,
)
from fakediscord import FakeDiscord
from helpers import FAKE_EMBEDDER_BARS, make_service
from index.models import Citation, Document, Snippet
from index.search.embed import Embedder
from index.search.timeline import Timeline, TimelineLine

pytestmark = pytest.mark.timeout(120)


CLOSED = Document(
    title="Harbour bridge closed after cracks found",
    text=(
        "Engineers closed the Kelsey harbour bridge on Monday after finding cracks in two of its "
        "steel supports. Traffic was diverted through the town centre.\n\n"
        "The council said the bridge would stay shut while inspectors assessed the damage."
    ),
    source="Gazette",
    published_at=days_ago(40),
    origin="closed",
)
COST = Document(
    title="Kelsey bridge repairs to cost £4 million",
    text=(
        "Repairing the cracked Kelsey harbour bridge will cost £4 million, the council said on "
        "Thursday. Work is due to start next month and last until the summer.\n\n"
        "Local shops say the closure has cut their trade by a third."
    ),
    source="Herald",
    published_at=days_ago(12),
    origin="cost",
)
REOPENS = Document(
    title="Kelsey harbour bridge reopens to traffic",
    text=(
        "The Kelsey harbour bridge reopened to traffic on Sunday after repairs to its steel "
        "supports were finished ahead of schedule. Drivers queued to cross it in the morning.\n\n"
        "The council thanked residents for their patience."
    ),
    source="Gazette",
    published_at=days_ago(1),
    origin="reopens",
)
# Another outlet's copy of the same day's story: one line, both outlets named.
REOPENS_TOO = Document(
    title="Harbour bridge open again in Kelsey",
    text=(
        "The Kelsey harbour bridge reopened to traffic on Sunday after repairs to its steel "
        "supports were finished ahead of schedule, the council said.\n\n"
        "Bus routes return to normal on Monday."
    ),
    source="Coast News",
    published_at=days_ago(1),
    origin="reopens-too",
)
ORCHESTRA = Document(
    title="Orchestra wins national award",
    text=(
        "The city youth orchestra won the national music award on Saturday for its performance "
        "of Dvořák's ninth symphony. The players are aged between 12 and 18.\n\n"
        "The conductor said the win was a dream."
    ),
    source="Herald",
    published_at=days_ago(5),
    origin="orchestra",
)
STORY = [CLOSED, COST, REOPENS, REOPENS_TOO]
TOPIC = "Kelsey harbour bridge"
NOTHING = "volcano eruption in Iceland"


def expected_span(first: str, last: str) -> str:
    """ "28 Oct – 6 Dec 2026": the first day's year only when it is not the last's."""
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    start = f"{a.day} {calendar.month_abbr[a.month]}" + (f" {a.year}" if a.year != b.year else "")
    return f"{start} – {short_date(last)}"


def told_in(sentence: str, docs: list[Document]) -> list[Document]:
    """The articles that hold ``sentence`` word for word."""
    return [d for d in docs if sentence in " ".join(d.text.split())]


# -- Discord ----------------------------------------------------------------------------------
@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with guild_discord() as server:
        yield server


async def embed_of(fake: FakeDiscord, topic: str) -> dict:
    return await reply_embed(fake, "timeline", deferred=True, topic=topic)


@pytest.mark.model
async def test_timeline_shows_a_storys_developments_newest_first_outlets_merged(
    fake: FakeDiscord, tmp_path: Path, real_embedder: Embedder
):
    with make_service(tmp_path / "data", real_embedder) as service:
        await add(service, *STORY, ORCHESTRA)
        async with running_bot(fake, service):
            embed = await embed_of(fake, TOPIC)
            nothing = await embed_of(fake, NOTHING)

    only_text({"embeds": [embed]})
    assert embed["title"] == f"Timeline: {TOPIC}"
    lines = embed["description"].split("\n")
    days = [REOPENS.published_at, COST.published_at, CLOSED.published_at]
    assert len(lines) == 3, lines  # one line a development: the two copies make one
    for n, (line, day) in enumerate(zip(lines, days, strict=True), 1):
        head = f"**{short_date(day)}** — “"
        assert line.startswith(head) and line.endswith(f"” [{n}]"), line
        sentence = shown(line[len(head) : -len(f"” [{n}]")])
        sources = told_in(sentence, STORY)
        assert sources and all(d.published_at == day for d in sources), (sentence, day)
    assert "orchestra" not in json.dumps(embed).lower()

    fields = embed["fields"]
    assert [f["name"].split(" ", 1)[0] for f in fields] == ["[1]", "[2]", "[3]"]
    first = fields[0]["name"]  # the reopening, told by both outlets
    assert "Gazette" in first and "Coast News" in first and REOPENS.published_at in first
    assert COST.title in fields[1]["value"] and "Herald" in fields[1]["name"]
    assert CLOSED.title in fields[2]["value"] and "Gazette" in fields[2]["name"]
    for f in fields:  # the quoted passage is the article's own words
        snippet = f["value"].split("\n")[1].strip("“”").rstrip("…")
        assert told_in(shown(snippet), STORY), f
    span = expected_span(CLOSED.published_at, REOPENS.published_at)
    assert embed["footer"]["text"] == f"4 articles · {span}"

    assert nothing["title"] == f"Timeline: {NOTHING}"
    assert "couldn't find anything relevant" in nothing["description"]
    assert "fields" not in nothing or not nothing["fields"]


async def test_timeline_has_the_ask_cooldown(fake: FakeDiscord, tmp_path: Path):
    with make_service(tmp_path / "data", chunk_tokens=60, **FAKE_EMBEDDER_BARS) as service:
        async with running_bot(fake, service, ask_cooldown_seconds=30, ask_burst=1):
            first = await slash(fake, GUILD, MEMBER, "timeline", topic="harbour bridge")
            await first.wait_final(timeout=20)
            second = await slash(fake, GUILD, MEMBER, "timeline", topic="harbour bridge")
            response = await second.wait_response()
            assert response["data"]["flags"] & 64
            assert "try again in" in response["data"]["content"]


# -- the command line -------------------------------------------------------------------------
@pytest.mark.model
def test_newsbot_timeline_prints_dated_lines_sources_and_summary(
    tmp_path: Path, real_embedder: Embedder, model_cache: Path
):
    data = tmp_path / "data"
    ingest_by_cli(data, model_cache, [*STORY, ORCHESTRA])

    text = newsbot(data, model_cache, "timeline", TOPIC)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.rstrip("\n").split("\n")
    days = [REOPENS.published_at, COST.published_at, CLOSED.published_at]
    for n, (line, day) in enumerate(zip(lines[:3], days, strict=True), 1):
        head, tail = f"{short_date(day)} — ", f" [{n}]"
        assert line.startswith(head) and line.endswith(tail), line
        assert told_in(line[len(head) : -len(tail)], STORY)
    assert lines[3:5] == ["", "Sources:"]
    sources = [x for x in lines[5:] if x.startswith("[")]
    assert len(sources) == 3
    assert sources[0].startswith("[1] ") and "Gazette" in sources[0] and "Coast News" in sources[0]
    assert sources[1].startswith(f"[2] {COST.title} — Herald, {COST.published_at}")
    assert sources[2].startswith(f"[3] {CLOSED.title} — Gazette, {CLOSED.published_at}")
    assert "orchestra" not in text.stdout.lower()
    span = expected_span(CLOSED.published_at, REOPENS.published_at)
    assert lines[-2:] == ["", f"4 articles · {span}"]

    # Asked five days ago: the reopening had not happened yet.
    asked = newsbot(data, model_cache, "timeline", TOPIC, "--json", "--as-of", days_ago(5))
    assert asked.returncode == 0, asked.stderr
    out = json.loads(asked.stdout)
    assert out["topic"] == TOPIC and out["articles"] == 2
    assert out["summary"] == f"2 articles · {expected_span(CLOSED.published_at, COST.published_at)}"
    assert [x["date"] for x in out["lines"]] == [COST.published_at, CLOSED.published_at]
    assert [x["n"] for x in out["lines"]] == [1, 2]
    assert [x["title"] for x in out["lines"]] == [COST.title, CLOSED.title]
    assert [x["source"] for x in out["lines"]] == ["Herald", "Gazette"]
    for x, doc in zip(out["lines"], [COST, CLOSED], strict=True):
        assert {"date", "text", "n", "title", "source", "url", "snippet"} <= set(x)
        assert x["text"] in doc.text and x["text"] in x["snippet"] and x["snippet"] in doc.text


# -- the embed --------------------------------------------------------------------------------
HOSTILE = "[x](http://evil.example/login) @everyone **now** <@123456789012345678>"


def test_timeline_embed_stays_within_limits_and_quotes_text_as_text():
    url = "https://news.example/" + "p" * 120
    lines = [
        TimelineLine(
            f"2026-11-{30 - i:02d}",
            f"Sentence {i} says {HOSTILE} " + "word " * 300,
            Citation(
                n=i,
                article_id=i,
                title=f"Title {i} {HOSTILE} " + "T" * 300,
                source=f"Wire {HOSTILE} (also " + ", ".join(["Outlet"] * 40) + ")",
                published_at=f"2026-11-{30 - i:02d}",
                url=url,
                snippets=(Snippet(f"Snippet {i} {HOSTILE} " + "word " * 400, 0, 2000),),
            ),
        )
        for i in range(1, 13)
    ]
    embed = render.timeline_embed(Timeline("bridge " + HOSTILE * 5, lines, 14))
    assert len(embed.title) <= render.TITLE_MAX
    assert len(embed.description) <= render.DESCRIPTION_MAX
    assert len(embed.fields) == 12
    assert all(len(f.name) <= 256 and len(f.value) <= 1024 for f in embed.fields)
    assert len(embed) <= render.EMBED_TOTAL_MAX
    assert embed.footer.text == "14 articles · 18 Nov – 29 Nov 2026"
    rows = embed.description.split("\n")
    assert len(rows) == 12 and all(len(r) > 80 for r in rows)  # every line has its sentence
    assert rows[0].startswith("**29 Nov 2026** — “Sentence 1 says") and rows[0].endswith(" [1]")

    seen = only_text({"embeds": [embed.to_dict()]}, own={url})
    assert "[x](http://evil.example/login) @everyone **now**" in seen
    assert not any(x.kind == "ping" for x in live(embed.description))
