"""Proof that the fake Discord (tests/fakediscord/) speaks enough Discord for a bare bot.

No newsbot code here (the bot is barebot.BareBot): if these pass, a failure in a bot test is
the bot's, not the fake's. Every test runs the real client against the fake on 127.0.0.1 and
closes both (fixtures and ``run_client``); each wait is bounded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import discord
import pytest
import pytest_asyncio

from barebot import (
    ALICE,
    ALICE_MEMBER,
    BOB,
    BOB_MEMBER,
    CHANNEL_ID,
    GUILD_ID,
    BareBot,
    make_guild,
)
from fakediscord import MANAGE_GUILD, FakeDiscord

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(15)]


@pytest_asyncio.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A started fake with one guild; closed after the test."""
    async with FakeDiscord(guilds=[make_guild()], token="test-token") as server:
        yield server


@pytest_asyncio.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[BareBot]:
    """The bare bot, logged in and ready against ``fake``; closed after the test."""
    client = BareBot()
    async with fake.run_client(client, timeout=5):
        yield client


async def test_identify_and_ready(fake: FakeDiscord, bot: BareBot) -> None:
    """IDENTIFY carries token and intents; the bot sees the guild and its channels."""
    await fake.wait_ready(timeout=2)
    assert fake.identify is not None
    assert fake.identify["token"] == "test-token"
    intents = discord.Intents._from_value(fake.identify["intents"])
    assert intents.message_content and intents.guilds and intents.guild_messages
    assert fake.gateway_queries[0]["v"] == "10"
    guild = bot.get_guild(GUILD_ID)
    assert guild is not None and guild.name == "Test Guild"
    assert {c.name for c in guild.text_channels} == {"general", "news"}
    assert guild.me is not None and bot.user is not None and bot.user.id == fake.bot_user.id
    assert fake.unhandled == [] and fake.errors == []


async def test_command_sync_is_recorded_per_guild(fake: FakeDiscord, bot: BareBot) -> None:
    """tree.sync(guild=...) lands in registered_commands[guild] with fake-assigned ids."""
    commands_ = await fake.wait_commands(GUILD_ID, timeout=2)
    by_name = {c["name"]: c for c in commands_}
    assert set(by_name) == {
        *("echo", "secret", "upload", "admin", "steps", "feed", "slow", "long"),
        *("counter", "Word count"),
    }
    assert None not in fake.registered_commands  # nothing synced globally
    assert fake.registered_commands[str(GUILD_ID)] is fake.registered_commands[GUILD_ID]
    assert by_name["echo"]["options"][0]["name"] == "text"
    assert by_name["admin"]["default_member_permissions"] == str(MANAGE_GUILD)
    put = await fake.wait_for(lambda r: r.method == "PUT", timeout=1)
    assert put.path == f"/applications/{fake.application_id}/guilds/{GUILD_ID}/commands"
    synced = await bot.tree.fetch_commands(guild=discord.Object(id=GUILD_ID))
    assert {c.id for c in synced} == {int(c["id"]) for c in commands_}


async def test_prefix_command_reply_appears_in_channel(fake: FakeDiscord, bot: BareBot) -> None:
    """!ping -> MESSAGE_CREATE -> the bot's reply is recorded, referencing the user message."""
    sent = await fake.send_message(
        guild_id=GUILD_ID, channel_id=CHANNEL_ID, author=BOB, content="!ping"
    )
    reply = await fake.wait_channel_message(CHANNEL_ID, after=sent["id"], timeout=3)
    assert reply["content"] == "pong"
    assert reply["message_reference"]["message_id"] == sent["id"]
    assert [m["content"] for m in fake.channel_messages(CHANNEL_ID)] == ["pong"]
    seen = bot.seen[-1]
    assert isinstance(seen.author, discord.Member) and seen.guild is not None
    assert fake.unhandled == [] and fake.errors == []


async def test_message_content_is_blanked_without_the_intent(fake: FakeDiscord) -> None:
    """Without message_content the bot gets empty content unless it is mentioned."""
    client = BareBot(message_content=False)
    async with fake.run_client(client):
        await fake.send_message(guild_id=GUILD_ID, channel_id=CHANNEL_ID, author=BOB, content="hi")
        await fake.send_message(
            guild_id=GUILD_ID,
            channel_id=CHANNEL_ID,
            author=BOB,
            content=f"{fake.bot_mention} hello",
        )
        await client.wait_seen(2)
    assert client.seen[0].content == ""
    assert client.seen[1].content.endswith("hello")
    assert client.user in client.seen[1].mentions


