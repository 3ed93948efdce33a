"""/watch through the fake Discord: standing questions whose alerts reach a channel or a DM
when matching news arrives by any path (here the service, as a feed or the command line
would), once a story (the real model: its texts decide), quiet during a bulk import, with
limits and permissions, kept across a restart, and never a DM to someone no longer in the
server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot_helpers import running_bot
from fakediscord import MANAGE_GUILD, FakeDiscord, FakeGuild, FakeMember, FakeUser
from helpers import FAKE_EMBEDDER_BARS, eventually, make_service
from index.errors import InputError
from index.features.watches import matching_sentence, same_story
from index.models import Document
from index.search.embed import Embedder
from index.service import NewsService

pytestmark = [pytest.mark.timeout(60), pytest.mark.backends]

ALICE = FakeUser(401, "alice")
BOB = FakeUser(402, "bob")
CAROL = FakeUser(403, "carol")
ADMIN = FakeMember(ALICE, permissions=MANAGE_GUILD | 0x800 | 0x400)
MEMBER = FakeMember(BOB, permissions=0x800 | 0x400)
OTHER = FakeMember(CAROL, permissions=0x800 | 0x400)
GUILD = FakeGuild(
    7001,
    "Epsilon",
    owner_id=999,
    channels=[(8001, "general"), (8002, "alerts")],
    members=[ADMIN, MEMBER, OTHER],
)
COLLECTION = f"guild-{GUILD.id}"
FAST = {"alert_scan_seconds": 0.05}

HARBOUR = (
    "The harbour of Brest reopened on Friday after the storm, the port authority said. "
    "Ferries to the islands will run a reduced timetable until Monday while crews inspect "
    "the quays for storm damage."
)
HARBOUR_AGAIN = (
    "Brest harbour reopened Friday once the storm passed, port officials said, and ferry "
    "crews began inspecting the quays for damage left by the winds."
)
# The same wire story as HARBOUR, as another paper ran it: its dateline in front.
HARBOUR_WIRED = "BREST (AFP) — " + HARBOUR
# A series: the same title but for its number, other news each time.
REPORT_1 = (
    "The Brest harbour master logged forty ferry crossings to the islands this week. The new "
    "storm barrier on the north quay was tested on Tuesday without trouble, and dredging of the "
    "marina will begin next month."
)
REPORT_2 = (
    "A cargo ship ran aground at the entrance of Brest harbour on Thursday morning, and the "
    "ferries to the islands were held in port. Tugs freed the ship at high tide; the first ferry "
    "left two hours late."
)
BUDGET = (
    "The city council approved next year's school budget on Tuesday, adding funds for "
    "teachers, new laptops and repairs to three primary schools in the northern districts."
)


def doc(text: str, title: str, source: str = "Ouest Wire", n: int = 0) -> Document:
    return Document(
        text=text, title=title, source=source, published_at="2026-11-30", origin=f"t{n}"
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD], heartbeat_interval_ms=100) as server:
        yield server


@pytest.fixture
def service(tmp_path: Path):
    with make_service(tmp_path / "data", alert_bar=0.3, **FAKE_EMBEDDER_BARS) as svc:
        yield svc


async def watch(fake, member, subcommand, **options):
    interaction = await fake.send_interaction(
        guild_id=GUILD.id,
        channel_id=8001,
        member=member,
        name="watch",
        subcommand=subcommand,
        options=options,
    )
    return await interaction.wait_final(20)


def dms(fake: FakeDiscord, user: FakeUser) -> list[dict]:
    return fake.channel_messages(fake.dm_channel_id(user))


def alerts_counted(bot) -> float:
    """``newsbot_watch_alerts_total`` as /metrics would export it (one shard: "0")."""
    labels = {"shard": "0"}
    return bot.metrics.registry.get_sample_value("newsbot_watch_alerts_total", labels) or 0.0


async def test_a_personal_watch_alerts_by_dm(fake, service):
    async with running_bot(fake, service, **FAST) as bot:
        assert alerts_counted(bot) == 0
        registered = {c["name"]: c for c in fake.registered_commands[None]}
        assert registered["watch"]["dm_permission"] is False
        assert {o["name"] for o in registered["watch"]["options"]} == {"add", "list", "remove"}

        added = await watch(fake, MEMBER, "add", topic="Brest harbour storm ferries")
        assert (
            added["flags"] & 64
            and "🔔 Watching `1` **Brest harbour storm ferries**" in (added["content"])
        )
        service.ingest(COLLECTION, [doc(BUDGET, "Council passes school budget", n=1)])
        service.ingest(COLLECTION, [doc(HARBOUR, "Brest harbour reopens after storm", n=2)])
        await eventually(lambda: dms(fake, BOB))
        (alert,) = dms(fake, BOB)
        embed = alert["embeds"][0]
        assert embed["title"] == "Brest harbour reopens after storm"
        assert embed["description"].startswith("“The harbour of Brest reopened on Friday")
        assert [f["value"] for f in embed["fields"]] == ["Ouest Wire", "2026-11-30"]
        assert embed["footer"]["text"].startswith("🔔 Watch 1 in Epsilon: Brest harbour storm")
        # counted once discord.py has Discord's reply to the DM, a moment after Discord has it
        await eventually(lambda: alerts_counted(bot) == 1)

        assert fake.channel_messages(8001) == [] and fake.channel_messages(8002) == []
    assert fake.unhandled == [] and fake.errors == []


async def test_channel_watches_are_for_admins_and_alert_the_channel(fake, service):
    async with running_bot(fake, service, **FAST):
        refused = await watch(fake, MEMBER, "add", topic="harbour storm", channel=8002)
        assert refused["flags"] & 64 and "Only members with Manage Server" in refused["content"]
        ok = await watch(fake, ADMIN, "add", topic="Brest harbour storm ferries", channel=8002)
        assert "posted in <#8002>" in ok["content"]
        service.ingest(COLLECTION, [doc(HARBOUR, "Brest harbour reopens after storm")])
        alert = await fake.wait_channel_message(8002, timeout=10)
        assert alert["embeds"][0]["title"] == "Brest harbour reopens after storm"
    assert fake.unhandled == [] and fake.errors == []


async def test_limits_ownership_and_listing(fake, tmp_path):
    with make_service(
        tmp_path / "d", watches_per_member=2, watches_per_collection=3, **FAKE_EMBEDDER_BARS
    ) as service:
        async with running_bot(fake, service, **FAST):
            for topic in ("storms", "budgets"):
                await watch(fake, MEMBER, "add", topic=topic)
            third = await watch(fake, MEMBER, "add", topic="ferries")
            assert "most a member may have" in third["content"]
            await watch(fake, OTHER, "add", topic="elections")
            full = await watch(fake, OTHER, "add", topic="football")
            assert "most it may have" in full["content"]
            again = await watch(fake, MEMBER, "add", topic="  x ")
            assert again["flags"] & 64

            mine = await watch(fake, MEMBER, "list")
            assert "Your watches" in mine["content"] and "elections" not in mine["content"]
            everyone = await watch(fake, ADMIN, "list")
            assert "elections" in everyone["content"] and "storms" in everyone["content"]

            not_yours = await watch(fake, OTHER, "remove", watch_id=1)
            assert "another member's" in not_yours["content"]
            gone = await watch(fake, MEMBER, "remove", watch_id=1)
            assert gone["content"].startswith("Stopped watching `1` **storms**")
            by_admin = await watch(fake, ADMIN, "remove", watch_id=3)
            assert "elections" in by_admin["content"]
            missing = await watch(fake, ADMIN, "remove", watch_id=99)
            assert missing["content"] == "There is no watch 99 here."
            assert [w.topic for w in service.watches.of_collection(COLLECTION)] == ["budgets"]
    assert fake.unhandled == [] and fake.errors == []


async def test_news_that_arrives_while_the_bot_is_down_alerts_after_the_restart(fake, service):
    async with running_bot(fake, service, **FAST):
        await watch(fake, MEMBER, "add", topic="Brest harbour storm ferries")
    service.ingest(COLLECTION, [doc(HARBOUR, "Brest harbour reopens after storm")])
    async with running_bot(fake, service, **FAST):
        await eventually(lambda: dms(fake, BOB))
        assert dms(fake, BOB)[0]["embeds"][0]["title"] == "Brest harbour reopens after storm"
    assert fake.unhandled == [] and fake.errors == []


async def test_a_bulk_import_sends_one_summary(fake, service):
    async with running_bot(fake, service, alert_bulk=3, **FAST):
        await watch(fake, MEMBER, "add", topic="Brest harbour storm ferries")
        storms = [
            doc(f"{HARBOUR} Update number {i}: {'more ' * i}news.", f"Storm diary day {i}", n=i)
            for i in range(5)
        ]
        service.ingest(COLLECTION, [*storms, doc(BUDGET, "Council budget", n=9)])
        await eventually(lambda: dms(fake, BOB))
        (summary,) = dms(fake, BOB)
        assert summary["content"].startswith("🔔 A bulk import added 6 articles in **Epsilon**;")
        assert "match your watch `1` **Brest harbour storm ferries**" in summary["content"]
        assert "Council budget" not in summary["content"]
    assert fake.unhandled == [] and fake.errors == []


def test_matching_sentence_and_same_story():
    text = "Markets fell. The harbour of Brest reopened after the storm. Ferries run again."
    assert matching_sentence("Brest harbour storm", text) == (
        "The harbour of Brest reopened after the storm."
    )
    assert same_story(
        "Brest harbour reopens after storm", ["Brest harbour reopens after the storm"]
    )
    assert not same_story("Council passes school budget", ["Brest harbour reopens after storm"])


def test_a_topic_must_say_something(service: NewsService):
    with pytest.raises(InputError):
        service.watches.add(COLLECTION, "  a  ", owner="1", channel_id=None)
    with pytest.raises(InputError, match="needs words"):
        service.watches.add(COLLECTION, "?! …", owner="1", channel_id=None)


@pytest.mark.model
async def test_one_alert_a_story_as_the_texts_tell_it_not_the_titles(
    fake, tmp_path: Path, real_embedder: Embedder
):
    with make_service(tmp_path / "real", real_embedder) as service:  # the shipped alert bar
        async with running_bot(fake, service, **FAST):
            await watch(fake, MEMBER, "add", topic="Brest harbour ferries")
            service.ingest(COLLECTION, [doc(HARBOUR, "Brest harbour reopens after storm", n=1)])
            await eventually(lambda: dms(fake, BOB))
            # the same story: another outlet's rewrite under nearly the same title, and the
            # wire copy under a headline of its own (too short to be merged at ingest)
            service.ingest(
                COLLECTION,
                [doc(HARBOUR_AGAIN, "Brest harbour reopens after the storm", "AFP", 2)],
            )
            service.ingest(
                COLLECTION,
                [doc(HARBOUR_WIRED, "Storm over: Brest port back in business", "Le Télégramme", 3)],
            )
            # a series whose titles share half their words, telling other news: both alert
            service.ingest(COLLECTION, [doc(REPORT_1, "Harbour report 1", n=4)])
            service.ingest(COLLECTION, [doc(REPORT_2, "Harbour report 2", n=5)])
            await eventually(lambda: len(dms(fake, BOB)) >= 3, 30)
            assert [m["embeds"][0]["title"] for m in dms(fake, BOB)] == [
                "Brest harbour reopens after storm",
                "Harbour report 1",
                "Harbour report 2",
            ]
    assert fake.unhandled == [] and fake.errors == []


MEMBER_ROUTE = r"/guilds/\d+/members/\d+"


def lookups(fake: FakeDiscord, user: FakeUser) -> list[int]:
    """The statuses of the bot's member lookups of ``user`` in the test server, in order."""
    path = f"/guilds/{GUILD.id}/members/{user.id}"
    return [r.status for r in fake.requests if r.method == "GET" and r.path == path]


