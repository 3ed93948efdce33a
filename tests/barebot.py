"""A bare discord.py bot and the one guild it lives in: what the fake Discord's own tests drive.

No newsbot code: if test_fakediscord.py passes with this bot, a failure in a bot test is the
bot's, not the fake's.
"""

from __future__ import annotations

import asyncio
import io

import discord
from discord import app_commands
from discord.ext import commands

from fakediscord import MANAGE_GUILD, FakeGuild, FakeMember, FakeUser

GUILD_ID = 900_000_000_000_000_001
CHANNEL_ID = 900_000_000_000_000_011
OTHER_CHANNEL_ID = 900_000_000_000_000_012
ADMIN_ROLE_ID = 900_000_000_000_000_021
ALICE = FakeUser(700_000_000_000_000_001, "alice")
BOB = FakeUser(700_000_000_000_000_002, "bob")
ALICE_MEMBER = FakeMember(ALICE, roles=[ADMIN_ROLE_ID], permissions=MANAGE_GUILD)
BOB_MEMBER = FakeMember(BOB)


def make_guild() -> FakeGuild:
    """One guild, two text channels, an admin role, two members."""
    return FakeGuild(
        id=GUILD_ID,
        name="Test Guild",
        owner_id=ALICE.id,
        channels=[(CHANNEL_ID, "general"), (OTHER_CHANNEL_ID, "news")],
        roles=[(ADMIN_ROLE_ID, "admin", MANAGE_GUILD)],
        members=[ALICE_MEMBER, BOB_MEMBER],
    )


class BareBot(commands.Bot):
    """A minimal bot: the commands a news bot needs, nothing of newsbot itself."""

    def __init__(self, *, message_content: bool = True) -> None:
        intents = discord.Intents.default()
        intents.message_content = message_content
        super().__init__(
            command_prefix="!",
            intents=intents,
            help_command=None,
            guild_ready_timeout=0.05,  # default 2 s
            chunk_guilds_at_startup=False,
        )
        self.read_bytes: list[bytes] = []
        self.seen: list[discord.Message] = []
        self.command_error: discord.HTTPException | None = None
        self.command_failed = asyncio.Event()
        self._seen_changed = asyncio.Event()
        self._add_prefix_commands()
        self._add_slash_commands()

    async def wait_seen(self, count: int) -> None:
        """Until on_message has run ``count`` times (at most 3 s)."""
        async with asyncio.timeout(3):
            while len(self.seen) < count:
                self._seen_changed.clear()
                await self._seen_changed.wait()

    async def setup_hook(self) -> None:
        """Sync slash commands to the test guild, as a dev bot would (instant, per guild)."""
        guild = discord.Object(id=GUILD_ID)
        self.tree.copy_global_to(guild=guild)
        await self.tree.sync(guild=guild)

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(message)
        self._seen_changed.set()
        await self.process_commands(message)

    def _add_prefix_commands(self) -> None:
        @self.command(name="ping")
        async def ping(ctx: commands.Context[BareBot]) -> None:
            await ctx.reply("pong")

        @self.command(name="wc")
        async def wc(ctx: commands.Context[BareBot]) -> None:
            data = await ctx.message.attachments[0].read()
            self.read_bytes.append(data)
            await ctx.send(f"{len(data.split())} words")

        @self.command(name="file")
        async def send_file(ctx: commands.Context[BareBot]) -> None:
            await ctx.send("here", file=discord.File(io.BytesIO(b"a,b\n1,2\n"), "table.csv"))

    def _add_slash_commands(self) -> None:
        @self.tree.command(name="echo", description="Echo text after deferring")
        @app_commands.describe(text="What to echo")
        async def echo(interaction: discord.Interaction, text: str) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.followup.send(f"echo: {text}")

        @self.tree.command(name="secret", description="Answer only the caller")
        async def secret(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("just for you", ephemeral=True)

        @self.tree.command(name="upload", description="Read an attached file")
        async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            self.read_bytes.append(data)
            await interaction.response.send_message(f"{file.filename}: {len(data)} bytes")

        @self.tree.command(name="admin", description="Needs Manage Server")
        @app_commands.default_permissions(manage_guild=True)
        async def admin(interaction: discord.Interaction) -> None:
            perms = interaction.permissions
            await interaction.response.send_message(f"manage_guild={perms.manage_guild}")

        @self.tree.command(name="steps", description="Edits its answer in steps")
        async def steps(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await interaction.edit_original_response(content="Searching…")
            await interaction.edit_original_response(content="the answer")
            await interaction.followup.send("sources: none", ephemeral=True)

        feed = app_commands.Group(name="feed", description="Manage feeds")

        @feed.command(name="add", description="Add a feed")
        async def feed_add(interaction: discord.Interaction, url: str, hours: int = 6) -> None:
            await interaction.response.send_message(f"added {url} every {hours}h")

        self.tree.add_command(feed)

        @self.tree.command(name="slow", description="Acknowledges too late")
        async def slow(interaction: discord.Interaction) -> None:
            await asyncio.sleep(0.3)
            try:
                await interaction.response.send_message("late")
            except discord.HTTPException as exc:
                self.command_error = exc
                self.command_failed.set()

        @self.tree.context_menu(name="Word count")
        async def word_count(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(f"{len(message.content.split())} words")

        class Counter(discord.ui.View):
            def __init__(self) -> None:
                super().__init__(timeout=None)
                self.presses = 0

            @discord.ui.button(label="+1", custom_id="bare:count")
            async def count(
                self, interaction: discord.Interaction, button: discord.ui.Button
            ) -> None:
                self.presses += 1
                await interaction.response.edit_message(content=f"count {self.presses}")

        @self.tree.command(name="counter", description="A message with a button")
        async def counter(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("count 0", view=Counter())

        @self.tree.command(name="long", description="Too long for one message")
        async def long(interaction: discord.Interaction) -> None:
            try:
                await interaction.response.send_message("x" * 2001)
            except discord.HTTPException as exc:
                self.command_error = exc
                await interaction.response.send_message("too long", ephemeral=True)