async def test_slash_echo_defers_then_followup(fake: FakeDiscord, bot: BareBot) -> None:
    """A deferred reply: type 5 first, then the follow-up fills the "thinking" message."""
    interaction = await fake.send_interaction(
        guild_id=GUILD_ID,
        channel_id=CHANNEL_ID,
        member=BOB_MEMBER,
        name="echo",
        options={"text": "hello world"},
    )
    response = await interaction.wait_response(timeout=3)
    assert response["type"] == 5
    final = await interaction.wait_final(timeout=3)
    assert final["content"] == "echo: hello world"
    assert final["id"] == str(interaction.original_id)  # first follow-up replaced the original
    assert not final["flags"] & 64
    assert [m["content"] for m in fake.channel_messages(CHANNEL_ID)] == ["echo: hello world"]
    assert fake.interactions[interaction.id].payload["data"]["guild_id"] == str(GUILD_ID)


async def test_raw_options_and_ephemeral_flag(fake: FakeDiscord, bot: BareBot) -> None:
    """An ephemeral reply shows flags 64 and stays out of the public channel view."""
    interaction = await fake.send_interaction(
        guild_id=GUILD_ID, channel_id=CHANNEL_ID, member=BOB_MEMBER, name="secret", options=[]
    )
    response = await interaction.wait_response(timeout=3)
    assert response["type"] == 4
    assert response["data"]["flags"] & 64
    final = await interaction.wait_final(timeout=3)
    assert final["content"] == "just for you" and final["flags"] & 64
    assert fake.channel_messages(CHANNEL_ID) == []
    assert len(fake.channel_messages(CHANNEL_ID, include_ephemeral=True)) == 1


async def test_attachment_option_bytes_round_trip(fake: FakeDiscord, bot: BareBot) -> None:
    """The bot downloads exactly the bytes the fake CDN serves (URL has a query string)."""
    payload = bytes(range(256)) * 40
    attachment = fake.add_attachment("report.pdf", payload, "application/pdf")
    assert "?ex=" in attachment["url"]
    interaction = await fake.send_interaction(
        guild_id=GUILD_ID,
        channel_id=CHANNEL_ID,
        member=ALICE_MEMBER,
        name="upload",
        options={"file": attachment},
    )
    final = await interaction.wait_final(timeout=3)
    assert final["content"] == f"report.pdf: {len(payload)} bytes"
    assert bot.read_bytes == [payload]
    cdn = await fake.wait_for(lambda r: r.kind == "cdn", timeout=1)
    assert cdn.status == 200


async def test_message_attachment_and_multipart_upload(fake: FakeDiscord, bot: BareBot) -> None:
    """Attachments on a message are readable; a bot upload is parsed from multipart."""
    attachment = fake.add_attachment("notes.txt", b"one two three", "text/plain")
    sent = await fake.send_message(
        guild_id=GUILD_ID,
        channel_id=CHANNEL_ID,
        author=BOB,
        content="!wc",
        attachments=[attachment],
    )
    reply = await fake.wait_channel_message(CHANNEL_ID, after=sent["id"], timeout=3)
    assert reply["content"] == "3 words"
    mark = len(fake.requests)
    await fake.send_message(guild_id=GUILD_ID, channel_id=CHANNEL_ID, author=BOB, content="!file")
    upload = await fake.wait_for(
        lambda r: r.method == "POST" and bool(r.files), timeout=3, since=mark
    )
    assert upload.json["content"] == "here"
    assert upload.files == [("table.csv", b"a,b\n1,2\n")]
    posted = upload.response["attachments"][0]
    assert posted["filename"] == "table.csv" and posted["size"] == 8


