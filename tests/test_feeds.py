"""Feeds: parsing, conditional polling, backoff, changed entries, pausing and unsafe links.

A small aiohttp site on 127.0.0.1 runs on the test's own event loop (the poller is async) and
counts every request, so the tests can tell what was fetched and what was not.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest
from aiohttp import web

from helpers import make_service
from index.feeds import FeedPoller, NotAFeedError, html_to_text, parse_feed
from index.service import IngestReport, NewsService
from index.store import open_store
from local_site import serving

pytestmark = [pytest.mark.timeout(30), pytest.mark.backends]

COLLECTION = "guild-1"
SERVICE_UPDATES = "updated" in IngestReport.__dataclass_fields__

# -- fictional news ---------------------------------------------------------------------------

FERRY = [
    "The harbour authority of Larkmouth said on Monday that the night ferry to the islands of "
    "Brannock and Tull will run again from the first of May, ending a suspension that began "
    "when the old vessel failed its safety inspection last autumn.",
    "A refitted catamaran bought from a Norwegian operator will make the crossing in ninety "
    "minutes, almost half the time of the retired ship. Fares for island residents stay frozen "
    "until the end of next year, the authority's director, Mirela Katz, told reporters on the "
    "quay.",
    "Shopkeepers on Brannock had complained that deliveries of fresh produce arrived two days "
    "late all winter. The local council welcomed the decision but asked for a second evening "
    "departure during the summer season, when the islands' population triples with visitors.",
]
BIKES = [
    "The city council of Ostrava Vale voted nineteen to twelve on Thursday to build protected "
    "cycle lanes along the whole length of Marrow Street, the busiest shopping avenue in the "
    "old town, after three years of public consultation.",
    "Work on the four kilometre route will start in September and is expected to take eighteen "
    "months. Parking spaces along the eastern side of the street will be removed, and delivery "
    "vans will get loading bays in the side streets instead, the transport committee said.",
    "Opponents argued that the plan would hurt small businesses. Supporters pointed to a survey "
    "in which six in ten residents said they would cycle to the centre if the road felt safer. "
    "The first section, near the railway station, should open before next winter.",
]
BIKES_CORRECTION = (
    "Correction: an earlier version of this article said the vote was eighteen to twelve; "
    "the council's published minutes show it was nineteen to twelve, with two abstentions."
)
COMET = [
    "Astronomers at the Sierra Calma observatory have found a comet that will pass close enough "
    "to the Sun in March to be seen with binoculars from the southern hemisphere, the "
    "observatory announced in a statement on Wednesday evening.",
    "The object, catalogued as C/2031 K4, was first spotted on images taken by a student, Tomas "
    "Reyes, during a routine survey of near-Earth asteroids. Follow-up observations from two "
    "other telescopes confirmed a faint tail of gas and dust stretching behind the nucleus.",
    "Comets are notoriously hard to predict, the observatory's director cautioned, and this one "
    "may break apart as it warms. If it survives, it should be brightest in the last week of "
    "March, low on the western horizon shortly after sunset.",
]
BAKERY = [
    "A cooperative of eleven bakers in Hollin Bridge has taken over the town's last flour mill, "
    "which its previous owner had planned to close at the end of the month.",
    "The members pooled their savings and borrowed the rest from a regional credit union. They "
    "plan to mill heritage wheat grown on farms within thirty kilometres of the town.",
    "The mill employs nine people, all of whom will keep their jobs, the cooperative said.",
]
RIVER = [
    "More than four hundred volunteers pulled shopping trolleys, tyres and two abandoned "
    "motorbikes out of the river Senn on Saturday during the largest clean-up the valley has "
    "organised.",
    "Divers from the local rescue club worked the deeper stretch beneath the old stone bridge, "
    "where the current had piled up debris against the piers since the floods last spring.",
    "Organisers said the waste would be sorted and as much as possible of it recycled.",
]


def words(paras: list[str]) -> int:
    return len(" ".join(paras).split())


def rfc822(year: int, month: int, day: int, hour: int = 9) -> str:
    return format_datetime(datetime(year, month, day, hour, tzinfo=UTC), usegmt=True)


def rss_item(guid: str, path: str, title: str, paras: list[str], published: str) -> str:
    html = "".join(f"<p>{p}</p>" for p in paras)
    # Images, a relative tracker and a metadata address: none may ever be fetched.
    html += '<img src="/tracker.gif"><img src="http://169.254.169.254/latest/meta-data/">'
    return f"""<item><title>{title}</title><link>{path}</link>
