"""The real discord.py client running newsbot against the fake Discord on 127.0.0.1.

Everything is asserted on what the bot sent back over REST: what a member would see.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import discord
import pytest
from aiohttp import web

from bot.client import NewsBot
from bot_helpers import ingest_file, running_bot, slash
from fake_embedder import FakeEmbedder
from fakediscord import MANAGE_GUILD, FakeDiscord, FakeGuild, FakeMember, FakeUser
from helpers import (
    REPO,
    SAMPLE,
    SAMPLE_QUESTION,
    SAMPLE_TITLE,
    eventually,
    local_site,
    make_service,
)
from index.service import NewsService

pytestmark = pytest.mark.timeout(60)

ALICE = FakeUser(101, "alice")  # admin of guild A
BOB = FakeUser(102, "bob")  # plain member of guild A
CAROL = FakeUser(103, "carol")  # member of guild B
ADMIN_A = FakeMember(ALICE, permissions=MANAGE_GUILD | 0x800 | 0x400)
MEMBER_A = FakeMember(BOB, permissions=0x800 | 0x400)
MEMBER_B = FakeMember(CAROL, permissions=0x800 | 0x400)
GUILD_A = FakeGuild(
    1001, "Alpha", owner_id=999, channels=[(2001, "news")], members=[ADMIN_A, MEMBER_A]
)
GUILD_B = FakeGuild(1002, "Beta", owner_id=998, channels=[(2002, "news")], members=[MEMBER_B])

ARTICLE = """# Rail strike halts trains across Germany

Germany's train drivers began a 24-hour strike on Thursday, halting most long-distance services
run by Deutsche Bahn. The GDL union is demanding a 35-hour working week without a cut in pay.

Deutsche Bahn said only about one in five long-distance trains would run. Commuters in Berlin
and Munich crowded onto regional buses as the walkout began.

The union's leader said further strikes could follow before Christmas if talks fail.
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD_A, GUILD_B], heartbeat_interval_ms=100) as server:
        yield server


@pytest.fixture
def service(tmp_path: Path) -> Iterator[NewsService]:
    with make_service(tmp_path / "data", chunk_tokens=60, min_answer_score=0.1) as svc:
        yield svc


@pytest.fixture
async def bot(fake: FakeDiscord, service: NewsService) -> AsyncIterator[NewsBot]:
    async with running_bot(fake, service) as client:
        yield client


RAIL_QUESTION = "What working week is the GDL union demanding?"


def field_snippets(value: str) -> list[str]:
    """The verbatim passages of a citation field: one quoted line each under the title line,
    a long one cut with "…"."""
    return [line.strip().strip("“”").rstrip("…") for line in value.split("\n")[1:]]


async def test_identify_asks_for_message_content_and_registers_commands(fake, bot):
    intents = discord.Intents._from_value(fake.identify["intents"])
    assert intents.message_content and intents.guilds and intents.guild_messages
    assert not intents.members and not intents.presences
    commands = {c["name"]: c for c in fake.registered_commands[None]}
    assert set(commands) == {
        "ask",
        "search",
        "sources",
        "ingest",
        "rebuild-index",
        "forget",
        "stats",
        "feeds",
        "help",
        "watch",
        "digest",
        "Add to newsbot",  # message context menus (type 3): tests/test_bot_features.py
        "Ask newsbot about this",
    }
    assert commands["rebuild-index"]["default_member_permissions"] == str(MANAGE_GUILD)
    assert commands["forget"]["default_member_permissions"] == str(MANAGE_GUILD)
    assert commands["ask"].get("default_member_permissions") is None


async def test_ingest_attachment_then_ask_cites_a_verbatim_snippet(fake, bot, service):
    reply = await ingest_file(fake, GUILD_A, BOB, "rail.md", ARTICLE.encode())
    assert "Rail strike halts trains across Germany" in reply["content"]
    assert "chunks" in reply["content"]
    interaction = await slash(fake, GUILD_A, MEMBER_A, "ask", question=RAIL_QUESTION)
    assert (await interaction.wait_response())["type"] == 5  # deferred: "thinking…"
    final = await interaction.wait_final(timeout=20)
    embed = final["embeds"][0]
    assert "35-hour working week" in embed["description"]
    assert "[1]" in embed["description"]
    field = embed["fields"][0]
    assert field["name"].startswith("[1]")
    title_line = field["value"].split("\n", 1)[0]
    assert "Rail strike halts trains across Germany" in title_line
    article = service.sources("guild-1001")[0].text
    snippets = field_snippets(field["value"])
    assert all(s in article for s in snippets)
    assert any("35-hour working week" in s for s in snippets)