async def test_permissions_reach_the_bot(fake: FakeDiscord, bot: BareBot) -> None:
    """Member permissions arrive as the bitfield; default_permissions is not enforced."""
    admin = await fake.send_interaction(
        guild_id=GUILD_ID, channel_id=CHANNEL_ID, member=ALICE_MEMBER, name="admin"
    )
    assert (await admin.wait_final(timeout=3))["content"] == "manage_guild=True"
    plain = await fake.send_interaction(
        guild_id=GUILD_ID, channel_id=CHANNEL_ID, member=BOB_MEMBER, name="admin"
    )
    assert (await plain.wait_final(timeout=3))["content"] == "manage_guild=False"
    with pytest.raises(PermissionError):
        await fake.send_interaction(
            guild_id=GUILD_ID,
            channel_id=CHANNEL_ID,
            member=BOB_MEMBER,
            name="admin",
            enforce_default_permissions=True,
        )


async def test_discord_rules_are_enforced(fake: FakeDiscord, bot: BareBot) -> None:
    """A late acknowledgement gets 404 Unknown interaction; >2000 chars gets 400 50035."""
    fake.interaction_ack_timeout = 0.1
    slow = await fake.send_interaction(
        guild_id=GUILD_ID, channel_id=CHANNEL_ID, member=BOB_MEMBER, name="slow"
    )
    callback = await fake.wait_for(lambda r: r.path.startswith(f"/interactions/{slow.id}/"))
    assert callback.status == 404
    async with asyncio.timeout(3):
        await bot.command_failed.wait()
    assert isinstance(bot.command_error, discord.NotFound)
    assert bot.command_error.code == 10062
    fake.interaction_ack_timeout = 3.0
    long = await fake.send_interaction(
        guild_id=GUILD_ID, channel_id=CHANNEL_ID, member=BOB_MEMBER, name="long"
    )
    final = await long.wait_final(timeout=3)
    assert final["content"] == "too long"
    assert isinstance(bot.command_error, discord.HTTPException)
    assert bot.command_error.code == 50035
    with pytest.raises(discord.NotFound):
        await bot.http.request(discord.http.Route("GET", "/no/such/route"))
    assert [r.path for r in fake.unhandled] == ["/no/such/route"]


async def test_heartbeats_flow_at_short_interval() -> None:
    """With a 100 ms interval heartbeats keep coming (< 1 s apart); a blocked loop shows."""
    server = FakeDiscord(guilds=[make_guild()], heartbeat_interval_ms=100)
    async with server, server.run_client(BareBot()):
        await asyncio.sleep(0.6)
        assert len(server.heartbeats) >= 4
        assert server.max_heartbeat_gap() < 1.0
        time.sleep(0.5)  # noqa: ASYNC251 - deliberately block the loop the bot runs on
        await server.wait_heartbeats(len(server.heartbeats) + 2, timeout=2)
        assert server.max_heartbeat_gap() >= 0.45


async def test_dm_arrives_as_dm(fake: FakeDiscord, bot: BareBot) -> None:
    """A DM reaches on_message with no guild and the reply goes to the DM channel."""
    sent = await fake.send_dm(author=ALICE, content="!ping")
    channel_id = int(sent["channel_id"])
    assert channel_id == fake.dm_channel_id(ALICE)
    reply = await fake.wait_channel_message(channel_id, after=sent["id"], timeout=3)
    assert reply["content"] == "pong"
    message = bot.seen[-1]
    assert message.guild is None
    assert isinstance(message.channel, discord.DMChannel)
    assert fake.channel_messages(CHANNEL_ID) == []


async def test_gateway_drop_resumes(fake: FakeDiscord, bot: BareBot) -> None:
    """After the socket drops the client RESUMEs on the same session and keeps working."""
    await fake.drop_gateway(code=4000)
    sent = await fake.send_message(
        guild_id=GUILD_ID, channel_id=CHANNEL_ID, author=BOB, content="!ping"
    )
    reply = await fake.wait_channel_message(CHANNEL_ID, after=sent["id"], timeout=3)
    assert reply["content"] == "pong"
    assert len(fake.resumes) == 1
    assert fake.resumes[0]["session_id"] == bot.ws.session_id


