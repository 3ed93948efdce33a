"""Hostile or broken input loses nothing already stored and stops nothing else (issue #7).

Each test drives what a user drives: the command line (in-process, or as a process when what
reaches stderr matters) and the bot through the fake Discord.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp import web

from fake_embedder import FakeEmbedder
from helpers import FAKE_EMBEDDER_BARS, make_service
from index import cli
from index.service import NewsService
from local_site import serving, serving_in_thread

pytestmark = pytest.mark.timeout(60)

REPO = Path(__file__).resolve().parent.parent
COLLECTION = "guild-1"

STORY = (
    "The harbour authority of Larkmouth said on Monday that the night ferry to the islands of "
    "Brannock and Tull will run again from the first of May, ending a suspension that began "
    "when the old vessel failed its safety inspection last autumn. A refitted catamaran bought "
    "from a Norwegian operator will make the crossing in ninety minutes, almost half the time "
    "of the retired ship. Fares for island residents stay frozen until the end of next year, "
    "the authority's director, Mirela Katz, told reporters on the quay. Shopkeepers on "
    "Brannock had complained that deliveries of fresh produce arrived two days late all winter."
)
OTHER = (
    "The city council of Ostrava Vale voted nineteen to twelve on Thursday to build protected "
    "cycle lanes along the whole length of Marrow Street, the busiest shopping avenue in the "
    "old town, after three years of public consultation. Work on the four kilometre route will "
    "start in September and is expected to take eighteen months. Parking spaces along the "
    "eastern side of the street will be removed, and delivery vans will get loading bays in "
    "the side streets instead, the transport committee said on Friday afternoon."
)
DEEP = "[" * 100_000 + "]" * 100_000


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    """`newsbot -c guild-1 …` in-process, returning (exit code, stdout, stderr)."""
    embedder = FakeEmbedder()

    def factory(args) -> NewsService:
        return make_service(
            tmp_path / "data",
            embedder,
            fetch_allow="127.0.0.1",
            fetch_timeout=5,
            **FAKE_EMBEDDER_BARS,
        )

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["-q", "-c", COLLECTION, *argv], service=factory)
        out, err = capsys.readouterr()
        return code, out, err

    return invoke


def cli_process(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    """The command line as its own process (what really reaches stderr), fake embedder."""
    code = (
        "import sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from helpers import make_service\n"
        "from index import cli\n"
        "sys.exit(cli.main(sys.argv[1:], service=lambda args: make_service(args.data_dir)))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_")}
    return subprocess.run(
        [sys.executable, "-c", code, "--data-dir", str(tmp_path / "data"), "-q", *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


# -- item 3: one deeply nested JSON line ------------------------------------------------------


def test_a_deeply_nested_jsonl_line_is_skipped_and_every_other_line_stored(run, tmp_path):
    lines = [
        json.dumps({"title": "Ferry returns", "body": STORY}),
        '{"title": "Deep", "body": ' + DEEP + "}",
        DEEP,
        json.dumps({"title": "Cycle lanes approved", "body": OTHER}),
    ]
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = run("ingest", str(path))
    assert code == 1  # some lines failed
    assert "unexpected error" not in err
    assert "corpus.jsonl:2: nested too deeply" in err and "corpus.jsonl:3: nested too deeply" in err
    assert "2 added" in out + err and "2 failed" in out + err
    code, out, _ = run("sources")
    assert "Ferry returns" in out and "Cycle lanes approved" in out


def test_a_deeply_nested_upload_is_refused_in_one_line(run, tmp_path):
    path = tmp_path / "notes.json"  # sniffed as JSON lines by its first line
    path.write_text('{"body": ' + DEEP + "}\n")
    code, out, err = run("ingest", str(path))
    assert code == 1 and "unexpected error" not in err
    assert "nested too deeply" in err and "0 added" in out + err


# -- NUL bytes --------------------------------------------------------------------------------


def test_nul_bytes_are_never_stored(run, tmp_path):
    path = tmp_path / "nul.jsonl"
    path.write_text(
        json.dumps(
            {
                "title": "Ferry\u0000 returns",
                "source": "Larkmouth\u0000 Gazette",
                "url": "https://example.com/ferry\u0000",
                "body": STORY.replace("ninety", "nine\u0000ty"),
            }
        )
        + "\n"
    )
    code, out, err = run("ingest", str(path))
    assert code == 0, err
    pasted = tmp_path / "pasted.txt"  # a NUL past the first 8 KiB is not sniffed as binary
    pasted.write_bytes(("Cycle lanes approved\n\n" + OTHER + "\n\n" + "x " * 5000).encode() + b"\0")
    code, out, err = run("ingest", str(pasted))
    assert code == 0, err
    code, out, _ = run("sources", "--json")
    assert "\\u0000" not in out and "Ferry returns" in out
    code, out, _ = run("ask", "How long will the crossing take?", "--json")
    assert "\\u0000" not in out and "ninety minutes" in out


# -- pypdf ------------------------------------------------------------------------------------


def test_pypdf_warnings_do_not_reach_stderr(tmp_path):
    sys.path.insert(0, str(REPO / "tests"))
    from test_extract import PIER_PAGE, make_pdf

    pdf = make_pdf([PIER_PAGE], title="Pier Report")
    # A wrong startxref offset: pypdf repairs it, and says so on its logger.
    (tmp_path / "pier.pdf").write_bytes(re.sub(rb"startxref\n\d+", b"startxref\n9999", pdf))
    done = cli_process(tmp_path, "ingest", str(tmp_path / "pier.pdf"))
    assert done.returncode == 0, done.stderr
    assert "added #1 “Pier Report”" in done.stdout
    # stderr holds the summary line only (it goes there when the list above is short)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("1 added"), done.stderr


# -- item 4: tag-heavy HTML -------------------------------------------------------------------


def test_a_tag_heavy_page_is_refused_at_once(run, tmp_path):
    """14 MB of a million tags: 66 s and 1.7 GB of extraction before, a refusal now."""
    path = tmp_path / "tags.html"
    path.write_bytes(b"<html><body>" + b"<span>x</span>" * 1_000_000 + b"</body></html>")
    (tmp_path / "ferry.md").write_text("# Ferry returns\n\n" + STORY)
    started = time.perf_counter()
    code, out, err = run("ingest", str(path), str(tmp_path / "ferry.md"))
    elapsed = time.perf_counter() - started
    assert code == 1 and "tags.html is too complex to read" in err, err
    assert "added #1 “Ferry returns”" in out
    assert elapsed < 15, elapsed


# -- item 9: one bad JSON Feed item -----------------------------------------------------------


def json_feed(base: str) -> bytes:
    def item(n: int, text: str, **extra) -> dict:
        return {
            "id": f"j-{n}",
            "url": f"{base}/j/{n}",
            "title": f"Story {n}",
            "content_text": (text + "\n\n") * 2,
            "date_published": "2031-03-05T08:00:00Z",
            **extra,
        }

    items = [
        json.dumps(item(1, STORY)),
        json.dumps(item(2, STORY + " Two.", date_published="0001-01-01T00:00:00+14:00")),
        json.dumps(item(3, STORY + " Three.", date_modified="9999-12-31T23:59:59-14:00")),
        json.dumps(item(4, STORY + " Four."))[:-1] + ', "tags": ' + DEEP + "}",
        json.dumps(item(5, OTHER)),
    ]
    return (
        '{"version": "https://jsonfeed.org/version/1.1", "title": "Larkmouth\\u0000 Gazette",'
        ' "items": [' + ", ".join(items) + "]}"
    ).encode()


@pytest.fixture
def feed_site() -> Iterator[str]:
    state: dict = {}

    async def feed(request: web.Request) -> web.Response:
        return web.Response(body=json_feed(state["base"]), content_type="application/feed+json")

    app = web.Application()
    app.router.add_get("/feed.json", feed)
    with serving_in_thread(app) as base:
        state["base"] = base
        yield base


def test_one_bad_json_feed_item_does_not_stop_the_feed(run, feed_site, caplog):
    code, out, err = run("feeds", "add", f"{feed_site}/feed.json")
    assert code == 0, err
    assert "error" not in out, out
    new = int(re.search(r"(\d+) new", out)[1])
    assert new >= 2  # the good items at least; the deeply nested one is skipped
    code, out, _ = run("sources")
    assert "Story 1" in out and "Story 5" in out and "Story 4" not in out
    code, out, _ = run("feeds", "list")
    assert "ok" in out and "error" not in out and "\0" not in out
    assert "nested too deeply" in caplog.text  # the skipped item is logged
    code, out, _ = run("feeds", "poll", "--all")
    assert code == 0 and "ok" in out and "error" not in out, out


# -- item 4: a slow page holds up no one else -------------------------------------------------


class SlowPageService(NewsService):
    """A service whose reading of one file, slow.html, takes until the test lets it go: a page
    that is slow to extract, without burning the CPU the rest of the test needs."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.entered = threading.Event()
        self.release = threading.Event()

    def documents_from_bytes(self, data, name, url=None):
        if name == "slow.html":
            self.entered.set()
            self.release.wait(30)
        yield from super().documents_from_bytes(data, name, url)