async def test_servers_do_not_see_each_others_articles(fake, bot):
    await ingest_file(fake, GUILD_A, BOB, "rail.md", ARTICLE.encode())
    interaction = await slash(fake, GUILD_B, MEMBER_B, "ask", question=RAIL_QUESTION)
    final = await interaction.wait_final(timeout=20)
    text = final["embeds"][0]["description"]
    assert "couldn't find anything relevant" in text and "35-hour" not in text
    listing = await slash(fake, GUILD_B, MEMBER_B, "sources")
    assert "No articles yet" in (await listing.wait_final())["embeds"][0]["description"]
    listing = await slash(fake, GUILD_A, MEMBER_A, "sources")
    assert "Rail strike" in (await listing.wait_final())["embeds"][0]["description"]


async def test_rebuild_refused_for_a_member_and_done_for_an_admin(fake, bot):
    await ingest_file(fake, GUILD_A, BOB, "rail.md", ARTICLE.encode())
    refused = await slash(fake, GUILD_A, MEMBER_A, "rebuild-index")
    response = await refused.wait_response()
    assert response["data"]["flags"] & 64  # ephemeral
    assert "Manage Server" in response["data"]["content"]
    done = await slash(fake, GUILD_A, ADMIN_A, "rebuild-index")
    final = await done.wait_final(predicate=lambda m: "rebuilt" in m.get("content", ""), timeout=20)
    assert "Index rebuilt" in final["content"]


async def test_image_attachment_is_refused_and_nothing_stored(fake, bot, service):
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    reply = await ingest_file(fake, GUILD_A, BOB, "photo.png", png, "image/png")
    assert "photo.png is an image" in reply["content"]
    assert service.sources("guild-1001") == []


async def test_duplicate_and_url_and_dm_get_clear_replies(fake, bot):
    await ingest_file(fake, GUILD_A, BOB, "rail.md", ARTICLE.encode())
    again = await ingest_file(fake, GUILD_A, BOB, "copy.md", ARTICLE.encode())
    assert "Already indexed" in again["content"] and "#1" in again["content"]
    sent = await fake.send_message(
        guild_id=GUILD_A.id,
        channel_id=2001,
        author=BOB,
        content="!ingest <http://127.0.0.1:9/story>",
    )
    reply = await fake.wait_channel_message(2001, after=sent["id"])
    assert "that address is not public" in reply["content"]
    dm = await fake.send_dm(author=BOB, content="!ingest some text")
    reply = await fake.wait_channel_message(fake.dm_channel_id(BOB), after=dm["id"])
    assert "only answer inside a server" in reply["content"]


async def test_slash_ingest_text_and_forget(fake, bot, service):
    interaction = await slash(fake, GUILD_A, MEMBER_A, "ingest", text=ARTICLE)
    final = await interaction.wait_final(timeout=20)
    assert "Added `#1`" in final["content"]
    forget = await slash(fake, GUILD_A, ADMIN_A, "forget", article_id=1)
    assert "Forgot `#1`" in (await forget.wait_final())["content"]
    assert service.sources("guild-1001") == []
    missing = await slash(fake, GUILD_A, ADMIN_A, "forget", article_id=1)
    response = await missing.wait_response()
    assert response["data"]["flags"] & 64 and "No article 1" in response["data"]["content"]


async def test_ask_cooldown_says_when_to_try_again(fake, service):
    async with running_bot(fake, service, ask_cooldown_seconds=30, ask_burst=1):
        first = await slash(fake, GUILD_A, MEMBER_A, "ask", question="anything new?")
        await first.wait_final()
        second = await slash(fake, GUILD_A, MEMBER_A, "ask", question="anything new?")
        response = await second.wait_response()
        assert response["data"]["flags"] & 64
        assert "try again in" in response["data"]["content"]


