"""Feed trouble reaches admins: `/feeds notify #channel`, then a feed served on 127.0.0.1 that
starts failing is posted there once (not again after a restart), once more when it works again
or when the bot pauses it; `/feeds list` shows its last success, last error and articles added.

The poller's clock jumps a day at every reading, so every feed is due at each round (about one
a second) however far it was backed off: polls happen at the pace of the test, not of hours.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.client import NewsBot
from bot_helpers import running_bot, slash
from fakediscord import MANAGE_GUILD, FakeDiscord, FakeGuild, FakeMember, FakeUser
from helpers import eventually, local_site, make_service

pytestmark = pytest.mark.timeout(120)

ALICE = FakeUser(101, "alice")
ADMIN = FakeMember(ALICE, permissions=MANAGE_GUILD | 0x800 | 0x400)
NEWS, OPS = 2001, 2002
GUILD = FakeGuild(
    1001, "Alpha", owner_id=999, channels=[(NEWS, "news"), (OPS, "ops")], members=[ADMIN]
)
COLLECTION = f"guild-{GUILD.id}"
PARAGRAPH = (
    "The city council voted on Thursday to extend the night tram service to the airport from "
    "next spring, after two years of trials that carried more passengers than expected. "
)


def rss_site(state: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    """A feed of one entry while ``state["up"]``, else a server error."""

    async def rss(request: web.Request) -> web.Response:
        state["polls"] += 1
        if not state["up"]:
            return web.Response(status=500, text="database connection lost")
        base = f"http://{request.host}"
        return web.Response(
            content_type="application/rss+xml",
            text=(
                "<?xml version='1.0'?><rss version='2.0' "
                "xmlns:content='http://purl.org/rss/1.0/modules/content/'><channel>"
                f"<title>Tram Times</title><link>{base}</link><item><guid>tram-1</guid>"
                f"<title>Night trams to run to the airport</title><link>{base}/tram</link>"
                "<content:encoded><![CDATA[<p>" + PARAGRAPH * 6 + "</p>]]></content:encoded>"
                "</item></channel></rss>"
            ),
        )

    return {"/rss": rss}


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD], heartbeat_interval_ms=100) as server:
        yield server


DAYS = itertools.count()  # shared by every bot of a test: a restarted one goes on from there
START = time.time()


def time_flies(bot: NewsBot) -> None:
    """Every reading of the poller's clock is a day later than the one before."""
    poller = bot.get_cog("Feeds").poller
    poller.clock = lambda: START + 86400 * next(DAYS)
    poller.wake()


async def command(fake: FakeDiscord, sub: str, **options: Any) -> str:
    interaction = await slash(fake, GUILD, ADMIN, "feeds", subcommand=sub, **options)
    return (await interaction.wait_final(30))["content"]


def notices(fake: FakeDiscord) -> list[str]:
    return [m["content"] for m in fake.channel_messages(OPS)]