@pytest.fixture
async def slow_bot(tmp_path) -> AsyncIterator[tuple]:
    from bot.client import NewsBot
    from bot.config import BotSettings
    from fakediscord import FakeDiscord, FakeGuild, FakeMember, FakeUser

    alice, bob = FakeUser(101, "alice"), FakeUser(102, "bob")
    guild = FakeGuild(
        1001,
        "Alpha",
        owner_id=999,
        channels=[(2001, "news")],
        members=[FakeMember(alice, permissions=0xC00), FakeMember(bob, permissions=0xC00)],
    )
    service = make_service(
        tmp_path / "data", kind=SlowPageService, chunk_tokens=60, **FAKE_EMBEDDER_BARS
    )
    try:
        async with FakeDiscord(guilds=[guild], heartbeat_interval_ms=100) as fake:
            settings = BotSettings(
                token="fake-token", ask_cooldown_seconds=0, ingest_cooldown_seconds=0
            )
            client = NewsBot(settings, service, guild_ready_timeout=0.05)
            async with fake.run_client(client):
                await fake.wait_commands(None)
                try:
                    yield fake, service, guild, alice, bob
                finally:
                    service.release.set()
    finally:
        service.release.set()
        service.close()


def reply_to(message: dict):
    return lambda m: (m.get("message_reference") or {}).get("message_id") == message["id"]


