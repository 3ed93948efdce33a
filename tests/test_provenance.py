"""Who may change what a server was told (issue #7, item 1), as the command line shows it.

Two web hosts on this machine: 127.0.0.1 ("site A", the real newsroom) and 127.0.0.2 ("site B",
a member's own server). A page on B must not overwrite or impersonate an article stored from A:
its canonical URL counts only on its own site, an update needs the same feed or the same site,
its claimed site name must fit the host it came from, and every version records who fetched it.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from fake_embedder import FakeEmbedder
from helpers import FAKE_EMBEDDER_BARS, make_service
from index import cli
from index.service import NewsService

pytestmark = [pytest.mark.timeout(60), pytest.mark.backends]

COLLECTION = "guild-1"

HARBOUR = [
    "The port authority of Larkmouth said on Monday that the harbour will close to cargo "
    "ships for three weeks in March while the main quay is rebuilt after storm damage.",
    "Fishing boats may still use the inner basin, the authority's director, Mirela Katz, told "
    "reporters, and the ferry to the islands will move to a temporary pier near the boatyard.",
    "The repairs will cost about four million euros, most of it paid by the regional "
    "government, which declared the storm a natural disaster in January.",
]
HARBOUR_FIX = (
    "Correction: an earlier version of this article gave the cost as three million euros; the "
    "authority's published budget shows four million euros."
)
FORGED = [
    "The port authority of Larkmouth said on Monday that the harbour will close for good "
    "and that all fishing licences are cancelled with immediate effect.",
    "Director Mirela Katz told reporters that the ferry to the islands will never run again "
    "and that residents should leave the islands before the end of the month.",
    "The authority said it had sold the quay to a private casino operator for one euro, a "
    "decision the regional government had approved in secret in January.",
]
WIRE = [
    "Central bankers meeting in Zurich agreed on Thursday to raise interest rates by two full "
    "percentage points at once, the largest increase in forty years, a statement said.",
    "Markets in Asia fell sharply after the announcement, and the finance ministers of three "
    "countries called emergency meetings for the weekend, according to the statement.",
    "The statement said the rise would take effect at midnight and stay for at least a year.",
]


def html(title: str, paras: list[str], *, canonical: str, site_name: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paras)
    return f"""<!doctype html><html><head><title>{title}</title>
