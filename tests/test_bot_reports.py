"""What the bot replies about ingests, links, uploads and feeds, and who may run admin commands.

Through the real discord.py client against the fake Discord where a member would see it; the
renderer and the checks also alone, where a client adds nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest
from aiohttp import web as aioweb
from discord.ext import commands

from bot import render
from bot.checks import ADMIN_PERMISSIONS, admin_only, in_guild
from bot.client import NewsBot
from bot.cogs.ingest import UPLOAD_TYPES, check_attachment
from bot.config import BotSettings
from bot.errors import NotAdmin, NotInGuild, sentence
from fake_embedder import FakeEmbedder
from fakediscord import MANAGE_GUILD, FakeDiscord, FakeGuild, FakeMember, FakeUser
from index.errors import BusyError
from index.ingest.sources import SUPPORTED, Failed
from index.ingest.web import NOT_A_WEB_ADDRESS
from index.models import IngestResult
from index.service import IngestReport, NewsService
from index.settings import CoreSettings
from index.store.base import Feed

pytestmark = pytest.mark.timeout(60)

ALICE = FakeUser(201, "alice")
BOB = FakeUser(202, "bob")
ADMIN = FakeMember(ALICE, permissions=MANAGE_GUILD | 0x800 | 0x400)
MEMBER = FakeMember(BOB, permissions=0x800 | 0x400)
GUILD = FakeGuild(3001, "Gamma", owner_id=997, channels=[(4001, "news")], members=[ADMIN, MEMBER])
CHANNEL = 4001

FIRST = (
    "The harbour of Brest reopened on Friday after three days of closure, the port authority "
    "said, as the storm moved east and winds dropped below the safety limit."
)
SECOND = (
    "Ferries to the islands will run a reduced timetable until Monday while crews inspect the "
    "quays for damage left by the storm."
)
CHANGED = (
    "By Saturday evening the port authority said all quays had been inspected and the ferries "
    "to the islands would return to their full timetable on Sunday morning."
)


def page(*paragraphs: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        "<html><head><title>Harbour reopens after storm</title></head><body><article>"
        f"<h1>Harbour reopens after storm</h1>{body}</article></body></html>"
    )


class Site:
    """One article page on 127.0.0.1 whose text the test changes between two reads."""

    def __init__(self) -> None:
        self.html = page(FIRST, SECOND)
        self.runner: aioweb.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        async def story(request: aioweb.Request) -> aioweb.Response:
            return aioweb.Response(text=self.html, content_type="text/html")

        app = aioweb.Application()
        app.router.add_get("/story", story)
        self.runner = aioweb.AppRunner(app)
        await self.runner.setup()
        site = aioweb.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/story"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD], heartbeat_interval_ms=100) as server:
        yield server


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    s = Site()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
def service(tmp_path: Path):
    svc = NewsService(
        CoreSettings(
            data_dir=tmp_path / "data",
            fetch_allow="127.0.0.1",
            min_answer_score=0.1,
            answer_confidence=0.0,
        ),
        FakeEmbedder(),
    )
    yield svc
    svc.close()


@pytest.fixture
async def bot(fake: FakeDiscord, service: NewsService) -> AsyncIterator[NewsBot]:
    settings = BotSettings(token="t", ask_cooldown_seconds=0, ingest_cooldown_seconds=0)
    client = NewsBot(settings, service, guild_ready_timeout=0.05)
    async with fake.run_client(client):
        await fake.wait_commands(None)
        yield client


async def slash(fake: FakeDiscord, member: FakeMember, name: str, **kwargs):
    return await fake.send_interaction(
        guild_id=GUILD.id, channel_id=CHANNEL, member=member, name=name, **kwargs
    )


async def prefix(fake: FakeDiscord, content: str) -> dict:
    sent = await fake.send_message(
        guild_id=GUILD.id, channel_id=CHANNEL, author=BOB, content=content
    )
    return await fake.wait_channel_message(CHANNEL, after=sent["id"], timeout=30)


# ------------------------------------------------------------------ through the fake Discord


async def test_a_changed_page_read_again_is_reported_updated_and_then_quoted(
    fake, bot, service, site
):
    first = await slash(fake, MEMBER, "ingest", options={"url": site.url})
    assert "Added `#1` **Harbour reopens after storm**" in (await first.wait_final(20))["content"]

    again = await prefix(fake, f"!ingest <{site.url}>")  # unchanged: nothing new to store
    assert "Already indexed" in again["content"]

    site.html = page(FIRST, CHANGED)
    slash_update = await slash(fake, MEMBER, "ingest", options={"url": site.url})
    reply = (await slash_update.wait_final(20))["content"]
    assert "🔄 Updated `#1` **Harbour reopens after storm**" in reply
    assert "Nothing to add" not in reply

    site.html = page(FIRST, SECOND, CHANGED)
    prefix_update = await prefix(fake, f"!ingest {site.url}")
    assert "🔄 Updated `#1` **Harbour reopens after storm**" in prefix_update["content"]

    asked = await slash(
        fake, MEMBER, "ask", options={"question": "When will the ferries return to full timetable?"}
    )
    embed = (await asked.wait_final(20))["embeds"][0]
    quoted = "\n".join(f["value"] for f in embed["fields"])
    assert "full timetable on Sunday morning" in embed["description"] + quoted
    assert [a.id for a in service.sources(f"guild-{GUILD.id}")] == [1]


async def test_not_a_web_address_is_one_private_reply_wherever_a_link_is_asked(fake, bot):
    expected = "That is not a web address (it should start with https://)."
    assert sentence(NOT_A_WEB_ADDRESS) == expected
    for member, name, kwargs in (
        (MEMBER, "ingest", {"options": {"url": "example.com/story"}}),
        (ADMIN, "feeds", {"subcommand": "add", "options": {"url": "ftp://example.com/rss"}}),
    ):
        interaction = await slash(fake, member, name, **kwargs)
        response = await interaction.wait_response()
        assert response["type"] == 4 and response["data"]["flags"] & 64
        assert response["data"]["content"] == expected


async def test_a_failure_after_the_deferral_is_private_and_leaves_no_public_trace(fake, bot):
    interaction = await slash(
        fake, MEMBER, "ingest", options={"url": "http://10.1.2.3/story"}
    )  # a private address: refused once the command has been deferred publicly
    assert (await interaction.wait_response())["type"] == 5
    final = await interaction.wait_final(20)
    assert final["flags"] & 64 and "not public" in final["content"]
    assert interaction.original is None  # the public "thinking…" message was removed
    assert fake.channel_messages(CHANNEL) == []


async def test_a_jsonl_upload_is_refused_before_it_is_read(fake, bot, service):
    att = fake.add_attachment("corpus.jsonl", b'{"text": "x"}\n', "application/json")
    sent = await fake.send_message(
        guild_id=GUILD.id, channel_id=CHANNEL, author=BOB, content="!ingest", attachments=[att]
    )
    reply = await fake.wait_channel_message(CHANNEL, after=sent["id"], timeout=30)
    assert "corpus.jsonl: I read articles from .htm, .html" in reply["content"]
    assert ".jsonl" not in reply["content"].split("from", 1)[1]
    assert service.sources(f"guild-{GUILD.id}") == []


async def test_admin_commands_are_hidden_from_members_and_refused_to_them(fake, bot):
    registered = {c["name"]: c for c in fake.registered_commands[None]}
    admin = str(ADMIN_PERMISSIONS.value)
    for name in ("rebuild-index", "forget", "feeds"):
        assert registered[name]["default_member_permissions"] == admin, name
        assert registered[name]["dm_permission"] is False, name
    for name in ("ask", "search", "sources", "stats", "ingest"):
        assert registered[name]["default_member_permissions"] is None, name
        assert registered[name]["dm_permission"] is False, name
    for name, kwargs in (
        ("feeds", {"subcommand": "list"}),
        ("feeds", {"subcommand": "pause", "options": {"feed_id": 1}}),
        ("forget", {"options": {"article_id": 1}}),
    ):
        refused = await slash(fake, MEMBER, name, **kwargs)
        response = await refused.wait_response()
        assert response["data"]["flags"] & 64
        assert "Only members with Manage Server" in response["data"]["content"], name
    listing = await slash(fake, ADMIN, "feeds", subcommand="list")
    assert "No feeds yet" in (await listing.wait_response())["data"]["content"]


async def test_prefix_ingest_has_the_ingest_limit(fake, service):
    settings = BotSettings(token="t", ingest_cooldown_seconds=60, ingest_burst=1)
    async with fake.run_client(NewsBot(settings, service, guild_ready_timeout=0.05)):
        await fake.wait_commands(None)
        first = await prefix(fake, "!ingest " + FIRST + " " + SECOND)
        assert "Added `#1`" in first["content"]
        second = await prefix(fake, "!ingest " + CHANGED)
        assert second["content"].startswith("Slow down a little: try again in")
    assert len(service.sources(f"guild-{GUILD.id}")) == 1


async def test_a_busy_rebuild_takes_back_its_public_progress_and_answers_privately(
    fake, bot, service, monkeypatch
):
    def busy(*args: object, **kwargs: object) -> None:
        raise BusyError("another process is rebuilding this collection; try again later")

    monkeypatch.setattr(service, "rebuild", busy)
    interaction = await slash(fake, ADMIN, "rebuild-index")
    final = await interaction.wait_final(20, predicate=lambda m: "rebuilding" in m["content"])
    assert final["flags"] & 64
    assert final["content"] == "Another process is rebuilding this collection; try again later."
    assert interaction.original is None and fake.channel_messages(CHANNEL) == []


# ------------------------------------------------------------------ alone


def result(article_id: int, title: str, **kw) -> IngestResult:
    return IngestResult(
        origin="o", article_id=article_id, title=title, published_at=None, chunk_count=3, **kw
    )


def test_one_report_line_an_input_in_a_fixed_order():
    report = IngestReport(
        added=[result(2, "New *one*")],
        updated=[result(1, "Changed @everyone")],
        duplicates=[result(3, "Same", duplicate=True, notes=("same text",))],
        failed=[Failed("x.bin", "x.bin looks like a binary file, not text")],
    )
    lines = render.ingest_report(report).split("\n")
    assert lines[0] == "✅ Added `#2` **New \\*one\\*** (no date) — 3 chunks"
    assert lines[1].startswith("🔄 Updated `#1` **Changed @\u200beveryone**")
    assert lines[2] == "↩️ Already indexed: `#3` **Same** (same text)"
    assert lines[3] == "⚠️ x.bin looks like a binary file, not text"
    assert render.ingest_report(IngestReport(updated=[result(1, "T")])).startswith("🔄 Updated")
    assert render.ingest_report(IngestReport()) == "Nothing to add."
    many = IngestReport(failed=[Failed(str(i), f"reason {i} " + "x" * 80) for i in range(60)])
    text = render.ingest_report(many)
    assert len(text) <= render.MESSAGE_MAX and text.endswith("\n…")


def test_a_feed_line_takes_its_state_and_period_from_the_feed():
    feed = Feed(
        id=4,
        collection="c",
        url="https://example.com/rss",
        title="Tram *Times*",
        etag=None,
        last_modified=None,
        interval_seconds=1800,
        next_poll_at=0.0,
        last_polled_at=None,
        last_status=None,
        failures=0,
        paused=False,
        added_by=None,
    )
    line = render.feed_line(feed)
    assert line == (
        "`4` **Tram \\*Times\\*** https\\://example.com/rss — every 30 min, not polled yet"
    )
    paused = render.feed_line(dataclasses.replace(feed, paused=True))
    assert paused.endswith("— every 30 min, ⏸️ paused")
    assert render.feed_list([]) == "No feeds yet: `/feeds add url`."


def test_uploads_read_every_supported_type_but_jsonl():
    assert set(UPLOAD_TYPES) == set(SUPPORTED) - {".jsonl"}
    for name, ok in (("a.xhtml", True), ("a.PDF", True), ("a.jsonl", False), ("a.docx", False)):
        att = SimpleNamespace(filename=name, content_type="", size=10)
        assert (check_attachment(att, 1000) is None) is ok, name  # type: ignore[arg-type]


def test_admin_only_checks_prefix_commands_too():
    @commands.command(name="purge")
    @admin_only()
    async def purge(ctx: commands.Context) -> None: ...

    settings = SimpleNamespace(admin_role="Editors")
    member_perms = discord.Permissions(send_messages=True)

    def ctx(guild: object, permissions: discord.Permissions) -> SimpleNamespace:
        author = SimpleNamespace(roles=[])
        return SimpleNamespace(
            guild=guild,
            bot=SimpleNamespace(settings=settings),
            author=author,
            permissions=permissions,
        )

    (check,) = purge.checks
    assert check(ctx(object(), ADMIN_PERMISSIONS))
    with pytest.raises(NotAdmin, match="or the Editors role"):
        check(ctx(object(), member_perms))
    with pytest.raises(NotInGuild):
        check(ctx(None, ADMIN_PERMISSIONS))


def test_in_guild_checks_prefix_commands_and_admin_only_refuses_a_cog_with_its_own_check():
    @commands.command(name="hello")
    @in_guild()
    async def hello(ctx: commands.Context) -> None: ...

    (check,) = hello.checks
    with pytest.raises(NotInGuild):
        check(SimpleNamespace(guild=None))

    class Own(commands.Cog):
        async def interaction_check(self, interaction: discord.Interaction) -> bool:
            return True

    with pytest.raises(TypeError):
        admin_only()(Own)