async def test_a_slow_page_holds_up_no_other_members_ingest_or_question(slow_bot):
    fake, service, guild, alice, bob = slow_bot
    page = f"<html><body><article><p>{OTHER}</p></article></body></html>".encode()
    att = fake.add_attachment("slow.html", page, "text/html")
    slow = await fake.send_message(
        guild_id=guild.id, channel_id=2001, author=bob, content="!ingest", attachments=[att]
    )
    assert await asyncio.to_thread(service.entered.wait, 10)  # bob's page is being read

    quick = await fake.send_message(
        guild_id=guild.id, channel_id=2001, author=alice, content=f"!ingest {STORY}"
    )
    reply = await fake.wait_channel_message(2001, predicate=reply_to(quick), timeout=10)
    assert "Added `#1`" in reply["content"]
    member = guild.members[0]
    asked = await fake.send_interaction(
        guild_id=guild.id,
        channel_id=2001,
        member=member,
        name="ask",
        options={"question": "How long will the ferry crossing take?"},
    )
    answer = await asked.wait_final(timeout=10)
    assert "ninety minutes" in answer["embeds"][0]["description"]
    assert not service.release.is_set()  # all of that while bob's page was still being read

    service.release.set()
    reply = await fake.wait_channel_message(2001, predicate=reply_to(slow), timeout=10)
    assert "Added `#2`" in reply["content"]


class SlowFetchedPageService(NewsService):
    """A service whose extraction of fetched pages waits until the test lets it go."""

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.entered = threading.Event()
        self.release = threading.Event()

    def document_from_fetched(self, result):
        self.entered.set()
        self.release.wait(30)
        return super().document_from_fetched(result)


async def test_a_feed_reads_its_pages_before_taking_the_writer(tmp_path):
    from index.feeds import FeedPoller

    async def atom(request: web.Request) -> web.Response:
        body = (
            "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
            "<title>Larkmouth Gazette</title><id>urn:lg</id><entry><id>urn:lg:1</id>"
            "<title>Ferry returns</title><link rel='alternate' href='/ferry'/>"
            "<updated>2031-05-01T08:00:00Z</updated><summary>Teaser.</summary></entry></feed>"
        )
        return web.Response(text=body, content_type="application/atom+xml")

    async def page(request: web.Request) -> web.Response:
        html = f"<html><body><article><h1>Ferry returns</h1><p>{STORY}</p></article></body></html>"
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/atom.xml", atom)
    app.router.add_get("/ferry", page)
    service = make_service(tmp_path / "data", kind=SlowFetchedPageService, fetch_allow="127.0.0.1")
    async with serving(app) as port:
        base = f"http://127.0.0.1:{port}"
        try:
            cid = service.store.collections.id_of(COLLECTION, create=True)
            feed = service.store.feeds.add(
                cid, f"{base}/atom.xml", added_by="t", interval_seconds=600
            )
            writer = asyncio.Lock()
            poll = asyncio.create_task(FeedPoller(service, lock=writer).poll_feed(feed))
            assert await asyncio.to_thread(service.entered.wait, 10)
            assert not writer.locked()  # the page is being read, and the writer is free
            async with asyncio.timeout(2), writer:
                pass  # another member's ingest would get it now
            service.release.set()
            async with asyncio.timeout(20):
                report = await poll
            assert (report.status, report.new) == ("ok", 1), report.errors
        finally:
            service.release.set()
            service.close()