class BusyEmbedder(FakeEmbedder):
    """Burns ~4 ms of pure-Python CPU a chunk, holding the GIL: harsher on the event loop
    than the real model, whose heavy work runs in C with the GIL released."""

    def embed(self, texts):
        for _ in texts:
            deadline = time.perf_counter() + 0.004
            while time.perf_counter() < deadline:
                pass
        return super().embed(texts)


@pytest.fixture
async def busy_service(fake: FakeDiscord, tmp_path: Path) -> AsyncIterator[NewsService]:
    """A service embedding with BusyEmbedder (its ingests hold the GIL), the bot running on it."""
    data = tmp_path / "data"
    with make_service(data, BusyEmbedder(), chunk_tokens=60, min_answer_score=0.1) as service:
        async with running_bot(fake, service):
            yield service


async def test_heartbeat_keeps_flowing_during_a_large_ingest(fake, busy_service):
    paragraph = (
        "Officials said the harbour project in district {0} would cost more than "
        "expected, and residents asked when the work on the new quay would start. "
    )
    big = "\n\n".join(paragraph.format(i) * 3 for i in range(300)).encode()  # ≈ 130 kB, ~600 chunks
    await fake.wait_heartbeats(3)
    start = len(fake.heartbeats)
    reply = await ingest_file(fake, GUILD_A, BOB, "big.txt", big, "text/plain")
    assert "Added" in reply["content"]
    chunks = busy_service.stats("guild-1001")["chunks"]
    assert chunks > 400
    beats = fake.heartbeats[start:]
    assert len(beats) >= 5, "the ingest should span several heartbeat intervals"
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    print(f"heartbeats={len(beats)} max_gap={max(gaps):.3f}")
    assert max(gaps) < 0.5, f"event loop blocked: longest heartbeat gap {max(gaps):.3f} s"


async def test_concurrent_question_is_answered_while_ingesting(fake, busy_service):
    await ingest_file(fake, GUILD_A, BOB, "rail.md", ARTICLE.encode())
    big = "\n\n".join(
        f"Paragraph {i} is filler about the weather in the city today." for i in range(1500)
    ).encode()
    att = fake.add_attachment("big.txt", big, "text/plain")
    sent = await fake.send_message(
        guild_id=GUILD_A.id, channel_id=2001, author=BOB, content="!ingest", attachments=[att]
    )
    await asyncio.sleep(0.2)
    interaction = await slash(fake, GUILD_A, MEMBER_A, "ask", question=RAIL_QUESTION)
    final = await interaction.wait_final(timeout=20)
    assert "35-hour" in final["embeds"][0]["description"]
    assert not [
        m
        for m in fake.channel_messages(2001)
        if "big" in m.get("content", "") and int(m["id"]) > int(sent["id"])
    ], "the answer came only after the ingest"
    reply = await fake.wait_channel_message(
        2001, after=sent["id"], timeout=30, predicate=lambda m: "big" in m["content"]
    )
    assert "Added" in reply["content"]