async def scanned(service: NewsService) -> None:
    """Until the alert scan has looked at every article stored so far."""
    cid = service.store.collections.id_of(COLLECTION)
    latest = str(service.store.watches.latest_article_id(cid))
    await eventually(lambda: service.store.get_meta(f"alerts.seen.{cid}") == latest)


async def test_a_member_who_left_gets_no_dm_and_loses_their_watches_there(fake, service, caplog):
    caplog.set_level("INFO", logger="newsbot.watch")
    async with running_bot(fake, service, **FAST):
        await watch(fake, MEMBER, "add", topic="Brest harbour storm ferries")
        await watch(fake, MEMBER, "add", topic="school budget council")
        await watch(fake, OTHER, "add", topic="Brest harbour storm ferries")
        await fake.leave(guild_id=GUILD.id, user=BOB)  # still shares other servers with the bot

        service.ingest(COLLECTION, [doc(HARBOUR, "Brest harbour reopens after storm")])
        await eventually(lambda: dms(fake, CAROL))
        await scanned(service)
        await eventually(lambda: not service.watches.of_collection(COLLECTION, str(BOB.id)))
        assert dms(fake, BOB) == [] and lookups(fake, BOB) == [404]
        assert f"member {BOB.id} is no longer in server {GUILD.id}" in caplog.text

        # the member still there gets the DM, which names the server it comes from
        (alert,) = dms(fake, CAROL)
        footer = alert["embeds"][0]["footer"]["text"]
        assert footer.startswith("🔔 Watch 3 in Epsilon: Brest harbour storm ferries")
        assert [w.topic for w in service.watches.of_collection(COLLECTION)] == [
            "Brest harbour storm ferries"
        ]

        # nothing the gone member watched is sent later either
        service.ingest(COLLECTION, [doc(BUDGET, "Council passes school budget", n=5)])
        await scanned(service)
        assert dms(fake, BOB) == [] and lookups(fake, BOB) == [404]
    assert fake.unhandled == [] and fake.errors == []


