"""Links pasted into the command line: fetched safely, extracted, deduplicated by canonical URL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aiohttp import web

from helpers import FAKE_EMBEDDER_BARS, make_service
from index.service import NewsService
from local_site import serving_in_thread

pytestmark = pytest.mark.backends

ARTICLE_HTML = """<!doctype html><html><head>
<title>Floods close schools in Valencia | Levante Daily</title>
<meta property="og:site_name" content="Levante Daily">
<meta property="article:published_time" content="2024-10-30T08:00:00Z">
<link rel="canonical" href="{base}/news/valencia-floods">
</head><body><nav><a href="/">Home</a> &gt; <a href="/news">News</a></nav>
<article><h1>Floods close schools in Valencia</h1>
<p>Flash floods swept through the region of Valencia on Tuesday night, and the regional
government closed all schools for two days while emergency crews cleared the roads.</p>
<p>The national weather agency said more than 300 litres of rain per square metre fell in some
towns in less than eight hours, a record for the month of October in the region.</p>
<p>Rail services between Valencia and Madrid were suspended after a section of track was
damaged near the town of Chiva, the rail operator said on Wednesday morning.</p>
</article><aside><h2>Related</h2><ul><li><a href="/x">Other story</a></li></ul></aside>
</body></html>"""

PAYWALL_HTML = """<html><head><title>Budget talks stall</title></head><body><article>
<h1>Budget talks stall</h1><p>Negotiators failed again on Monday to agree on a budget for the
coming year, officials from both parties said after a short meeting in the capital.</p>
<p>Subscribe to continue reading. Already a subscriber? Sign in.</p></article></body></html>"""


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """A web server on 127.0.0.1 in its own thread (fetch_sync runs its own event loop)."""
    state: dict = {}

    async def article(request: web.Request) -> web.Response:
        return web.Response(text=ARTICLE_HTML.format(base=state["base"]), content_type="text/html")

    async def paywall(request: web.Request) -> web.Response:
        return web.Response(text=PAYWALL_HTML, content_type="text/html")

    async def image(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + bytes(100), content_type="image/png")

    async def feed(request: web.Request) -> web.Response:
        return web.Response(
            text="<?xml version='1.0'?><rss version='2.0'><channel>"
            "<title>x</title></channel></rss>",
            content_type="application/rss+xml",
        )

    async def rss(request: web.Request) -> web.Response:
        base = state["base"]
        body = (
            "<?xml version='1.0' encoding='utf-8'?><rss version='2.0' "
            "xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
            "<title>Levante Daily</title><link>" + base + "</link>"
            "<item><guid>valencia-floods</guid><title>Floods close schools in Valencia</title>"
            "<link>" + base + "/news/valencia-floods</link>"
            "<pubDate>Wed, 30 Oct 2024 08:00:00 GMT</pubDate>"
            "<content:encoded><![CDATA["
            + ARTICLE_HTML.split("<article>")[1].split("</article>")[0] * 3
            + "]]></content:encoded></item></channel></rss>"
        )
        return web.Response(text=body, content_type="application/rss+xml")

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://127.0.0.2:9/secret")

    app = web.Application()
    app.router.add_get("/news/valencia-floods", article)
    app.router.add_get("/paywall", paywall)
    app.router.add_get("/image", image)
    app.router.add_get("/feed", feed)
    app.router.add_get("/rss", rss)
    app.router.add_get("/redirect", redirect)
    with serving_in_thread(app) as base:
        state["base"] = base
        yield base


def web_service(tmp_path, allow: str) -> NewsService:
    data = tmp_path / "data"
    return make_service(data, fetch_allow=allow, fetch_timeout=5, **FAKE_EMBEDDER_BARS)


def test_a_link_is_fetched_extracted_and_stored_under_its_canonical_url(site, tmp_path):
    with web_service(tmp_path, "127.0.0.1") as svc:
        report = svc.ingest_paths("news", [f"<{site}/news/valencia-floods?utm_source=x#top>"])
        assert [(r.title, r.published_at) for r in report.added] == [
            ("Floods close schools in Valencia", "2024-10-30")
        ]
        article = svc.sources("news")[0]
        assert article.url == f"{site}/news/valencia-floods"
        # og:site_name is believed only when it fits the host; an IP address never does.
        assert article.source == "127.0.0.1"
        assert "300 litres of rain" in article.text and "Other story" not in article.text
        again = svc.ingest_paths("news", [f"{site}/news/valencia-floods"])
        assert again.duplicates and not again.added


def test_without_the_allow_list_loopback_is_refused_and_nothing_stored(site, tmp_path):
    with web_service(tmp_path, "") as svc:
        report = svc.ingest_paths("news", [f"{site}/news/valencia-floods"])
        assert report.added == []
        assert "that address is not public" in report.failed[0].reason
        assert svc.sources("news") == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/image", "not an article (content type image/png)"),
        ("/feed", "is a news feed, not an article"),
        ("/missing", "the server answered 404"),
        ("/redirect", "that address is not public"),
    ],
)
def test_refusals_are_clear(site, tmp_path, path, message):
    with web_service(tmp_path, "127.0.0.1") as svc:
        report = svc.ingest_paths("news", [site + path])
        assert message in report.failed[0].reason
        assert svc.sources("news") == []


def test_a_paywalled_page_is_flagged(site, tmp_path):
    with web_service(tmp_path, "127.0.0.1") as svc:
        report = svc.ingest_paths("news", [f"{site}/paywall"])
        assert report.added[0].notes == ("may be cut short by a paywall",)


def test_feeds_from_the_command_line(site, tmp_path, monkeypatch, capsys):
    from index import cli

    def factory(args):
        return web_service(tmp_path, "127.0.0.1")

    def run(*argv: str) -> str:
        assert cli.main(["-q", "-c", "guild-1", *argv], service=factory) == 0
        return capsys.readouterr().out

    out = run("feeds", "add", f"{site}/rss")
    assert "following feed 1  Levante Daily" in out and "1 new" in out
    assert "ok: 1 new" in run("feeds", "list")
    assert "No feed is due." in run("feeds", "poll")
    assert "0 new, 0 updated, 0 already indexed" in run("feeds", "poll", "--all")
    assert "Floods close schools in Valencia" in run("sources")
    assert "paused" in run("feeds", "pause", "1")
    assert "stopped following feed 1" in run("feeds", "remove", "1")
    assert cli.main(["-q", "feeds", "add", f"{site}/news/valencia-floods"], service=factory) == 1
    assert "not an RSS or Atom feed" in capsys.readouterr().err
