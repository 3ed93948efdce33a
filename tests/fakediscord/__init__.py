"""A protocol-level fake of Discord (gateway websocket + REST + CDN) for tests of discord.py bots.

Why: Discord is unreachable here, and mocking discord.py internals would test our mocks instead of
the bot. This server speaks the wire protocol, so the *real* discord.py client (2.7.1) logs in,
syncs commands, receives gateway events and answers them over HTTP exactly as in production. The
fake also enforces a few Discord rules that bite bots in real life (2000-character content limit,
embed limits, 3-second interaction acknowledgement, first follow-up after a defer replacing the
"thinking" message, message-content intent stripping, CDN URLs carrying query strings).

One module a seam: ``models`` (constants, users, members, roles, guilds, recorded requests),
``world`` (who is where, and their wire forms), ``messages`` (messages, attachments, Discord's
limits), ``gateway`` (websocket, heartbeats, dispatch), ``routing`` (HTTP in and out), ``rest``
and ``commands`` (REST routes), ``options`` and ``interactions`` (slash commands, responses,
follow-ups), ``waits`` (bounded waits woken by changes) and ``server`` (``FakeDiscord``).

Typical use (pytest-asyncio)::

    async with FakeDiscord(guilds=[guild]) as fake:
        async with fake.run_client(bot):          # patches discord.py, starts, waits for ready
            sent = await fake.send_message(guild_id=G, channel_id=C, author=user, content="!ping")
            reply = await fake.wait_channel_message(C, after=sent["id"])
            assert reply["content"] == "pong"

Client settings tests should use (they keep start-up short)::

    intents = discord.Intents.default()
    intents.message_content = True                # else the fake blanks guild message content
    bot = commands.Bot(command_prefix="!", intents=intents,
                       guild_ready_timeout=0.05,  # default 2 s wait for GUILD_CREATEs
                       chunk_guilds_at_startup=False)  # the fake answers no member requests

For event-loop blocking tests build ``FakeDiscord(heartbeat_interval_ms=100)`` and read
``max_heartbeat_gap()``: discord.py sends heartbeats from a thread *through the event loop*, so a
blocked loop shows up as a gap (the fake runs on the same loop, so it times arrivals after the
loop frees up, which is exactly the gap).

Message context menus (type-3 commands): ``send_interaction(..., name="Add to newsbot",
target_message=message)`` sends the message in ``resolved.messages``. Buttons:
``press(message=m, custom_id=..., member=...)`` is a component interaction (type 3) carrying
the message as it is now; the bot answers it with a new message (4), or edits it (7).
Replies: ``send_message(..., reply_to=message)`` (type 19, ``referenced_message``).

Reading results: ``channel_messages(c)`` is what a user would see from the bot in channel ``c``
(posts, edits applied, non-ephemeral interaction replies); ``FakeInteraction.wait_response()``
is the acknowledgement and ``wait_final()`` the visible answer. Assert ``fake.unhandled == []``
and ``fake.errors == []`` at the end of a test to catch routes the fake does not implement.

The fake serves what newsbot and its own tests use, no more: a route or option a new feature
needs shows up in ``unhandled`` (or ``errors``), the place to add it.
"""

from .interactions import FakeInteraction
from .models import (
    ADMINISTRATOR,
    ALL_PERMISSIONS,
    ATTACH_FILES,
    DEFAULT_BOT_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    EMBED_LINKS,
    MANAGE_GUILD,
    SEND_MESSAGES,
    FakeDiscordError,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    RecordedFile,
    RecordedRequest,
)
from .server import FakeDiscord

__all__ = [
    "ADMINISTRATOR",
    "ALL_PERMISSIONS",
    "ATTACH_FILES",
    "DEFAULT_BOT_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "EMBED_LINKS",
    "MANAGE_GUILD",
    "SEND_MESSAGES",
    "FakeDiscord",
    "FakeDiscordError",
    "FakeGuild",
    "FakeInteraction",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "RecordedFile",
    "RecordedRequest",
]