async def test_a_banned_member_loses_their_personal_watches_at_once(fake, service):
    async with running_bot(fake, service, **FAST):
        await watch(fake, ADMIN, "add", topic="Brest harbour storm ferries")
        await watch(fake, ADMIN, "add", topic="Brest harbour storm ferries", channel=8002)
        await fake.leave(guild_id=GUILD.id, user=ALICE, banned=True)
        # the gateway tells of the ban: the personal watch goes before any news
        await eventually(
            lambda: [w.channel_id for w in service.watches.of_collection(COLLECTION)] == [8002]
        )
        # the channel watch is the server's: it stays and still alerts the channel
        service.ingest(COLLECTION, [doc(HARBOUR, "Brest harbour reopens after storm")])
        alert = await fake.wait_channel_message(8002, timeout=10)
        assert alert["embeds"][0]["footer"]["text"].startswith("🔔 Watch 2: Brest harbour")
        await scanned(service)
        assert dms(fake, ALICE) == [] and lookups(fake, ALICE) == []
    assert fake.unhandled == [] and fake.errors == []


async def test_a_failed_member_lookup_keeps_the_watch_and_the_alert_comes_later(fake, service):
    async with running_bot(fake, service, **FAST):
        await watch(fake, MEMBER, "add", topic="Brest harbour storm ferries")
        fake.outage("GET", MEMBER_ROUTE, times=2)  # Discord has a bad moment
        service.ingest(COLLECTION, [doc(HARBOUR, "Brest harbour reopens after storm")])
        await eventually(lambda: dms(fake, BOB))
        assert lookups(fake, BOB) == [503, 503, 200]
        assert [w.topic for w in service.watches.of_collection(COLLECTION, str(BOB.id))] == [
            "Brest harbour storm ferries"
        ]
        (alert,) = dms(fake, BOB)
        assert alert["embeds"][0]["title"] == "Brest harbour reopens after storm"
    assert fake.unhandled == [] and fake.errors == []


