"""Who may do what, in one module. Discord hides commands through ``dm_permission`` and
``default_member_permissions``, but a server can override those and only Discord enforces them:
each decorator here both sets the hint and checks it on every invocation, slash or prefix."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar, cast

import discord
from discord import app_commands
from discord.ext import commands

from .errors import NotAdmin, NotInGuild

if TYPE_CHECKING:
    from .client import NewsBot

T = TypeVar("T")

# Who sees admin commands until a server's own integration settings say otherwise.
ADMIN_PERMISSIONS = discord.Permissions(manage_guild=True)


def bot_of(interaction: discord.Interaction) -> NewsBot:
    """The bot an interaction reached: discord.py types ``interaction.client`` as any Client."""
    return cast("NewsBot", interaction.client)


def is_admin_member(
    member: discord.abc.User, permissions: discord.Permissions, admin_role: str
) -> bool:
    if permissions.manage_guild or permissions.administrator:
        return True
    if admin_role and isinstance(member, discord.Member):
        return any(role.name == admin_role for role in member.roles)
    return False


def collection_for(guild_id: int) -> str:
    """One collection per server: nothing ingested in one is searched from another."""
    return f"guild-{guild_id}"


def guild_of(collection: str) -> int | None:
    """The server whose collection this is (None: a collection of the command line's)."""
    prefix, _, rest = collection.partition("-")
    return int(rest) if prefix == "guild" and rest.isdigit() else None


def _slash_in_guild(interaction: discord.Interaction) -> bool:
    if interaction.guild_id is None:
        raise NotInGuild()
    return True


def _prefix_in_guild(ctx: commands.Context[NewsBot]) -> bool:
    if ctx.guild is None:
        raise NotInGuild()
    return True


def _slash_admin(interaction: discord.Interaction) -> bool:
    _slash_in_guild(interaction)
    role = bot_of(interaction).settings.admin_role
    if not is_admin_member(interaction.user, interaction.permissions, role):
        raise NotAdmin(role)
    return True


def _prefix_admin(ctx: commands.Context[NewsBot]) -> bool:
    _prefix_in_guild(ctx)
    role = ctx.bot.settings.admin_role
    if not is_admin_member(ctx.author, ctx.permissions, role):
        raise NotAdmin(role)
    return True


def in_guild() -> Callable[[T], T]:
    """Servers only: each has its own news. Hidden from DMs, and refused there all the same
    (a client's stale command list, or a prefix command, still reaches the bot)."""

    def decorate(func: T) -> T:
        func = app_commands.guild_only()(func)
        func = app_commands.check(_slash_in_guild)(func)  # type: ignore[arg-type]
        return commands.check(_prefix_in_guild)(func)  # type: ignore[arg-type]

    return decorate


def admin_only() -> Callable[[T], T]:
    """Manage Server (or the admin role): hidden from other members, and checked at run time.

    On a command: slash or prefix, both checked. On a ``GroupCog`` class: Discord ignores
    default permissions on subcommands, so the group is hidden as a whole and the cog's
    ``interaction_check`` checks each subcommand.
    """

    def decorate(target: T) -> T:
        target = app_commands.guild_only()(target)
        target = app_commands.default_permissions(ADMIN_PERMISSIONS)(target)
        if isinstance(target, type) and issubclass(target, commands.Cog):
            if "interaction_check" in vars(target):
                raise TypeError(f"{target.__name__} has its own interaction_check")
            target.interaction_check = _cog_admin_check  # type: ignore[method-assign]
            return target
        target = app_commands.check(_slash_admin)(target)  # type: ignore[arg-type]
        return commands.check(_prefix_admin)(target)  # type: ignore[arg-type]

    return decorate


async def _cog_admin_check(cog: commands.Cog, interaction: discord.Interaction, /) -> bool:
    return _slash_admin(interaction)


def per_member(burst: int, seconds: float) -> app_commands.Cooldown | None:
    """``burst`` uses, then a wait, per member; none when the window is 0 (off)."""
    return app_commands.Cooldown(max(1, burst), seconds) if seconds > 0 else None


def ask_cooldown(interaction: discord.Interaction) -> app_commands.Cooldown | None:
    """A burst of questions, then a wait: people ask follow-ups in quick succession."""
    s = bot_of(interaction).settings
    return per_member(s.ask_burst, s.ask_cooldown_seconds)


def ingest_cooldown(interaction: discord.Interaction) -> app_commands.Cooldown | None:
    s = bot_of(interaction).settings
    return per_member(s.ingest_burst, s.ingest_cooldown_seconds)
