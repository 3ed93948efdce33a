"""/digest through the fake Discord: admins set a channel, an hour and a time zone; the digest
groups a day's stories across outlets and ranks them; `/digest now` previews; the daily post
goes out once a local day, a restart included."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot_helpers import running_bot
from fakediscord import MANAGE_GUILD, FakeDiscord, FakeGuild, FakeMember, FakeUser
from helpers import FAKE_EMBEDDER_BARS, eventually, make_service
from index.models import Document

pytestmark = [pytest.mark.timeout(60), pytest.mark.backends]

ALICE = FakeUser(501, "alice")
BOB = FakeUser(502, "bob")
ADMIN = FakeMember(ALICE, permissions=MANAGE_GUILD | 0x800 | 0x400)
MEMBER = FakeMember(BOB, permissions=0x800 | 0x400)
GUILD = FakeGuild(
    9001,
    "Zeta",
    owner_id=997,
    channels=[(9101, "general"), (9102, "digest")],
    members=[ADMIN, MEMBER],
)
COLLECTION = f"guild-{GUILD.id}"
FAST = {"digest_check_seconds": 0.05}
DAY = "2026-11-30"

HARBOUR = (
    "The harbour of Brest reopened on Friday after the storm, the port authority said. "
    "Ferries to the islands will run a reduced timetable until Monday."
)
HARBOUR_AGAIN = (
    "Brest harbour reopened Friday once the storm passed, port officials said, and ferry "
    "crews began inspecting the quays for damage left by the winds."
)
BUDGET = (
    "The city council approved next year's school budget on Tuesday, adding funds for "
    "teachers, new laptops and repairs to three primary schools in the northern districts."
)


def doc(text: str, title: str, source: str, day: str = DAY) -> Document:
    return Document(text=text, title=title, source=source, published_at=day, origin=title)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD], heartbeat_interval_ms=100) as server:
        yield server


@pytest.fixture
def service(tmp_path: Path):
    with make_service(tmp_path / "data", **FAKE_EMBEDDER_BARS) as svc:
        svc.ingest(COLLECTION, [doc(BUDGET, "Council passes school budget", "City Times")])
        svc.ingest(COLLECTION, [doc(HARBOUR, "Brest harbour reopens after storm", "Ouest Wire")])
        svc.ingest(COLLECTION, [doc(HARBOUR_AGAIN, "Brest harbour reopens after the storm", "AFP")])
        svc.ingest(COLLECTION, [doc(BUDGET + " Earlier.", "Old news", "X", "2026-11-01")])
        yield svc


async def digest(fake, member, subcommand, **options):
    interaction = await fake.send_interaction(
        guild_id=GUILD.id,
        channel_id=9101,
        member=member,
        name="digest",
        subcommand=subcommand,
        options=options,
    )
    return await interaction.wait_final(20)


async def test_admins_only_and_bad_input(fake, service):
    async with running_bot(fake, service, **FAST):
        registered = {c["name"]: c for c in fake.registered_commands[None]}
        assert registered["digest"]["default_member_permissions"] == str(MANAGE_GUILD)
        refused = await digest(fake, MEMBER, "now")
        assert refused["flags"] & 64 and "Only members with Manage Server" in refused["content"]
        zone = await digest(fake, ADMIN, "set", channel=9102, hour=8, timezone="Mars/Olympus")
        assert "not a time zone I know" in zone["content"]
        bad_day = await digest(fake, ADMIN, "now", day="30/11/2026")
        assert "is not a date like" in bad_day["content"]
        off = await digest(fake, ADMIN, "off")
        assert "no daily digest to stop" in off["content"]
        assert service.digests.schedules() == []
    assert fake.unhandled == [] and fake.errors == []


async def test_now_previews_the_day_grouped_across_outlets(fake, service):
    async with running_bot(fake, service, **FAST):
        preview = await digest(fake, ADMIN, "now", day=DAY)
        assert preview["flags"] & 64
        embed = preview["embeds"][0]
        assert embed["title"] == "Preview — 📰 The news of Monday 30 November 2026"
        first, second = embed["fields"]
        assert first["name"].startswith("1. ") and "also in" in first["name"]
        assert {"Ouest Wire", "AFP"} <= set(
            first["name"][3:].replace(" · also in ", ", ").split(", ")
        )
        assert "Brest harbour reopens" in first["value"]
        assert second["name"] == "2. City Times" and "“The city council approved" in second["value"]
        assert embed["footer"]["text"].startswith("3 articles · 2 stories")
        assert "Old news" not in str(embed)
        assert fake.channel_messages(9101) == []
    assert fake.unhandled == [] and fake.errors == []


async def test_the_daily_digest_goes_out_once_a_local_day_across_a_restart(fake, service):
    evening = datetime(2026, 11, 30, 19, 5, tzinfo=UTC)  # 20:05 in Paris
    afternoon = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    async with running_bot(fake, service, clock=lambda: afternoon, **FAST) as bot:
        ok = await digest(fake, ADMIN, "set", channel=9102, hour=20, timezone="Europe/Paris")
        assert ok["content"] == ("📰 The daily digest goes to <#9102> at 20:00 (Europe/Paris).")
        assert fake.channel_messages(9102) == []  # 18:00 in Paris: not yet
        bot.get_cog("Digests").clock = lambda: evening
        posted = await fake.wait_channel_message(9102, timeout=10)
        assert posted["embeds"][0]["title"] == "📰 The news of Monday 30 November 2026"
    # the bot starts in the evening, the digest already posted: whatever the real time is
    async with running_bot(fake, service, clock=lambda: evening, **FAST) as bot:
        await eventually(lambda: service.digests.schedules()[0].last_day == DAY)
        cog = bot.get_cog("Digests")
        await cog.post_due()
        assert len(fake.channel_messages(9102)) == 1
    assert fake.unhandled == [] and fake.errors == []


def test_a_morning_digest_covers_the_day_before(service):
    schedule = service.digests.set(COLLECTION, 9102, 7, "UTC")
    assert service.digests.covers(schedule, "2026-12-01") == DAY
    assert service.digests.due_day(schedule, datetime(2026, 12, 1, 6, 59, tzinfo=UTC)) is None
    assert (
        service.digests.due_day(schedule, datetime(2026, 12, 1, 7, 0, tzinfo=UTC)) == "2026-12-01"
    )
    assert service.digests.build(COLLECTION, DAY).total_stories == 2
