"""Nothing an article, a page, a feed or a member supplies becomes a live link, markup or a
mention in what the bot posts (issue 19, item 1): stored text is quoted through
``render.plain``, and the only link is the bot's own headline link to the article.

Through the fake Discord with the real client, as members meet it: a pasted article and
stored ones with hostile titles, sources and text, then /ask, /search, /sources, watch alerts
(channel and DM), a bulk-import summary, the digest, and a feed whose own title is a link.
``discord_markup`` reads each posted message the way Discord does.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from discord_markup import live, only_text, shown

from bot import render
from bot_helpers import running_bot
from fakediscord import MANAGE_GUILD, FakeDiscord, FakeGuild, FakeMember, FakeUser
from helpers import FAKE_EMBEDDER_BARS, eventually, local_site, make_service
from index.features.watches import Alert, Watch
from index.models import Document, IngestResult
from index.service import IngestReport

pytestmark = [pytest.mark.timeout(90)]

ALICE = FakeUser(701, "alice")
BOB = FakeUser(702, "bob")
ADMIN = FakeMember(ALICE, permissions=MANAGE_GUILD | 0x800 | 0x400)
MEMBER = FakeMember(BOB, permissions=0x800 | 0x400)
GUILD = FakeGuild(
    7701,
    "Quoting",
    owner_id=990,
    channels=[(7801, "general"), (7802, "alerts")],
    members=[ADMIN, MEMBER],
)
COLLECTION = f"guild-{GUILD.id}"
GENERAL, ALERTS = 7801, 7802
DAY = "2026-11-30"
URL = "https://news.example/harbour"

# Every kind of markup a page, a feed or a paste could carry, inside ordinary sentences.
HOSTILE_TITLE = (
    "Brest harbour [the official notice](http://evil.example/login) **reopens** <@&4242>"
)
HOSTILE_SOURCE = "[Reuters](http://evil.example/src) @everyone"
HOSTILE_TEXT = (
    "The harbour of Brest reopened on Friday after the storm, read [the official notice]"
    "(http://evil.example/login) and [the timetable](<http://evil.example/t>) first.\n"
    "# Ferries to the islands will run a reduced timetable until Monday, said "
    "<@123456789012345678> in <#234567890123456789>, see </ask:345678901234567890>.\n"
    "-# Crews inspect the quays ||for storm damage|| until <t:1764489600:R> at "
    "<http://evil.example/quays> with <:ferry:456789012345678901>.\n"
    "> The port authority told @everyone and @here to wait, http://evil.example/bare says.\n"
    "- Ferry crews met at discord.gg/evilserver to plan ~~nothing~~ __much__ *today*.\n"
    "1. The storm damage to the quays of the Brest harbour was light, the port said.\n"
    "```Ferries resume after the storm in Brest harbour```"
)
# The words a reader must still see.
WORDS = [
    "the official notice",
    "Ferries to the islands will run a reduced timetable",
    "||for storm damage||",
    "@everyone",
]


def doc(text: str, title: str, source: str, url: str | None = None, n: int = 0) -> Document:
    return Document(
        text=text, title=title, source=source, published_at=DAY, url=url, origin=f"q{n}"
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD], heartbeat_interval_ms=100) as server:
        yield server


@pytest.fixture
def service(tmp_path: Path):
    with make_service(
        tmp_path / "data", alert_bar=0.2, fetch_allow="127.0.0.1", **FAKE_EMBEDDER_BARS
    ) as svc:
        yield svc


async def command(fake: FakeDiscord, member: FakeMember, name: str, sub=None, **options):
    interaction = await fake.send_interaction(
        guild_id=GUILD.id,
        channel_id=GENERAL,
        member=member,
        name=name,
        subcommand=sub,
        options=options,
    )
    return await interaction.wait_final(30)


def mentions_allowed_nowhere(fake: FakeDiscord) -> None:
    """Every message the bot sent (posts, replies, interaction responses, follow-ups, edits)
    allowed no mention at all: no ping even if some syntax got through."""
    sent = 0
    for r in fake.requests:
        body = r.json if isinstance(r.json, dict) else {}
        payload = body.get("data") if isinstance(body.get("data"), dict) else body
        if "content" in payload or "embeds" in payload:
            sent += 1
            assert payload.get("allowed_mentions", {}).get("parse") == [], (r, payload)
            assert not {"users", "roles"} & set(payload["allowed_mentions"]), r
            assert payload["allowed_mentions"].get("replied_user") in (None, False), r
    assert sent


# ------------------------------------------------------------------ the helper itself

HOSTILE = [
    "Read [the official notice](http://evil.example/login) now",
    "[x](<http://evil.example>)",
    "<http://evil.example/quiet>",
    "bare http://evil.example/x_y and steam://run/1",
    "[[nested](http://evil.example/a)](http://evil.example/b)",
    "[a\nb](http://evil.example)",
    "[1](http://evil.example) and [2] then [3] x](http://evil.example)",
    "a footnote[12] and [the] [notice](http://evil.example)",
    "# Heading",
    "## Heading",
    "### Heading",
    "-# subtext",
    "  - indented item",
    "> quote",
    ">>> quote all",
    "- item",
    "* item",
    "1. item",
    "||spoiler||",
    "```py\nprint(1)\n```",
    "`code`",
    "**bold** *it* _it_ __under__ ~~strike~~",
    "@everyone @here",
    "<@123456789012345678> <@!123456789012345678> <@&123456789012345678>",
    "<#123456789012345678>",
    "</ask:123456789012345678> </watch add:123456789012345678>",
    "<t:1764489600:R> <t:1764489600>",
    "<:ferry:123456789012345678> <a:wave:123456789012345678>",
    "<id:customize>",
    "discord.gg/evil and https://discord.com/invite/evil",
    "a trailing backslash \\",
    "\\[escaped already](http://evil.example)",
    "line one\n# heading on line two\n> quote on three",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_plain_leaves_nothing_live_and_shows_every_character(text):
    quoted = render.plain(text)
    assert live(quoted) == []
    assert shown(quoted) == text
    # inside the bot's own bold, and after the bot's own text on a line, all the same
    assert [x.kind for x in live(f"**{quoted}**")] == ["format", "format"]
    assert live(f"Source: {quoted}") == []


def test_escaping_then_cutting_holds_the_limit_and_never_splits_an_escape():
    pieces = [*HOSTILE, "the", "harbour", "reopened", "*", "[", "\\", "<@1>", "`", "|", "_"]
    rng = random.Random(19)
    for _ in range(400):
        text = " ".join(rng.choice(pieces) for _ in range(rng.randint(1, 30)))
        limit = rng.randint(1, 300)
        quoted = render.cut(render.plain(text), limit)
        assert len(quoted) <= limit
        assert live(quoted) == []
        assert [x.kind for x in live(f"**{quoted}**")] == ["format", "format"]
        # what shows is the start of the text, ended with "…" when cut
        seen = shown(quoted)
        assert (text.strip().startswith(seen.removesuffix("…").rstrip())) or seen == "…"


def test_a_headline_links_only_to_its_article():
    head = render._link(HOSTILE_TITLE, URL)
    (link,) = [x for x in live(head) if x.kind == "link"]
    assert link.target == URL and "the official notice" in shown(head)
    assert [x.kind for x in live(head)] == ["format", "link", "format"]
    # an address that would end the link early, or is not the web's, is no link
    for url in ("javascript:alert(1)", "http://a b", "http://a\\b", "http://a>b", "x" * 600):
        assert [x.kind for x in live(render._link("T", url))] == ["format", "format"]


def test_long_lists_keep_whole_lines_and_every_escape_within_the_limit():
    topic = "harbour `storm` @everyone [x](http://evil.example)"
    watch = Watch(1, COLLECTION, topic, "702", None, "2026-11-30T00:00:00")
    alerts = [
        Alert(1, i, f"{HOSTILE_TITLE} {'*' * 150} {i}", HOSTILE_SOURCE, DAY, f"{URL}/{i}", "s", 1.0)
        for i in range(14)
    ]
    summary = render.bulk_summary(watch, alerts, 14)
    assert len(summary) <= render.MESSAGE_MAX and summary.endswith("\n…")
    seen = only_text({"content": summary}, own={f"{URL}/{i}" for i in range(14)})
    assert "[x](http://evil.example)" in seen
    # the /search hint, when it shows, is one code span holding the whole topic
    hint = render.bulk_summary(watch, [dataclasses.replace(a, title="T") for a in alerts], 14)
    assert "(`/search harbour 'storm' @\u200beveryone [x](http://evil.example)`)." in hint
    only_text({"content": hint}, own={f"{URL}/{i}" for i in range(14)})

    report = IngestReport(
        added=[IngestResult("o", i, f"{HOSTILE_TITLE} {'_' * 300}", DAY, 3) for i in range(30)]
    )
    text = render.ingest_report(report)
    assert len(text) <= render.MESSAGE_MAX and text.endswith("\n…")
    assert "the official notice" in only_text({"content": text})


# ------------------------------------------------------------------ through the fake Discord

PASTED = (
    "Night trams [to the airport](http://evil.example/t) <@&42>\n\n"
    "Night trams to the airport start in spring, read [the official notice]"
    "(http://evil.example/login) before <t:1764489600:R>.\n"
    "The city council voted on Thursday to extend the night tram service to the airport "
    "from next spring, after two years of trials that carried more passengers than expected, "
    "said <@123456789012345678> to @everyone.\n"
    "# Trams will run every twenty minutes after midnight on weekdays and weekends."
)
QUESTION = "When did the harbour of Brest reopen after the storm? <@&42> [x](http://evil.example/q)"


async def test_answers_passages_and_lists_show_stored_text_as_text(fake, service):
    service.ingest(COLLECTION, [doc(HOSTILE_TEXT, HOSTILE_TITLE, HOSTILE_SOURCE, URL)])
    async with running_bot(fake, service):
        pasted = await command(fake, MEMBER, "ingest", text=PASTED)
        seen = only_text(pasted)
        assert "Added #2 **Night trams [to the airport](http://evil.example/t) <@&42>**" in seen

        answer = await command(fake, MEMBER, "ask", question=QUESTION)
        seen = only_text(answer, own={URL})
        assert "[1]" in seen and "<@&42> [x](http://evil.example/q)" in seen  # the question
        assert "[Reuters](http://evil.example/src) @everyone" in seen  # the source
        assert any(w in seen for w in WORDS)
        assert any(x.kind == "link" and x.target == URL for x in live(str(answer["embeds"])))

        passages = await command(fake, MEMBER, "search", query="Brest harbour ferries storm")
        seen = only_text(passages, own={URL})
        assert sum(w in seen for w in WORDS) >= 2

        listing = await command(fake, MEMBER, "sources")
        seen = only_text(listing, own={URL})
        assert "Brest harbour (the official notice)(http://evil.example/login)" in seen

        forgot = await command(fake, ADMIN, "forget", article_id=1)
        assert "the official notice" in only_text(forgot)
    mentions_allowed_nowhere(fake)
    assert fake.unhandled == [] and fake.errors == []


def dms(fake: FakeDiscord, user: FakeUser) -> list[dict]:
    return fake.channel_messages(fake.dm_channel_id(user))


async def test_watch_alerts_in_a_channel_and_by_dm_show_stored_text_as_text(fake, service):
    topic = "[Brest harbour](http://evil.example/w) storm ferries <@&42>"
    async with running_bot(fake, service, alert_scan_seconds=0.05):
        mine = await command(fake, MEMBER, "watch", "add", topic=topic)
        assert topic in only_text(mine)
        await command(fake, ADMIN, "watch", "add", topic=topic, channel=ALERTS)
        service.ingest(COLLECTION, [doc(HOSTILE_TEXT, HOSTILE_TITLE, HOSTILE_SOURCE, URL)])
        await eventually(lambda: dms(fake, BOB) and fake.channel_messages(ALERTS))
        for alert in (dms(fake, BOB)[0], fake.channel_messages(ALERTS)[0]):
            embed = alert["embeds"][0]
            assert embed["url"] == URL  # the headline is the one link
            seen = only_text(alert)
            assert HOSTILE_TITLE.replace("<@&4242>", "") in seen.replace("<@&4242>", "")
            assert "[Reuters](http://evil.example/src) @everyone" in seen
        listed = await command(fake, MEMBER, "watch", "list")
        assert topic in only_text(listed)
    mentions_allowed_nowhere(fake)
    assert fake.unhandled == [] and fake.errors == []


DIARY = {
    "Brest harbour shut, [the official notice](http://evil.example/1)": (
        "Day one: the storm closed Brest harbour and the ferries stayed in port, read "
        "[the official notice](http://evil.example/login) for <@123456789012345678>."
    ),
    "Waves break over the quays <@&4242>": (
        "Day two: waves broke over the quays and the port authority kept every ferry tied up "
        "while @everyone waited for news of the storm."
    ),
    "Divers check the walls **at dawn**": (
        "Day three: divers checked the harbour walls at dawn, ||nothing|| was cracked, and two "
        "ferries were fuelled for the islands."
    ),
    "First ferry leaves at noon ||spoiler||": (
        "Day four: the first ferry left Brest harbour at noon with forty passengers and a cargo "
        "of bread <t:1764489600:R>."
    ),
    "# Timetable back to normal": (
        "Day five: the timetable returned to normal, the storm had passed east, and crews "
        "repainted the harbour lights # again."
    ),
}


async def test_a_bulk_import_summary_shows_stored_text_as_text(fake, service):
    async with running_bot(fake, service, alert_bulk=3, alert_scan_seconds=0.05):
        topic = "Brest harbour storm ferries `x` <@&42>"
        await command(fake, MEMBER, "watch", "add", topic=topic)
        urls = [f"{URL}/{i}" for i in range(len(DIARY))]
        service.ingest(
            COLLECTION,
            [
                doc(text, title, HOSTILE_SOURCE, url, n=i)
                for i, ((title, text), url) in enumerate(zip(DIARY.items(), urls, strict=True))
            ],
        )
        await eventually(lambda: dms(fake, BOB))
        (summary,) = dms(fake, BOB)
        seen = only_text(summary, own=set(urls))
        assert (
            seen.startswith("🔔 A bulk import added 5 articles in **Quoting**;") and topic in seen
        )
        assert "Brest harbour shut, (the official notice)(http://evil.example/1)" in seen
        assert "[Reuters](http://evil.example/src) @everyone" in seen
    mentions_allowed_nowhere(fake)
    assert fake.unhandled == [] and fake.errors == []


async def test_the_digest_shows_stored_text_as_text(fake, service):
    service.ingest(
        COLLECTION,
        [
            doc(HOSTILE_TEXT, HOSTILE_TITLE, HOSTILE_SOURCE, URL, n=1),
            doc(PASTED, "Night trams [to the airport](http://evil.example/t)", "<#1> *Times*", n=2),
        ],
    )
    async with running_bot(fake, service, digest_check_seconds=0.05):
        preview = await command(fake, ADMIN, "digest", "now", day=DAY)
        seen = only_text(preview, own={URL})
        assert "[Reuters](http://evil.example/src) @everyone" in seen
        assert "<#1> *Times*" in seen and "[to the airport](http://evil.example/t)" in seen
    mentions_allowed_nowhere(fake)
    assert fake.unhandled == [] and fake.errors == []


FEED_TITLE = "[Reuters](http://evil.example)"


async def test_a_feed_whose_title_is_a_link_is_a_source_shown_as_text(fake, service):
    paragraph = (
        "The harbour of Brest reopened on Friday after the storm, the port authority said, "
        "and ferries to the islands will run a reduced timetable until Monday. "
    )

    async def rss(request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        return web.Response(
            content_type="application/rss+xml",
            text=(
                "<?xml version='1.0'?><rss version='2.0' "
                "xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
                f"<title>{FEED_TITLE}</title><link>{base}</link><item><guid>h-1</guid>"
                f"<title>Brest harbour reopens</title><link>{base}/harbour</link>"
                "<content:encoded><![CDATA[<p>" + paragraph * 6 + "</p>]]></content:encoded>"
                "</item></channel></rss>"
            ),
        )

    async with local_site({"/rss": rss}) as base, running_bot(fake, service):
        added = await command(fake, ADMIN, "feeds", "add", url=f"{base}/rss")
        assert f"Following 1 **{FEED_TITLE}** {base}/rss —" in only_text(added)
        await eventually(lambda: service.sources(COLLECTION), seconds=20)
        assert service.sources(COLLECTION)[0].source == FEED_TITLE  # stored as the feed said
        listed = await command(fake, ADMIN, "feeds", "list")
        assert FEED_TITLE in only_text(listed)
        answer = await command(fake, MEMBER, "ask", question="When did Brest harbour reopen?")
        assert f"[1] {FEED_TITLE}" in only_text(answer, own={f"{base}/harbour"})
        passages = await command(fake, MEMBER, "search", query="Brest harbour reopened")
        assert FEED_TITLE in only_text(passages, own={f"{base}/harbour"})
        removed = await command(fake, ADMIN, "feeds", "remove", feed_id=1)
        assert f"Stopped following {base}/rss." in only_text(removed)
    mentions_allowed_nowhere(fake)
    assert fake.unhandled == [] and fake.errors == []
