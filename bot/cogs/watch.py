"""/watch add|list|remove: standing questions, and the loop that alerts them.

A watch without a channel is personal: its alerts come by DM, naming the server, and only
while its member is still in that server. The bot has no members intent, so it is not told who
leaves: each DM is preceded by a member lookup (REST), and a member gone (Unknown Member: left
or banned) loses their personal watches there, unsent. When Discord can't answer the lookup
(5xx, timeout) the alert is held and tried again at the next looks, for up to ``HOLD_SECONDS``,
never sent unchecked. A ban is also told by the gateway (the moderation intent is not
privileged): that member's watches go at once. One in a channel alerts everyone there, so only
admins set those. The loop looks for articles added since its last look (feeds, members, the
command line alike: the store keeps how far it got), every few seconds and right after an
ingest through the bot. A look that finds many new articles is a bulk import: its alerts wait
until the import is over and go out as one summary a watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from .. import render
from ..checks import collection_for, is_admin_member
from ..errors import NotAdmin, NotInGuild

if TYPE_CHECKING:
    from index.features.watches import Alert, Watch

    from ..client import NewsBot

log = logging.getLogger("newsbot.watch")

# How long a DM alert waits, retried at each look, while Discord can't say whether its member
# is still in the server; then it is dropped (logged).
HOLD_SECONDS = 600.0
# A member lookup that takes longer counts as Discord not answering.
LOOKUP_SECONDS = 10.0
# Discord's answers to a member lookup that mean "not in this server": Unknown Member (left,
# kicked or banned) and Unknown User (the account is gone).
NOT_A_MEMBER = frozenset({10007, 10013})


@dataclass
class _Held:
    """A DM alert waiting for Discord to say whether its member is still in the server."""

    guild_id: int
    watch_id: int
    message: dict[str, Any]
    until: float  # loop time after which it is dropped


@app_commands.guild_only()
class Watches(
    commands.GroupCog, group_name="watch", group_description="Standing questions: alerts on news"
):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot
        self.wake = asyncio.Event()
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None
        # Bulk imports in progress, a guild: their alerts wait here for one summary.
        self.bulk: dict[int, list[Alert]] = {}
        self.bulk_articles: dict[int, int] = defaultdict(int)
        self.held: list[_Held] = []
        # Member lookups of the current look, a (guild, user): the member, or None when gone.
        self._members: dict[tuple[int, int], discord.Member | None] = {}
        super().__init__()

    async def cog_load(self) -> None:
        self.task = asyncio.create_task(self._run(), name="newsbot-alerts")

    async def cog_unload(self) -> None:
        self.stop.set()
        self.wake.set()
        if self.task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self.task, 10)

    @commands.Cog.listener()
    async def on_newsbot_ingested(self, guild_id: int) -> None:
        self.wake.set()

    @commands.Cog.listener()
    async def on_member_ban(self, guild: discord.Guild, user: discord.abc.User) -> None:
        """Banned: their personal watches here go now, not at their next alert."""
        try:
            await self._forget_member(guild.id, user.id, "was banned from")
        except Exception:  # the member lookup before any DM still stops their alerts
            log.exception("removing the watches of banned member %s failed", user.id)

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        if interaction.guild_id is None:  # hidden from DMs; refused there all the same
            raise NotInGuild()
        return True

    def _admin(self, interaction: discord.Interaction[NewsBot]) -> bool:
        return is_admin_member(
            interaction.user, interaction.permissions, self.bot.settings.admin_role
        )

    # -- commands ------------------------------------------------------------------------------
    @app_commands.command(name="add", description="Get an alert when news on a topic arrives")
    @app_commands.describe(
        topic="What to watch for, e.g. 'ceasefire talks in Gaza'",
        channel="Alert this channel (admins) instead of you by DM",
    )
    async def add(
        self,
        interaction: discord.Interaction[NewsBot],
        topic: app_commands.Range[str, 3, 200],
        channel: discord.TextChannel | None = None,
    ) -> None:
        if channel is not None and not self._admin(interaction):
            raise NotAdmin(self.bot.settings.admin_role)
        await interaction.response.defer(ephemeral=True, thinking=True)
        watch = await asyncio.to_thread(
            self.bot.service.watches.add,
            collection_for(interaction.guild_id),
            topic,
            owner=str(interaction.user.id),
            channel_id=channel.id if channel else None,
        )
        where = f"in {channel.mention}" if channel else "to you by DM"
        await interaction.followup.send(
            f"🔔 Watching {render.watch_line(watch)}. New articles on it will be posted {where}.",
            ephemeral=True,
        )

    @app_commands.command(name="list", description="Your watches (admins: all of this server's)")
    async def list(self, interaction: discord.Interaction[NewsBot]) -> None:
        admin = self._admin(interaction)
        watches = await asyncio.to_thread(
            self.bot.service.watches.of_collection,
            collection_for(interaction.guild_id),
            None if admin else str(interaction.user.id),
        )
        await interaction.response.send_message(render.watch_list(watches, admin), ephemeral=True)

    @app_commands.command(name="remove", description="Stop a watch")
    @app_commands.describe(watch_id="The number /watch list shows")
    async def remove(
        self, interaction: discord.Interaction[NewsBot], watch_id: app_commands.Range[int, 1]
    ) -> None:
        watch = await asyncio.to_thread(
            self.bot.service.watches.remove,
            collection_for(interaction.guild_id),
            watch_id,
            by=str(interaction.user.id),
            admin=self._admin(interaction),
        )
        await interaction.response.send_message(
            f"Stopped watching {render.watch_line(watch)}.", ephemeral=True
        )

    # -- alerts --------------------------------------------------------------------------------
    async def _run(self) -> None:
        await self.bot.wait_until_ready()
        while not self.stop.is_set():
            try:
                await self.scan_all()
            except Exception:  # the loop goes on: one bad look must not end alerts
                log.exception("the alert scan failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.bot.settings.alert_scan_seconds)
            self.wake.clear()

    async def scan_all(self) -> None:
        for guild in list(self.bot.guilds):
            await self.scan(guild.id)

    async def scan(self, guild_id: int) -> None:
        self._members.clear()  # one lookup a member a look: they may leave between looks
        await self._retry_held(guild_id)
        collection = collection_for(guild_id)
        alerts, articles = await asyncio.to_thread(self.bot.service.watches.scan, collection)
        if articles >= self.bot.settings.alert_bulk or (guild_id in self.bulk and articles):
            self.bulk.setdefault(guild_id, []).extend(alerts)
            self.bulk_articles[guild_id] += articles
            return
        if guild_id in self.bulk:  # the import is over: one summary a watch
            await self._summaries(guild_id)
        for alert in alerts:
            await self._deliver(guild_id, alert)

    async def _summaries(self, guild_id: int) -> None:
        alerts = self.bulk.pop(guild_id, [])
        articles = self.bulk_articles.pop(guild_id, 0)
        by_watch: dict[int, list[Alert]] = defaultdict(list)
        for alert in alerts:
            by_watch[alert.watch_id].append(alert)
        for watch_id, found in by_watch.items():
            watch = await self._watch(watch_id)
            if watch is not None:
                server = self._server_name(guild_id, watch)
                content = render.bulk_summary(watch, found, articles, server=server)
                await self._send(guild_id, watch, {"content": content})

    async def _watch(self, watch_id: int) -> Watch | None:
        try:
            return await asyncio.to_thread(self.bot.service.watches.get, watch_id)
        except Exception:  # removed meanwhile
            return None

    async def _deliver(self, guild_id: int, alert: Alert) -> None:
        watch = await self._watch(alert.watch_id)
        if watch is not None:
            server = self._server_name(guild_id, watch)
            await self._send(
                guild_id, watch, {"embed": render.alert_embed(alert, watch, server=server)}
            )

    def _server_name(self, guild_id: int, watch: Watch) -> str | None:
        """The server a DM alert comes from (a member may share several with the bot); None
        for a channel alert, posted in the server itself."""
        if watch.channel_id is not None:
            return None
        guild = self.bot.get_guild(guild_id)
        return guild.name if guild is not None else f"server {guild_id}"

    async def _send(
        self, guild_id: int, watch: Watch, message: dict[str, Any], held: float | None = None
    ) -> None:
        """Post a channel alert, or DM one to its member while still in the server (``held``:
        until when a held DM may wait again)."""
        try:
            if watch.channel_id is not None:
                channel = self.bot.get_channel(watch.channel_id)
                if channel is None:
                    channel = await self.bot.fetch_channel(watch.channel_id)
                await channel.send(**message)  # type: ignore[union-attr]
                self._sent(guild_id)
                return
            owner = int(watch.owner)
            try:
                member = await self._member(guild_id, owner)
            except _NoAnswer as exc:
                self._hold(guild_id, watch, message, held, exc)
                return
            if member is None:
                await self._forget_member(guild_id, owner, "is no longer in")
                return
            await member.send(**message)
            self._sent(guild_id)
        except discord.HTTPException as exc:  # DMs closed, channel gone: logged, not retried
            log.warning("could not deliver an alert of watch %s: %s", watch.id, exc)

    def _sent(self, guild_id: int) -> None:
        self.bot.metrics.watch_alerts.labels(self.bot.shard_label(guild_id)).inc()

    async def _member(self, guild_id: int, user_id: int) -> discord.Member | None:
        """The member if they are still in the server, None if not; ``_NoAnswer`` when Discord
        can't say now. Asked of Discord (REST): without the members intent the bot is never told
        who left, so its member cache proves nothing."""
        key = (guild_id, user_id)
        if key in self._members:
            return self._members[key]
        guild = self.bot.get_guild(guild_id)
        if guild is None:  # the bot itself left: nothing to send from there
            raise _NoAnswer("the bot is not in that server")
        try:
            member: discord.Member | None = await asyncio.wait_for(
                guild.fetch_member(user_id), LOOKUP_SECONDS
            )
        except discord.NotFound as exc:
            if exc.code not in NOT_A_MEMBER:
                raise _NoAnswer(f"{exc.status} {exc.text}") from exc
            member = None
        except discord.HTTPException as exc:  # 5xx, 403, rate limits beyond discord.py's waits
            raise _NoAnswer(f"{exc.status} {exc.text}") from exc
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise _NoAnswer(repr(exc)) from exc
        self._members[key] = member
        return member

    def _hold(
        self,
        guild_id: int,
        watch: Watch,
        message: dict[str, Any],
        until: float | None,
        why: _NoAnswer,
    ) -> None:
        """Keep a DM alert for the next looks (the first hold sets how long it may wait)."""
        now = asyncio.get_running_loop().time()
        until = now + HOLD_SECONDS if until is None else until
        if now >= until:
            log.warning(
                "dropped an alert of watch %s: Discord could not say for %.0f s whether member"
                " %s is still in server %s (%s)",
                watch.id,
                HOLD_SECONDS,
                watch.owner,
                guild_id,
                why,
            )
            return
        log.info("holding an alert of watch %s: member lookup failed (%s)", watch.id, why)
        self.held.append(_Held(guild_id, watch.id, message, until))

    async def _retry_held(self, guild_id: int) -> None:
        """The held DM alerts of this server, oldest first; a watch removed meanwhile drops its."""
        mine = [h for h in self.held if h.guild_id == guild_id]
        self.held = [h for h in self.held if h.guild_id != guild_id]
        for held in mine:
            watch = await self._watch(held.watch_id)
            if watch is not None:
                await self._send(guild_id, watch, held.message, held.until)

    async def _forget_member(self, guild_id: int, user_id: int, why: str) -> None:
        """A member gone from the server: their personal watches there go, logged."""
        removed = await asyncio.to_thread(
            self.bot.service.watches.forget_member, collection_for(guild_id), str(user_id)
        )
        self._members[(guild_id, user_id)] = None
        if removed:
            log.info(
                "member %s %s server %s: removed their personal watches there (%s)",
                user_id,
                why,
                guild_id,
                ", ".join(str(w.id) for w in removed),
            )


class _NoAnswer(Exception):
    """Discord did not say whether a member is still in a server (5xx, timeout, 403)."""


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Watches(bot))