async def test_a_failing_feed_is_told_once_then_when_it_works_again(fake, tmp_path):
    site = {"up": True, "polls": 0}
    with make_service(tmp_path / "data", fetch_allow="127.0.0.1", feed_pause_after=0) as svc:
        feeds = svc.store.feeds
        async with local_site(rss_site(site)) as base:
            async with running_bot(fake, svc, health_port=0) as bot:
                told = await command(fake, "notify", channel=OPS)
                assert "fails 3 polls in a row" in told and f"<#{OPS}>" in told
                added = await command(fake, "add", url=f"{base}/rss")
                assert "Following `1` **Tram Times**" in added
                await eventually(lambda: svc.sources(COLLECTION), seconds=20)

                site["up"] = False
                time_flies(bot)
                await eventually(lambda: feeds.get(1).failures >= 4, seconds=30)
                assert len(notices(fake)) == 1
                notice = notices(fake)[0]
                assert notice.startswith("⚠️ Feed `1` **Tram Times**")
                assert "has failed 3 polls in a row: the server answered 500" in notice
                assert "`/feeds remove 1`" in notice and "`/feeds pause 1`" in notice
                assert f"{base}/rss" not in notice  # the address is shown as text, not a link
                assert base.replace("://", "\\://") + "/rss" in notice

                listed = await command(fake, "list")
                assert "last success" in listed and "1 article added" in listed
                # (its clock ran ahead: the times it recorded are days from now)
                assert re.search(r"last error in \d+ days: the server answered 500", listed)
                assert re.search(r" · \d+ failed polls in a row$", listed)

                async with aiohttp.ClientSession() as http:
                    url = f"http://127.0.0.1:{bot.health.port}/metrics"
                    async with http.get(url) as response:
                        metrics = await response.text()
                assert 'newsbot_feed_notices_total{shard="0"} 1.0' in metrics
                assert 'newsbot_feed_poll_failures_total{shard="0"}' in metrics

            # A restart while it still fails: the notice was kept, it is not posted again.
            async with running_bot(fake, svc) as bot:
                time_flies(bot)
                failures = feeds.get(1).failures
                await eventually(lambda: feeds.get(1).failures >= failures + 2, seconds=30)
                assert len(notices(fake)) == 1

                site["up"] = True
                await eventually(lambda: len(notices(fake)) == 2, seconds=30)
                assert notices(fake)[1] == (
                    "✅ Feed `1` **Tram Times** "
                    + base.replace("://", "\\://")
                    + "/rss works again: its new articles are being added."
                )
                feed = feeds.get(1)
                assert feed.failures == 0 and feed.notice is None and feed.last_success_at
    assert fake.unhandled == [] and fake.errors == []


async def test_a_feed_the_bot_pauses_is_told_with_how_to_resume(fake, tmp_path):
    site = {"up": True, "polls": 0}
    with make_service(
        tmp_path / "data", fetch_allow="127.0.0.1", feed_notice_after=10, feed_pause_after=3
    ) as svc:
        async with local_site(rss_site(site)) as base, running_bot(fake, svc) as bot:
            await command(fake, "notify", channel=OPS)
            await command(fake, "add", url=f"{base}/rss")
            await eventually(lambda: svc.sources(COLLECTION), seconds=20)
            site["up"] = False
            time_flies(bot)
            await eventually(lambda: svc.store.feeds.get(1).paused, seconds=30)
            await eventually(lambda: notices(fake), seconds=10)
            polls = site["polls"]
            assert notices(fake) == [
                "⏸️ I paused feed `1` **Tram Times** "
                + base.replace("://", "\\://")
                + "/rss after 3 failed polls in a row. The last error: the server answered 500.\n"
                "Check that the address still opens in a browser. If the feed moved, "
                "`/feeds remove 1` and `/feeds add` its new address; once it works again, "
                "`/feeds resume 1`."
            ]
            assert "⏸️ paused" in await command(fake, "list")
            # Paused, it is polled no more; resumed, it starts over.
            site["up"] = True
            assert site["polls"] == polls
            await command(fake, "resume", feed_id=1)
            await eventually(lambda: svc.store.feeds.get(1).last_status == "ok")
            feed = svc.store.feeds.get(1)
            assert feed.failures == 0 and feed.last_success_at > feed.last_error_at
            assert len(notices(fake)) == 1  # nothing was told since the resume: no "works again"
    assert fake.unhandled == [] and fake.errors == []


async def test_notices_go_nowhere_until_a_channel_is_set_and_stop_when_unset(fake, tmp_path):
    with make_service(tmp_path / "data") as svc:
        async with running_bot(fake, svc):
            assert svc.feed_notice_channel(COLLECTION) is None
            await command(fake, "notify", channel=OPS)
            assert svc.feed_notice_channel(COLLECTION) == OPS
            stopped = await command(fake, "notify")
            assert "no longer posted" in stopped
            assert svc.feed_notice_channel(COLLECTION) is None