<guid isPermaLink="false">{guid}</guid><pubDate>{published}</pubDate>
<dc:creator>Staff Reporter</dc:creator><description>{paras[0][:80]}…</description>
<content:encoded><![CDATA[{html}<script>document.write('x')</script>]]></content:encoded>
</item>"""


def rss_feed(items: list[str], title: str = "Larkmouth Gazette") -> str:
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>{title}</title><link>/</link><description>Local news</description>
{"".join(items)}
</channel></rss>"""


def full_text_feed(edited: bool = False) -> str:
    bikes = [*BIKES, BIKES_CORRECTION] if edited else BIKES
    return rss_feed(
        [
            # Not in date order on purpose: the poller handles the newest first.
            rss_item("lg-1", "/news/ferry", "Night ferry to return", FERRY, rfc822(2031, 4, 2)),
            rss_item("lg-3", "/news/comet", "Students find a comet", COMET, rfc822(2031, 4, 4)),
            rss_item("lg-2", "/news/bikes", "Cycle lanes approved", BIKES, rfc822(2031, 4, 3))
            if not edited
            else rss_item("lg-2", "/news/bikes", "Cycle lanes approved", bikes, rfc822(2031, 4, 3)),
        ]
    )


def page(title: str, paras: list[str], path: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paras)
    return f"""<!doctype html><html><head><title>{title} | Valley Courier</title>
<meta property="og:site_name" content="Valley Courier">
<meta property="article:published_time" content="2031-05-01T08:00:00Z">
<link rel="canonical" href="{{base}}{path}"></head>
<body><nav><a href="/">Home</a></nav><article><h1>{title}</h1>{body}</article></body></html>"""


PAGES = {
    "/articles/bakery": page("Bakers buy the last mill", BAKERY, "/articles/bakery"),
    "/articles/river": page("Volunteers clean the Senn", RIVER, "/articles/river"),
}

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Valley Courier</title>
<id>urn:valley-courier</id><updated>2031-05-02T08:00:00Z</updated>
<entry><id>urn:vc:bakery</id><title>Bakers buy the last mill</title>
<link rel="alternate" href="/articles/bakery"/><updated>2031-05-01T08:00:00Z</updated>
<summary>A cooperative takes over the mill.</summary></entry>
<entry><id>urn:vc:river</id><title>Volunteers clean the Senn</title>
<link rel="alternate" href="/articles/river"/><updated>2031-05-02T08:00:00Z</updated>
<summary>Four hundred volunteers.</summary></entry>
</feed>"""


def unsafe_feed(port: int) -> str:
    """Entries without full text whose links point where no fetch may go, and one good one."""
    item = """<item><title>{t}</title><link>{link}</link><guid>{g}</guid>