async def test_a_dm_names_its_server_as_plain_text(tmp_path: Path):
    """A server's name is data: shown as it is, never markdown or a ping."""
    name = "**Ops** @everyone _desk_"
    ops = FakeGuild(7002, name, owner_id=999, channels=[(8101, "general")], members=[MEMBER])
    collection = f"guild-{ops.id}"
    async with FakeDiscord(guilds=[ops]) as fake:
        with make_service(tmp_path / "d", alert_bar=0.25, **FAKE_EMBEDDER_BARS) as service:
            async with running_bot(fake, service, alert_bulk=2, **FAST):
                added = await fake.send_interaction(
                    guild_id=ops.id,
                    channel_id=8101,
                    member=MEMBER,
                    name="watch",
                    subcommand="add",
                    options={"topic": "Brest harbour storm ferries"},
                )
                await added.wait_final(20)
                service.ingest(
                    collection,
                    [doc(HARBOUR, "Brest harbour reopens after storm", n=1), doc(BUDGET, "Budget")],
                )
                await eventually(lambda: dms(fake, BOB))
                summary = dms(fake, BOB)[0]["content"]
                assert "articles in **\\*\\*Ops\\*\\* @\u200beveryone \\_desk\\_**;" in summary
                service.ingest(
                    collection,
                    [
                        doc(
                            REPORT_1,
                            "Brest harbour ferries run as the storm barrier is tested",
                            n=2,
                        )
                    ],
                )
                await eventually(lambda: len(dms(fake, BOB)) == 2)
                footer = dms(fake, BOB)[1]["embeds"][0]["footer"]["text"]  # plain text there
                assert footer.startswith(f"🔔 Watch 1 in {name}: Brest harbour storm ferries")
        assert fake.unhandled == [] and fake.errors == []


@pytest.mark.parametrize(
    ("topic", "shown"),
    [
        ("\u200b\u200b\u200b", "U+200B"),  # zero-width spaces only
        ("harbour \u202estorm ferries", "U+202E"),  # right-to-left override
        ("\u2067Brest\u2069 harbour", "U+2067, U+2069"),  # bidi isolates
        ("\u3164\u3164\u3164", "U+3164"),  # Hangul fillers: letters that show nothing
        ("storm\u00ad ferries\ufeff", "U+00AD, U+FEFF"),  # soft hyphen, byte-order mark
    ],
)
async def test_invisible_and_direction_characters_in_a_topic_are_refused(
    fake, service, topic, shown
):
    async with running_bot(fake, service, **FAST):
        refused = await watch(fake, MEMBER, "add", topic=topic)
        assert refused["flags"] & 64
        assert refused["content"] == (
            "A watch's topic can't hold invisible or text-direction characters"
            f" ({shown}): type it as plain words."
        )
        assert service.watches.of_collection(COLLECTION) == []
        # joiners inside words are spelling (Persian here): accepted
        ok = await watch(fake, MEMBER, "add", topic="آتش\u200cسوزی بندر")
        assert ok["content"].startswith("🔔 Watching `1`")
    assert fake.unhandled == [] and fake.errors == []