@pytest.mark.timeout(180)
async def test_python_m_bot_runs_against_the_fake_and_never_logs_the_token(
    fake, tmp_path, model_cache, real_embedder
):
    """The way it is deployed: a separate process configured only by its environment."""
    token = "MTIz.secret-token-value.XYZ"
    env = {
        **os.environ,
        "DISCORD_TOKEN": token,
        "DISCORD_API_BASE": fake.api_base,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "NEWSBOT_DATA_DIR": str(tmp_path / "d"),
        "NEWSBOT_TORCH_THREADS": "1",
        "NEWSBOT_LOG_LEVEL": "DEBUG",
        "NEWSBOT_MODEL_CACHE": str(model_cache),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    seen = b""
    try:
        await fake.wait_ready(timeout=30)
        await fake.wait_commands(None, timeout=10)
        assert fake.identify["token"] == token
        reply = await ingest_file(
            fake, GUILD_A, BOB, SAMPLE.name, SAMPLE.read_bytes(), "text/plain; charset=utf-8"
        )
        assert SAMPLE_TITLE in reply["content"] and "2025-04-25" in reply["content"]
        interaction = await slash(fake, GUILD_A, MEMBER_A, "ask", question=SAMPLE_QUESTION)
        embed = (await interaction.wait_final(timeout=60))["embeds"][0]
        # Asked today about a 2025 story: answered, and the answer says how old its news is.
        assert embed["description"].startswith(
            "**The latest I have on this is from 25 April 2025:**"
        )
        snippets = field_snippets(embed["fields"][0]["value"])
        assert any("satellite" in s for s in snippets)
        assert all(s in SAMPLE.read_text() for s in snippets)
        seen = b""
        async with asyncio.timeout(30):  # on_ready comes once every server is in (or timed out)
            while b"connected as" not in seen and not proc.stdout.at_eof():
                seen += await proc.stdout.readline()
    finally:
        proc.terminate()
        output, _ = await asyncio.wait_for(proc.communicate(), 20)
    log = seen.decode() + output.decode()
    assert "connected as" in log
    assert token not in log and "secret-token-value" not in log


async def test_global_sync_only_when_the_commands_changed(fake, service):
    def puts() -> int:
        return sum(1 for r in fake.requests if r.method == "PUT" and r.path.endswith("/commands"))

    async with running_bot(fake, service):
        pass
    assert puts() == 1
    async with running_bot(fake, service):
        pass
    assert puts() == 1, "unchanged commands must not be synced again"
    async with running_bot(fake, service, dev_guild=GUILD_A.id):
        pass
    assert {c["name"] for c in fake.registered_commands[GUILD_A.id]} >= {"ask", "ingest"}


async def test_slash_ingest_url_from_an_allow_listed_site(fake, tmp_path):
    page = (
        "<html><head><title>Harbour reopens after storm</title></head><body><article>"
        "<h1>Harbour reopens after storm</h1><p>The harbour of Brest reopened on Friday "
        "after three days of closure, the port authority said, as the storm moved east "
        "and winds dropped below the safety limit.</p><p>Ferries to the islands will run "
        "a reduced timetable until Monday while crews inspect the quays.</p></article>"
        "</body></html>"
    )

    async def story(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    async with local_site({"/story": story}) as base:
        data = tmp_path / "web"
        with make_service(data, fetch_allow="127.0.0.1", min_answer_score=0.1) as svc:
            async with running_bot(fake, svc):
                interaction = await slash(fake, GUILD_A, MEMBER_A, "ingest", url=f"{base}/story")
                final = await interaction.wait_final(timeout=20)
    assert "Added `#1` **Harbour reopens after storm**" in final["content"]


async def test_admin_follows_a_feed_and_its_entries_arrive(fake, tmp_path):
    paragraph = (
        "The city council voted on Thursday to extend the night tram service to the "
        "airport from next spring, after two years of trials that carried more "
        "passengers than expected. "
    )

    async def rss(request: web.Request) -> web.Response:
        base = f"http://{request.host}"
        return web.Response(
            content_type="application/rss+xml",
            text=(
                "<?xml version='1.0'?><rss version='2.0' "
                "xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
                "<title>Tram Times</title><link>" + base + "</link><item><guid>tram-1</guid>"
                "<title>Night trams to run to the airport</title><link>" + base + "/tram</link>"
                "<content:encoded><![CDATA[<p>" + paragraph * 6 + "</p>]]></content:encoded>"
                "</item></channel></rss>"
            ),
        )

    async with local_site({"/rss": rss}) as base:
        with make_service(tmp_path / "feeds", fetch_allow="127.0.0.1") as svc:
            async with running_bot(fake, svc):
                refused = await slash(
                    fake, GUILD_A, MEMBER_A, "feeds", subcommand="add", url=f"{base}/rss"
                )
                assert "Manage Server" in (await refused.wait_response())["data"]["content"]
                added = await slash(
                    fake, GUILD_A, ADMIN_A, "feeds", subcommand="add", url=f"{base}/rss"
                )
                final = await added.wait_final(timeout=20)
                assert "Following `1` **Tram Times**" in final["content"]
                assert final["flags"] & 64
                await eventually(lambda: svc.sources("guild-1001"), seconds=20)
                assert svc.sources("guild-1001")[0].title == "Night trams to run to the airport"
                assert svc.sources("guild-1002") == []