<meta property="og:site_name" content="{site_name}">
<meta property="article:published_time" content="2031-03-02T08:00:00Z">
<link rel="canonical" href="{canonical}"></head>
<body><article><h1>{title}</h1>{body}</article></body></html>"""


def rss(title: str, items: list[tuple[str, str, str, list[str]]]) -> str:
    """Full-text items: (guid, link, title, paragraphs)."""
    entries = "".join(
        f"<item><guid isPermaLink='false'>{g}</guid><link>{link}</link><title>{t}</title>"
        f"<pubDate>Mon, 03 Mar 2031 08:00:00 GMT</pubDate><content:encoded><![CDATA["
        + "".join(f"<p>{p}</p>" for p in paras * 2)
        + "]]></content:encoded></item>"
        for g, link, t, paras in items
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
        "xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
        f"<title>{title}</title><link>/</link>{entries}</channel></rss>"
    )


@dataclass
class Sites:
    a: str = ""  # http://127.0.0.1:port
    b: str = ""  # http://127.0.0.2:port
    corrected: bool = False
    feed_items: list = field(default_factory=list)


@pytest.fixture
def sites() -> Iterator[Sites]:
    """One aiohttp app served on two loopback addresses, in its own thread."""
    state = Sites()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict = {}

    async def story(request: web.Request) -> web.Response:
        paras = [*HARBOUR, HARBOUR_FIX] if state.corrected else HARBOUR
        text = html(
            "Larkmouth harbour to close for repairs",
            paras,
            canonical=f"{state.a}/news/harbour",
            site_name="Larkmouth Gazette",
        )
        return web.Response(text=text, content_type="text/html")

    async def forged(request: web.Request) -> web.Response:
        # B's page names A's article as its canonical URL and claims to be A.
        text = html(
            "Larkmouth harbour to close for repairs",
            FORGED,
            canonical=f"{state.a}/news/harbour?utm_source=x",
            site_name="Larkmouth Gazette",
        )
        return web.Response(text=text, content_type="text/html")

    async def wire(request: web.Request) -> web.Response:
        text = html(
            "Central banks raise rates by two points",
            WIRE,
            canonical="https://www.reuters.com/markets/rates-2031-03-02/",
            site_name="Reuters",
        )
        return web.Response(text=text, content_type="text/html")

    async def feed(request: web.Request) -> web.Response:
        return web.Response(
            text=rss("Larkmouth Gazette", state.feed_items), content_type="application/rss+xml"
        )

    async def start() -> None:
        app = web.Application()
        app.router.add_get("/news/harbour", story)
        app.router.add_get("/forged", forged)
        app.router.add_get("/wire", wire)
        app.router.add_get("/rss.xml", feed)
        runner = web.AppRunner(app)
        await runner.setup()
        for host, attr in (("127.0.0.1", "a"), ("127.0.0.2", "b")):
            site = web.TCPSite(runner, host, 0)
            await site.start()
            port = runner.addresses[-1][1]  # the port the site just bound
            setattr(state, attr, f"http://{host}:{port}")
        holder["runner"] = runner
        ready.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True
    )
    thread.start()
    assert ready.wait(10)
    yield state
    asyncio.run_coroutine_threadsafe(holder["runner"].cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture
def run(tmp_path, monkeypatch, capsys):
    """`newsbot -c guild-1 …` in-process, returning (exit code, stdout, stderr)."""
    embedder = FakeEmbedder()

    def factory(args) -> NewsService:
        return make_service(
            tmp_path / "data",
            embedder,
            fetch_allow="127.0.0.0/8",
            fetch_timeout=5,
            **FAKE_EMBEDDER_BARS,
        )

    def invoke(*argv: str) -> tuple[int, str, str]:
        code = cli.main(["-q", "-c", COLLECTION, *argv], service=factory)
        out, err = capsys.readouterr()
        return code, out, err

    invoke.service = factory  # type: ignore[attr-defined]
    return invoke


def ask(run, question: str) -> dict:
    code, out, err = run("ask", question, "--json")
    assert code == 0, err
    return json.loads(out)


def quoted(citation: dict) -> str:
    """Every passage a citation shows."""
    return " ".join(x["text"] for x in citation["snippets"])


def sources(run) -> dict[int, dict]:
    code, out, err = run("sources", "--json")
    assert code == 0, err
    return {a["id"]: a for a in json.loads(out)}


def test_a_page_on_another_host_cannot_overwrite_a_stored_article(sites, run):
    code, out, err = run("ingest", f"{sites.a}/news/harbour", "--added-by", "alice")
    assert code == 0 and "added #1" in out, err

    code, out, err = run("ingest", f"{sites.b}/forged", "--added-by", "mallory")
    assert "updated #1" not in out
    assert code == 0 and "added #2" in out, out + err  # B's page is B's own article

    stored = sources(run)
    assert stored[1]["url"] == f"{sites.a}/news/harbour"
    # A site name is believed only when it fits the host: an address never does.
    assert stored[1]["source"] == "127.0.0.1"
    assert stored[2]["url"] == f"{sites.b}/forged"
    assert stored[2]["source"] == "127.0.0.2"

    answer = ask(run, "Did the authority sell the quay to a casino operator for one euro?")
    for citation in answer["citations"]:
        if citation["url"].startswith(sites.a):
            assert "casino" not in quoted(citation)
    casino = [c for c in answer["citations"] if "casino" in quoted(c)]
    assert casino and all(c["url"] == f"{sites.b}/forged" for c in casino), answer["answer"]
    assert all(c["source"] == "127.0.0.2" for c in casino)

    answer = ask(run, "How much will the harbour repairs cost?")
    cited = [c for c in answer["citations"] if c["url"] == f"{sites.a}/news/harbour"]
    assert cited and "four million euros" in quoted(cited[0]), answer["answer"]


def test_a_page_cannot_pass_itself_off_as_another_site(sites, run):
    code, out, err = run("ingest", f"{sites.b}/wire")
    assert code == 0 and "added #1" in out, err
    stored = sources(run)[1]
    assert stored["url"] == f"{sites.b}/wire" and stored["source"] == "127.0.0.2"
    answer = ask(run, "By how much did the central bankers raise interest rates?")
    assert answer["found"]
    for citation in answer["citations"]:
        assert citation["source"] == "127.0.0.2"
        assert citation["url"] == f"{sites.b}/wire"
        assert "reuters" not in json.dumps(citation).lower()


def test_the_same_site_updates_its_article_and_every_version_records_its_fetch(sites, run):
    assert "added #1" in run("ingest", f"{sites.a}/news/harbour", "--added-by", "alice")[1]
    sites.corrected = True
    code, out, err = run("ingest", f"{sites.a}/news/harbour", "--added-by", "bob")
    assert code == 0 and "updated #1" in out and "version 2" in out, out + err
    answer = ask(run, "What did the correction say about the cost of the repairs?")
    assert any("Correction" in s["text"] for c in answer["citations"] for s in c["snippets"])

    with run.service(None) as svc:
        versions = svc.store.articles.versions(1)
    assert [(v.version, v.added_by, v.fetched_url, v.feed_id) for v in versions] == [
        (1, "alice", f"{sites.a}/news/harbour", None),
        (2, "bob", f"{sites.a}/news/harbour", None),
    ]
    assert versions[0].content_hash != versions[1].content_hash


def test_a_file_naming_a_stored_url_does_not_replace_its_text(sites, run, tmp_path):
    assert "added #1" in run("ingest", f"{sites.a}/news/harbour")[1]
    line = {"title": "Harbour", "url": f"{sites.a}/news/harbour", "body": " ".join(FORGED)}
    path = tmp_path / "forged.jsonl"
    path.write_text(json.dumps(line) + "\n")
    code, out, err = run("ingest", str(path))
    assert code == 0, err
    assert "updated" not in out.replace("0 updated", "")
    assert "already indexed" in out and "#1" in out and "not replaced" in out, out + err
    answer = ask(run, "Did the authority sell the quay to a casino operator for one euro?")
    assert all("casino" not in quoted(c) for c in answer["citations"])


def test_a_feed_on_another_host_cannot_overwrite_or_speak_for_a_site(sites, run):
    assert "added #1" in run("ingest", f"{sites.a}/news/harbour")[1]
    # B's feed carries forged full text under A's address, and a story "from" A that A
    # never published: the first is not an update, the second's text is A's own page.
    sites.feed_items = [
        ("f-1", f"{sites.a}/news/harbour", "Larkmouth harbour to close for repairs", FORGED),
    ]
    code, out, err = run("feeds", "add", f"{sites.b}/rss.xml")
    assert code == 0, err
    assert "updated" not in out and "1 new" not in out
    answer = ask(run, "Did the authority sell the quay to a casino operator for one euro?")
    assert all("casino" not in quoted(c) for c in answer["citations"])
    assert len(sources(run)) == 1


def test_a_feed_updates_what_it_added(sites, run):
    link = f"{sites.b}/stories/wire"
    sites.feed_items = [("w-1", link, "Central banks raise rates by two points", WIRE)]
    code, out, err = run("feeds", "add", f"{sites.b}/rss.xml")
    assert code == 0 and "1 new" in out, out + err
    sites.feed_items = [
        ("w-1", link, "Central banks raise rates by two points", [*WIRE, HARBOUR_FIX])
    ]
    code, out, err = run("feeds", "poll", "--all")
    assert code == 0 and "1 updated" in out, out + err
    with run.service(None) as svc:
        versions = svc.store.articles.versions(1)
    assert [(v.version, v.added_by, v.feed_id) for v in versions] == [
        (1, "feed 1", 1),
        (2, "feed 1", 1),
    ]
    assert all(v.fetched_url == f"{sites.b}/rss.xml" for v in versions)


@pytest.mark.sqlite_only
def test_a_schema_2_store_is_migrated_with_what_it_knows(tmp_path, run):
    """An existing store opens, gains a version row per article (feed ids recovered from the
    feed's entries), and keeps working."""
    from index.store.schema import MIGRATIONS, SCHEMA_VERSION, statements

    data = tmp_path / "data"
    data.mkdir()
    con = sqlite3.connect(data / "newsbot.sqlite3")
    for version in (1, 2):
        for statement in statements(MIGRATIONS[version]):
            con.execute(statement)
    con.execute("PRAGMA user_version = 2")
    con.execute("INSERT INTO collections (id, name, created_at) VALUES (1, ?, 'x')", (COLLECTION,))
    con.execute(
        "INSERT INTO feeds (id, collection_id, url, added_at) VALUES (4, 1, 'http://f/rss', 'x')"
    )
    for aid, by in ((1, "alice (1)"), (2, "feed 4")):
        con.execute(
            """INSERT INTO articles (id, collection_id, title, url, canonical_url, text,
                   content_hash, chunk_count, added_by, added_at, version)
               VALUES (?, 1, ?, ?, ?, 'Old text.', ?, 0, ?, '2030-01-01T00:00:00+00:00', ?)""",
            (aid, f"Old {aid}", f"http://a/{aid}", f"http://a/{aid}", f"h{aid}", by, aid),
        )
    con.execute(
        "INSERT INTO feed_entries (feed_id, guid, article_id, content_hash, seen_at)"
        " VALUES (4, 'g', 2, 'h2', 'x')"
    )
    con.commit()
    con.close()

    code, out, err = run("sources")
    assert code == 0 and "Old 1" in out and "Old 2" in out, err
    with run.service(None) as svc:
        assert svc.store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        one, two = svc.store.articles.versions(1), svc.store.articles.versions(2)
    assert [(v.version, v.added_by, v.fetched_url, v.feed_id) for v in one] == [
        (1, "alice (1)", None, None)
    ]
    assert [(v.version, v.added_by, v.feed_id, v.content_hash) for v in two] == [
        (2, "feed 4", 4, "h2")
    ]
    (tmp_path / "new.md").write_text("# New story\n\n" + " ".join(HARBOUR))
    code, out, err = run("ingest", str(tmp_path / "new.md"))
    assert code == 0 and "added #3" in out, err
