"""Issue #10's Discord features through the fake Discord with the real discord.py client:
the message context menus, 👍/👎 feedback (persistent across a restart), follow-ups by reply,
and /help; with their registration, limits, permission refusals and bad input."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot import render
from bot.cogs.ask import question_from
from bot_helpers import running_bot
from fakediscord import MANAGE_GUILD, FakeDiscord, FakeGuild, FakeMember, FakeUser
from helpers import (
    BACK_TO_SCHEMA_7,
    FAKE_EMBEDDER_BARS,
    SAMPLE,
    SAMPLE_QUESTION,
    SAMPLE_TITLE,
    eventually,
    make_service,
)
from index import cli
from index.service import NewsService

pytestmark = [pytest.mark.timeout(60), pytest.mark.backends]

ALICE = FakeUser(301, "alice")
BOB = FakeUser(302, "bob")
CAROL = FakeUser(303, "carol")
ADMIN = FakeMember(ALICE, permissions=MANAGE_GUILD | 0x800 | 0x400)
MEMBER = FakeMember(BOB, permissions=0x800 | 0x400)
OTHER = FakeMember(CAROL, permissions=0x800 | 0x400)
GUILD = FakeGuild(
    5001, "Delta", owner_id=998, channels=[(6001, "news")], members=[ADMIN, MEMBER, OTHER]
)
CHANNEL = 6001
COLLECTION = f"guild-{GUILD.id}"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(guilds=[GUILD], heartbeat_interval_ms=100) as server:
        yield server


@pytest.fixture
def service(tmp_path: Path) -> AsyncIterator[NewsService]:
    with make_service(tmp_path / "data", **FAKE_EMBEDDER_BARS) as svc:
        yield svc


@pytest.fixture
async def bot(fake, service):
    async with running_bot(fake, service) as client:
        yield client


async def post(fake: FakeDiscord, author: FakeUser, content: str, **kw) -> dict:
    return await fake.send_message(
        guild_id=GUILD.id, channel_id=CHANNEL, author=author, content=content, **kw
    )


async def menu(fake: FakeDiscord, member: FakeMember, name: str, target: dict):
    return await fake.send_interaction(
        guild_id=GUILD.id, channel_id=CHANNEL, member=member, name=name, target_message=target
    )


def buttons(message: dict) -> list[str]:
    return [c["custom_id"] for row in message["components"] for c in row["components"]]


async def ask_about(fake: FakeDiscord, member: FakeMember, text: str) -> dict:
    target = await post(fake, member.user, text)
    interaction = await menu(fake, member, "Ask newsbot about this", target)
    return await interaction.wait_final(30)


async def shown(service: NewsService, message: dict):
    """The answer a message shows (recorded just after the message is sent)."""
    await eventually(lambda: service.feedback.in_message(int(message["id"])))
    return service.feedback.in_message(int(message["id"]))


def ingest_sample(service: NewsService) -> None:
    report = service.ingest_paths(COLLECTION, [SAMPLE])
    assert report.added


# ------------------------------------------------------------------ registration


async def test_the_context_menus_are_message_commands_for_servers_only(fake, bot):
    registered = {(c["name"], c["type"]): c for c in fake.registered_commands[None]}
    for name in ("Add to newsbot", "Ask newsbot about this"):
        command = registered[(name, 3)]
        assert command["dm_permission"] is False
        assert command["default_member_permissions"] is None
        assert command["description"] == ""
    assert ("help", 1) in registered
    assert fake.unhandled == [] and fake.errors == []


# ------------------------------------------------------------------ Add to newsbot


async def test_add_to_newsbot_reads_a_message_like_ingest_and_refuses_an_empty_one(
    fake, bot, service
):
    text = SAMPLE.read_text()
    target = await post(fake, ALICE, text)
    added = await menu(fake, MEMBER, "Add to newsbot", target)
    final = await added.wait_final(60)
    assert not final["flags"] & 64
    assert final["content"].startswith("✅ Added `#1`")
    again = await (await menu(fake, MEMBER, "Add to newsbot", target)).wait_final(60)
    assert "Already indexed" in again["content"]

    empty_target = await post(fake, ALICE, "   ", attachments=[])
    refused = await (await menu(fake, MEMBER, "Add to newsbot", empty_target)).wait_response()
    assert refused["type"] == 4 and refused["data"]["flags"] & 64
    assert "no text, links or files" in refused["data"]["content"]

    att = fake.add_attachment("corpus.jsonl", b'{"text": "x"}\n', "application/json")
    with_file = await post(fake, ALICE, "", attachments=[att])
    failed = await (await menu(fake, MEMBER, "Add to newsbot", with_file)).wait_final(30)
    assert failed["flags"] & 64 and "corpus.jsonl: I read articles from" in failed["content"]
    assert [a.id for a in service.sources(COLLECTION)] == [1]
    assert fake.unhandled == [] and fake.errors == []


async def test_add_to_newsbot_has_the_ingest_limit(fake, service):
    async with running_bot(fake, service, ingest_cooldown_seconds=60, ingest_burst=1):
        first = await post(fake, ALICE, SAMPLE.read_text())
        await (await menu(fake, MEMBER, "Add to newsbot", first)).wait_final(60)
        second = await post(fake, ALICE, "Another story about ferries and the harbour " * 5)
        limited = await (await menu(fake, MEMBER, "Add to newsbot", second)).wait_response()
        assert limited["data"]["flags"] & 64
        assert limited["data"]["content"].startswith("Slow down a little")
    assert len(service.sources(COLLECTION)) == 1


# ------------------------------------------------------------------ Ask newsbot about this


async def test_ask_about_a_message_answers_its_text_with_vote_buttons(fake, bot, service):
    ingest_sample(service)
    final = await ask_about(fake, MEMBER, f"<@{ALICE.id}> {SAMPLE_QUESTION} https://x.example/a")
    embed = final["embeds"][0]
    assert embed["title"] == SAMPLE_QUESTION
    assert SAMPLE_TITLE[:40] in json.dumps(embed, ensure_ascii=False)
    record = await shown(service, final)
    assert record.question == SAMPLE_QUESTION and record.citations
    assert buttons(final) == [f"newsbot:vote:{record.id}:up", f"newsbot:vote:{record.id}:down"]

    blank = await post(fake, ALICE, "<@301> https://x.example/only-a-link")
    refused = await (await menu(fake, MEMBER, "Ask newsbot about this", blank)).wait_response()
    assert refused["data"]["flags"] & 64 and "no text to ask about" in refused["data"]["content"]
    assert fake.unhandled == [] and fake.errors == []


def test_a_message_becomes_a_question_without_mentions_or_links_and_cut_at_a_word():
    assert question_from("<@1> what   happened\nin Gaza? https://a.b/c") == "what happened in Gaza?"
    long = question_from("word " * 300)
    assert len(long) <= 500 and long.endswith("word")


# ------------------------------------------------------------------ feedback


async def test_one_vote_a_member_changeable_and_the_worst_listed(fake, bot, service, capsys):
    ingest_sample(service)
    final = await ask_about(fake, MEMBER, SAMPLE_QUESTION)
    up, down = buttons(final)

    first = await (await fake.press(message=final, custom_id=up, member=MEMBER)).wait_response()
    assert first["type"] == 4 and first["data"]["flags"] & 64
    assert first["data"]["content"] == render.vote_thanks(
        "up", dataclasses.replace(await shown(service, final), up=1, down=0)
    )
    changed = await (await fake.press(message=final, custom_id=down, member=MEMBER)).wait_response()
    assert "0 👍 and 1 👎" in changed["data"]["content"]
    other = await (await fake.press(message=final, custom_id=down, member=OTHER)).wait_response()
    assert "0 👍 and 2 👎" in other["data"]["content"]

    (worst,) = service.feedback.worst(COLLECTION)
    assert (worst.question, worst.up, worst.down) == (SAMPLE_QUESTION, 0, 2)
    assert worst.citations[0].title == SAMPLE_TITLE

    def cli_service(args):  # the command line's own process, on the bot's data folder
        return make_service(service.settings)

    assert cli.main(["feedback"], service=cli_service) == 0
    out = capsys.readouterr().out
    assert f"answer {worst.id}  👎 2 👍 0  [{COLLECTION}" in out and SAMPLE_QUESTION in out
    assert cli.main(["feedback", "--questions"], service=cli_service) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row == {"id": f"answer-{worst.id}", "question": SAMPLE_QUESTION, "as_of": worst.as_of}
    assert fake.unhandled == [] and fake.errors == []


async def test_vote_buttons_still_work_after_a_restart_and_say_so_when_the_answer_is_gone(
    fake, service
):
    ingest_sample(service)
    async with running_bot(fake, service):
        final = await ask_about(fake, MEMBER, SAMPLE_QUESTION)
    up, _ = buttons(final)
    async with running_bot(fake, service):  # a new process: nothing of the first in memory
        pressed = await (
            await fake.press(message=final, custom_id=up, member=OTHER)
        ).wait_response()
        assert "1 👍 and 0 👎" in pressed["data"]["content"]
        record = await shown(service, final)
        with service.store.transaction() as db:
            db.execute(f"DELETE FROM answers WHERE id = {int(record.id)}")  # either backend
        gone = await (await fake.press(message=final, custom_id=up, member=OTHER)).wait_response()
        assert gone["data"]["flags"] & 64 and gone["data"]["content"] == render.VOTE_GONE
    assert fake.unhandled == [] and fake.errors == []


@pytest.mark.sqlite_only  # reads SQLite directly; test_features_store holds both backends
def test_a_channel_keeps_a_bounded_number_of_unvoted_answers(tmp_path):
    with make_service(tmp_path / "data", answers_kept_per_channel=3) as svc:
        from index.models import Answer

        ids = [
            svc.feedback.record(COLLECTION, Answer(f"question {i}", False), channel_id=7)
            for i in range(3)
        ]
        svc.feedback.vote(COLLECTION, ids[0], "1", -1)  # voted: kept whatever follows
        for i in range(3, 8):
            svc.feedback.record(COLLECTION, Answer(f"question {i}", False), channel_id=7)
        kept = svc.store.db.execute("SELECT question FROM answers ORDER BY id").fetchall()
        assert [r[0] for r in kept] == ["question 0", "question 5", "question 6", "question 7"]
        with pytest.raises(ValueError):
            svc.store.feedback.vote(ids[0], "1", 2)


@pytest.mark.sqlite_only  # SQLite's own file and schema
def test_a_schema_3_store_migrates_to_4_and_keeps_its_articles(tmp_path):
    from index.store.schema import MIGRATIONS, SCHEMA_VERSION, statements

    with make_service(tmp_path / "data") as svc:
        ingest_sample(svc)
    path = tmp_path / "data" / "newsbot.sqlite3"
    con = sqlite3.connect(path)
    con.executescript(
        "DROP TABLE answer_votes; DROP TABLE answers; DROP TABLE watch_alerts;"
        " DROP TABLE watches; DROP TABLE digests; DROP TABLE chunk_log;"
        " DROP INDEX article_sources_once; ALTER TABLE collections DROP COLUMN logged_from;"
        + BACK_TO_SCHEMA_7
        + " PRAGMA user_version = 3;"
    )
    con.close()
    with make_service(tmp_path / "data") as svc:
        assert svc.store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 4
        assert len(svc.sources(COLLECTION)) == 1
        from index.models import Answer

        answer_id = svc.feedback.record(COLLECTION, Answer("q?", False))
        assert svc.feedback.vote(COLLECTION, answer_id, "me", -1).down == 1
    assert statements(MIGRATIONS[4])


# ------------------------------------------------------------------ follow-ups


async def test_a_reply_to_an_answer_continues_its_question(fake, bot, service):
    ingest_sample(service)
    final = await ask_about(fake, MEMBER, SAMPLE_QUESTION)
    earlier = await shown(service, final)
    reply = await post(fake, OTHER.user, "and what did they say about it?", reply_to=final)
    answer = await fake.wait_channel_message(CHANNEL, after=reply["id"], timeout=30)
    assert answer["message_reference"]["message_id"] == reply["id"]
    embed = answer["embeds"][0]
    assert embed["title"].startswith("and what did they say about it? (")
    assert "nis" in embed["title"].lower() and "satellite" in embed["title"].lower()
    assert embed["footer"]["text"].startswith(f"Following up on: {earlier.question}")
    follow = await shown(service, answer)
    assert buttons(answer)[0] == f"newsbot:vote:{follow.id}:up"

    # a reply to something that is not an answer is ignored
    plain = await post(fake, ALICE, "just chatting")
    await post(fake, OTHER.user, "and what about it?", reply_to=plain)
    assert fake.channel_messages(CHANNEL)[-1]["id"] == answer["id"]
    assert fake.unhandled == [] and fake.errors == []


async def test_a_follow_up_after_a_restart_still_continues_the_answer(fake, service):
    ingest_sample(service)
    async with running_bot(fake, service):
        final = await ask_about(fake, MEMBER, SAMPLE_QUESTION)
        await shown(service, final)
    async with running_bot(fake, service):
        reply = await post(fake, OTHER.user, "why?", reply_to=final)
        answer = await fake.wait_channel_message(CHANNEL, after=reply["id"], timeout=30)
        assert answer["embeds"][0]["title"].startswith("why? (")
        assert "satellite" in answer["embeds"][0]["title"].lower()
    assert fake.unhandled == [] and fake.errors == []


def test_the_alert_bar_setting_is_the_calibrated_one():
    from index.features.watches import ALERT_BAR
    from index.settings import CoreSettings

    assert CoreSettings().alert_bar == ALERT_BAR


# ------------------------------------------------------------------ /help


async def test_help_shows_admin_commands_to_admins_only(fake, bot):
    def fields(final: dict) -> dict[str, str]:
        return {f["name"]: f["value"] for f in final["embeds"][0]["fields"]}

    seen = fields(
        await (
            await fake.send_interaction(
                guild_id=GUILD.id, channel_id=CHANNEL, member=MEMBER, name="help"
            )
        ).wait_final()
    )
    assert "/ask" in seen["Commands"] and "/help" in seen["Commands"]
    assert "`/timeline` — One story's developments, newest first" in seen["Commands"]
    assert not seen["Commands"].endswith("…"), seen["Commands"]
    assert "Add to newsbot" in seen["On any message (right-click → Apps)"]
    assert not any("Admin" in name for name in seen)
    assert "/forget" not in json.dumps(seen)
    admin = fields(
        await (
            await fake.send_interaction(
                guild_id=GUILD.id, channel_id=CHANNEL, member=ADMIN, name="help"
            )
        ).wait_final()
    )
    admin_rows = admin["Admin commands (you can use these)"]
    assert "/forget" in admin_rows and "/feeds add" in admin_rows and "/rebuild-index" in admin_rows
    assert fake.unhandled == [] and fake.errors == []