<pubDate>{d}</pubDate><description>Short teaser.</description></item>"""
    return rss_feed(
        [
            item.format(t="Loopback", link=f"http://127.0.0.2:{port}/articles/bakery", g="u-1",
                        d=rfc822(2031, 5, 3)),
            item.format(t="Metadata", link="http://169.254.169.254/latest/meta-data/", g="u-2",
                        d=rfc822(2031, 5, 2)),
            item.format(t="Fine", link="/articles/river", g="u-3", d=rfc822(2031, 5, 1)),
        ],
        title="Mixed Links",
    )  # fmt: skip


# -- the site ---------------------------------------------------------------------------------


@dataclass
class Site:
    base: str
    port: int
    hits: Counter = field(default_factory=Counter)
    conditional: list[str] = field(default_factory=list)  # If-None-Match values received
    edited: bool = False
    broken: bool = True

    def url(self, path: str) -> str:
        return self.base + path


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    state = Site(base="", port=0)

    def feed_response(request: web.Request, text: str, kind: str) -> web.Response:
        body = text.encode()
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        seen = request.headers.get("If-None-Match")
        if seen:
            state.conditional.append(seen)
        if seen == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=body,
            content_type=kind,
            headers={"ETag": etag, "Last-Modified": "Fri, 02 May 2031 08:00:00 GMT"},
        )

    @web.middleware
    async def count(request: web.Request, handler):
        state.hits[request.path] += 1
        return await handler(request)

    async def rss(request: web.Request) -> web.Response:
        return feed_response(request, full_text_feed(state.edited), "application/rss+xml")

    async def atom(request: web.Request) -> web.Response:
        return feed_response(request, ATOM, "application/atom+xml")

    async def mixed(request: web.Request) -> web.Response:
        return feed_response(request, unsafe_feed(state.port), "application/rss+xml")

    async def broken(request: web.Request) -> web.Response:
        if state.broken:
            return web.Response(status=500, text="oops")
        return feed_response(request, ATOM, "application/atom+xml")

    async def not_a_feed(request: web.Request) -> web.Response:
        return web.Response(text=PAGES["/articles/river"], content_type="text/html")

    async def article(request: web.Request) -> web.Response:
        html = PAGES.get(request.path)
        if html is None:
            raise web.HTTPNotFound()
        return web.Response(text=html.replace("{base}", state.base), content_type="text/html")

    app = web.Application(middlewares=[count])
    app.router.add_get("/rss.xml", rss)
    app.router.add_get("/atom.xml", atom)
    app.router.add_get("/mixed.xml", mixed)
    app.router.add_get("/broken.xml", broken)
    app.router.add_get("/page.xml", not_a_feed)
    app.router.add_get("/articles/{name}", article)
    async with serving(app) as port:
        state.port = port
        state.base = f"http://127.0.0.1:{port}"
        yield state


@pytest.fixture
def news(tmp_path: Path) -> Iterator[NewsService]:
    svc = make_service(tmp_path / "d", fetch_allow="127.0.0.1")
    yield svc
    svc.close()


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now


def add_feed(service: NewsService, url: str, interval: int = 600):
    cid = service.store.collections.id_of(COLLECTION, create=True)
    return service.store.feeds.add(cid, url, added_by="t", interval_seconds=interval)


def poller(service: NewsService, clock: Clock, **kw) -> FeedPoller:
    return FeedPoller(service, clock=lambda: clock.now, **kw)


async def eventually(condition, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


def stored(service: NewsService):
    return {a.title: a for a in service.sources(COLLECTION)}


# -- parsing ----------------------------------------------------------------------------------


def test_story_texts_are_long_enough_to_count_as_full_text() -> None:
    for paras in (FERRY, BIKES, COMET):
        assert words(paras) >= 120


def test_parse_rss_full_text_newest_first_with_absolute_links() -> None:
    body = full_text_feed().encode()
    title, entries = parse_feed(
        body, url="http://news.test/feeds/rss.xml", headers={"Content-Type": "application/rss+xml"}
    )
    assert title == "Larkmouth Gazette"
    assert [e.guid for e in entries] == ["lg-3", "lg-2", "lg-1"]
    comet = entries[0]
    assert comet.url == "http://news.test/news/comet"
    assert comet.published_at == "2031-04-04"
    assert comet.author == "Staff Reporter"
    assert comet.content == "\n\n".join(COMET)  # paragraphs kept, images and scripts gone
    assert comet.summary is not None and comet.summary.endswith("…")


def test_parse_atom_without_content_and_refusals() -> None:
    title, entries = parse_feed(
        ATOM.encode(), url="http://vc.test/atom.xml", headers={"content-type": "application/xml"}
    )
    assert title == "Valley Courier"
    assert [(e.guid, e.url, e.content) for e in entries] == [
        ("urn:vc:river", "http://vc.test/articles/river", None),
        ("urn:vc:bakery", "http://vc.test/articles/bakery", None),
    ]
    assert entries[0].updated == "2031-05-02T08:00:00Z"
    with pytest.raises(NotAFeedError):
        parse_feed(PAGES["/articles/river"].encode(), url="http://x.test/", headers={})
    # feedparser would open a bytes/str argument as a file name: the body is a stream to it.
    with pytest.raises(NotAFeedError):
        parse_feed(b"/etc/hostname", url="http://x.test/", headers={"content-type": "text/xml"})


def test_entities_are_neither_expanded_nor_read_from_files() -> None:
    laughs = '<!ENTITY l0 "lol">' + "".join(
        f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10)
    )
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{laughs}]><rss version="2.0"><channel>'
        "<title>&l9;</title><item><title>a</title><link>http://x.test/a</link>"
        "<description>&l9;</description></item></channel></rss>"
    ).encode()
    with pytest.raises(NotAFeedError, match="nested entities"):
        parse_feed(bomb, url="http://x.test/f", headers={})
    secret = Path("/etc/hostname").read_text().strip() if Path("/etc/hostname").exists() else ""
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/hostname">'
        b'<!ENTITY nbsp "&#160;">]><rss version="2.0"><channel><title>A&nbsp;B</title>'
        b"<item><title>&x;</title><link>http://x.test/a</link></item></channel></rss>"
    )
    title, entries = parse_feed(xxe, url="http://x.test/f", headers={})
    assert title == "A B"  # a plain entity (a character reference) is fine
    assert [e.url for e in entries] == ["http://x.test/a"]
    assert entries[0].title in (None, "&x;") and (not secret or secret not in repr(entries))


def test_json_feed_and_html_to_text() -> None:
    body = (
        b'{"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": [{"id": 7,'
        b' "url": "/a", "title": "A", "content_html": "<p>x</p>",'
        b' "date_published": "2031-03-05T23:30:00-05:00"}]}'
    )
    title, entries = parse_feed(body, url="http://j.test/feed.json", headers={})
    assert title == "J"
    assert entries[0].guid == "7" and entries[0].url == "http://j.test/a"
    assert entries[0].published_at == "2031-03-05"  # the publisher's date, not UTC's
    html = (
        "<p>One <b>bold</b><!-- note --> move.</p><img src='http://169.254.169.254/'>"
        "<script>x()</script><table><tr><td>a</td><td>b</td></tr></table>"
        "<p>The post One appeared first on Site.</p>"
    )
    assert html_to_text(html) == "One bold move.\n\na b"


# -- polling ----------------------------------------------------------------------------------


async def test_full_text_feed_is_ingested_from_the_feed_then_304(site: Site, news) -> None:
    clock = Clock()
    feed = add_feed(news, site.url("/rss.xml"))
    p = poller(news, clock)

    report = await p.poll_feed(feed)
    assert (report.status, report.new, report.failed) == ("ok", 3, 0)
    assert report.next_poll_at == clock.now + 600
    # Nothing the entries link to or embed was fetched: the feed carried the full text.
    assert set(site.hits) == {"/rss.xml"}
    articles = stored(news)
    assert set(articles) == {
        "Night ferry to return",
        "Students find a comet",
        "Cycle lanes approved",
    }
    comet = articles["Students find a comet"]
    assert comet.url == site.url("/news/comet")
    assert comet.source == "Larkmouth Gazette"
    assert comet.published_at == "2031-04-04"
    assert comet.text == "\n\n".join(COMET)
    assert comet.added_by == f"feed {feed.id}"
    state = news.store.feeds.get(feed.id)
    assert state.title == "Larkmouth Gazette" and state.etag and state.last_modified
    assert state.failures == 0 and state.last_polled_at == clock.now

    clock.now += 600
    report = await p.poll_feed(state)
    assert report.status == "not modified"
    assert (report.new, report.updated, report.duplicates) == (0, 0, 0)
    assert site.hits["/rss.xml"] == 2 and site.conditional == [state.etag]
    assert len(news.sources(COLLECTION)) == 3
    assert news.store.feeds.get(feed.id).next_poll_at == clock.now + 600


async def test_link_only_entries_fetch_their_pages(site: Site, news) -> None:
    feed = add_feed(news, site.url("/atom.xml"))
    report = await poller(news, Clock()).poll_feed(feed)
    assert (report.status, report.new, report.failed) == ("ok", 2, 0), report.errors
    assert site.hits["/articles/bakery"] == 1 and site.hits["/articles/river"] == 1
    river = stored(news)["Volunteers clean the Senn"]
    assert river.url == site.url("/articles/river")
    assert river.source == "Valley Courier"
    assert "four hundred volunteers" in river.text
    # The same pages again through another feed of the same server: already indexed.
    other = add_feed(news, site.url("/mixed.xml"))
    report = await poller(news, Clock()).poll_feed(other)
    assert report.duplicates == 1 and report.new == 0


async def test_unsafe_entry_links_fail_clearly_and_are_retried_a_few_times(site: Site, news):
    clock = Clock()
    feed = add_feed(news, site.url("/mixed.xml"))
    p = poller(news, clock)
    report = await p.poll_feed(feed)
    assert (report.status, report.new, report.failed) == ("ok", 1, 2)
    assert len(report.errors) == 2
    assert all("that address is not public" in e for e in report.errors)
    assert "169.254.169.254" in " ".join(report.errors)
    assert list(stored(news)) == ["Volunteers clean the Senn"]
    assert "2 failed" in news.store.feeds.get(feed.id).last_status
    # Failed entries are tried again (the feed is then fetched whole, not conditionally)…
    for _ in range(2):
        clock.now += 600
        report = await p.poll_feed(feed)
        assert (report.status, report.new, report.failed) == ("ok", 0, 2)
    # …three times in all, then left alone.
    clock.now += 600
    report = await p.poll_feed(feed)
    assert (report.status, report.new, report.failed) == ("not modified", 0, 0)


async def test_errors_back_off_exponentially_then_recover(site: Site, news) -> None:
    clock = Clock(5_000.0)
    feed = add_feed(news, site.url("/broken.xml"))
    p = poller(news, clock, max_backoff=3000)
    expected = [1200, 2400, 3000]  # 600 * 2**failures, capped
    for n, delay in enumerate(expected, start=1):
        report = await p.poll_feed(feed)
        assert report.status == "error: the server answered 500"
        state = news.store.feeds.get(feed.id)
        assert state.failures == n
        assert state.next_poll_at == report.next_poll_at == clock.now + delay
        assert state.last_status == "error: the server answered 500"
        # Not due before its time.
        clock.now = state.next_poll_at - 1
        assert await p.poll_due() == []
        clock.now += 1
    site.broken = False
    [report] = await p.poll_due()
    assert (report.status, report.new) == ("ok", 2)
    state = news.store.feeds.get(feed.id)
    assert state.failures == 0 and state.next_poll_at == clock.now + 600


async def test_not_a_feed_and_not_allow_listed(site: Site, news, tmp_path: Path) -> None:
    feed = add_feed(news, site.url("/page.xml"))
    report = await poller(news, Clock()).poll_feed(feed)
    assert report.status == "error: that address is not an RSS or Atom feed"
    assert news.store.feeds.get(feed.id).failures == 1
    with pytest.raises(NotAFeedError):  # /feeds add checks the link before following it
        await asyncio.to_thread(news.add_feed, COLLECTION, site.url("/page.xml"))
    followed = await asyncio.to_thread(news.add_feed, COLLECTION, site.url("/atom.xml"))
    assert followed.title == "Valley Courier"

    strict = make_service(tmp_path / "strict")
    try:
        feed = add_feed(strict, site.url("/rss.xml"))
        report = await poller(strict, Clock()).poll_feed(feed)
        assert report.status == "error: that address is not public"
        assert strict.sources(COLLECTION) == []
    finally:
        strict.close()
    assert site.hits["/rss.xml"] == 0


async def test_changed_entry_is_ingested_again(site: Site, news) -> None:
    clock = Clock()
    feed = add_feed(news, site.url("/rss.xml"))
    p = poller(news, clock)
    assert (await p.poll_feed(feed)).new == 3
    before = stored(news)["Cycle lanes approved"]

    site.edited = True
    clock.now += 600
    report = await p.poll_feed(feed)
    assert report.status == "ok" and report.new == 0
    assert report.updated + report.duplicates == 1  # the one edited entry, nothing else
    if SERVICE_UPDATES:
        assert report.updated == 1
        after = stored(news)["Cycle lanes approved"]
        assert after.id == before.id and BIKES_CORRECTION in after.text
        assert len(news.sources(COLLECTION)) == 3
    # Remembered with its new text: the next (unconditional) poll finds nothing to do.
    news.store.feeds.update(feed.id, etag=None, last_modified=None)
    clock.now += 600
    report = await p.poll_feed(feed)
    assert (report.new, report.updated, report.duplicates, report.failed) == (0, 0, 0, 0)


async def test_paused_feed_is_never_polled(site: Site, news) -> None:
    clock = Clock()
    feed = add_feed(news, site.url("/rss.xml"))
    news.store.feeds.update(feed.id, paused=True)
    p = poller(news, clock)
    assert await p.poll_due() == []
    report = await p.poll_feed(feed)
    assert report.status == "paused"
    assert site.hits["/rss.xml"] == 0 and news.sources(COLLECTION) == []


async def test_backlog_over_max_entries_is_taken_on_the_next_poll(site: Site, news) -> None:
    clock = Clock()
    feed = add_feed(news, site.url("/rss.xml"))
    p = poller(news, clock, max_entries=2, min_interval=60)
    report = await p.poll_feed(feed)
    assert (report.new, report.waiting) == (2, 1)
    assert set(stored(news)) == {"Students find a comet", "Cycle lanes approved"}  # newest
    state = news.store.feeds.get(feed.id)
    assert state.etag is None and state.next_poll_at == clock.now + 60
    clock.now += 60
    [report] = await p.poll_due()
    assert (report.new, report.waiting) == (1, 0)
    assert site.conditional == []  # the second poll asked for the whole feed


async def test_run_survives_a_failing_poll_and_stops_promptly(site: Site, news) -> None:
    from index.ingest.fetch import fetch

    clock = Clock()
    feed = add_feed(news, site.url("/rss.xml"))
    calls: list[str] = []

    async def flaky(url, policy, **kw):
        calls.append(url)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return await fetch(url, policy, **kw)

    p = poller(news, clock, fetcher=flaky)
    stop = asyncio.Event()
    task = asyncio.create_task(p.run(stop, idle_max=0.02))
    await eventually(lambda: news.store.feeds.get(feed.id).failures == 1)
    state = news.store.feeds.get(feed.id)
    assert state.last_status.startswith("error: internal error")
    assert not task.done()
    clock.now = state.next_poll_at  # due again
    await eventually(lambda: news.store.feeds.get(feed.id).failures == 0)
    assert len(news.sources(COLLECTION)) == 3
    stop.set()
    async with asyncio.timeout(2):
        await task
    assert news.store.feeds.get(feed.id).failures == 0


async def test_run_stop_interrupts_a_slow_poll(site: Site, news) -> None:
    add_feed(news, site.url("/rss.xml"))
    started = asyncio.Event()

    async def stuck(url, policy, **kw):
        started.set()
        await asyncio.sleep(60)

    stop = asyncio.Event()
    task = asyncio.create_task(poller(news, Clock(), fetcher=stuck).run(stop))
    async with asyncio.timeout(5):
        await started.wait()
    stop.set()
    async with asyncio.timeout(1):
        await task


def test_a_due_feed_is_handed_to_one_store_only(tmp_path, database_url) -> None:
    """Two processes polling one store (here: two stores on it) each get a due feed once: it
    is leased to the first until its poll records the next time."""
    a, b = (open_store(tmp_path / "data", database_url) for _ in range(2))
    try:
        cid = a.collections.id_of("c", create=True)
        feeds = [
            a.feeds.add(cid, f"https://x.test/{i}", added_by=None, interval_seconds=600)
            for i in range(6)
        ]
        now = time.time()
        got = [a.feeds.due(now, 4), b.feeds.due(now, 4), a.feeds.due(now, 4)]
        ids = [f.id for batch in got for f in batch]
        assert sorted(ids) == sorted(f.id for f in feeds)  # each once
        assert len(got[0]) == 4 and len(got[1]) == 2 and got[2] == []
        a.feeds.update(feeds[0].id, next_poll_at=0)  # its poll put it due again
        assert [f.id for f in b.feeds.due(now, 10)] == [feeds[0].id]
        assert b.feeds.due(now, 10, collections=[cid + 1]) == []  # another shard's servers
    finally:
        a.close()
        b.close()