async def test_edits_in_steps_and_followups(fake: FakeDiscord, bot: BareBot) -> None:
    """PATCH @original twice, then an ephemeral follow-up: wait_final(predicate) picks a step."""
    interaction = await fake.send_interaction(
        guild_id=GUILD_ID, channel_id=CHANNEL_ID, member=BOB_MEMBER, name="steps"
    )
    answer = await interaction.wait_final(predicate=lambda m: m["content"] == "the answer")
    assert answer["id"] == str(interaction.original_id) and answer["edited_timestamp"]
    sources = await interaction.wait_final(predicate=lambda m: m["content"].startswith("sources"))
    assert sources["flags"] & 64  # a later follow-up may be ephemeral on its own
    assert [m["content"] for m in interaction.messages] == ["the answer", "sources: none"]
    assert [m["content"] for m in fake.channel_messages(CHANNEL_ID)] == ["the answer"]
    patches = [r for r in fake.requests if r.method == "PATCH" and r.path.endswith("@original")]
    assert [r.json["content"] for r in patches] == ["Searching…", "the answer"]


async def test_subcommand_options(fake: FakeDiscord, bot: BareBot) -> None:
    """``subcommand=`` nests typed options the way Discord does for groups."""
    interaction = await fake.send_interaction(
        guild_id=GUILD_ID,
        channel_id=CHANNEL_ID,
        member=ALICE_MEMBER,
        name="feed",
        subcommand="add",
        options={"url": "https://example.org/rss", "hours": 2},
    )
    final = await interaction.wait_final(timeout=3)
    assert final["content"] == "added https://example.org/rss every 2h"
    sent = interaction.payload["data"]["options"]
    assert sent == [
        {
            "name": "add",
            "type": 1,
            "options": [
                {"name": "url", "type": 3, "value": "https://example.org/rss"},
                {"name": "hours", "type": 4, "value": 2},
            ],
        }
    ]
    with pytest.raises(ValueError, match="url"):
        await fake.send_interaction(
            guild_id=GUILD_ID,
            channel_id=CHANNEL_ID,
            member=ALICE_MEMBER,
            name="feed",
            subcommand="add",
            options={"hours": 2},
        )


class GlobalBot(BareBot):
    """Syncs its commands globally, the production setting."""

    async def setup_hook(self) -> None:
        await self.tree.sync()


async def test_global_command_in_dm(fake: FakeDiscord) -> None:
    """A global sync lands under None; a DM interaction carries ``user``, not ``member``."""
    client = GlobalBot()
    async with fake.run_client(client):
        assert {c["name"] for c in fake.registered_commands[None]} >= {"secret", "echo"}
        interaction = await fake.send_interaction(
            guild_id=None, channel_id=0, member=BOB_MEMBER, name="echo", options={"text": "dm"}
        )
        final = await interaction.wait_final(timeout=3)
    assert final["content"] == "echo: dm"
    assert "guild_id" not in final and "member" not in interaction.payload
    assert int(final["channel_id"]) == fake.dm_channel_id(BOB)


async def test_message_context_menu_and_button(fake: FakeDiscord, bot: BareBot) -> None:
    """A type-3 command gets its target message resolved; a button press is a type-3
    interaction carrying the message, and UPDATE_MESSAGE (7) edits that message."""
    menus = [c for c in fake.registered_commands[GUILD_ID] if c["type"] == 3]
    assert [c["name"] for c in menus] == ["Word count"]
    target = await fake.send_message(
        guild_id=GUILD_ID, channel_id=CHANNEL_ID, author=ALICE, content="one two three"
    )
    counted = await fake.send_interaction(
        guild_id=GUILD_ID,
        channel_id=CHANNEL_ID,
        member=BOB_MEMBER,
        name="Word count",
        target_message=target,
    )
    assert (await counted.wait_final())["content"] == "3 words"

    started = await fake.send_interaction(
        guild_id=GUILD_ID, channel_id=CHANNEL_ID, member=BOB_MEMBER, name="counter"
    )
    message = await started.wait_final()
    assert message["components"][0]["components"][0]["custom_id"] == "bare:count"
    for expected in ("count 1", "count 2"):
        pressed = await fake.press(message=message, custom_id="bare:count", member=ALICE_MEMBER)
        assert (await pressed.wait_response())["type"] == 7
        assert fake.messages.copy(int(message["id"]))["content"] == expected
    with pytest.raises(LookupError):
        await fake.press(message=message, custom_id="missing", member=ALICE_MEMBER)
    assert fake.unhandled == [] and fake.errors == []
