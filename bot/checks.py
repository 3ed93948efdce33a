"""Who may do what. Discord hides admin commands through ``default_member_permissions``, but
only Discord enforces that: these checks run on every invocation as well."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from .errors import NotAdmin, NotInGuild


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


def slash_guild_only():
    def predicate(interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            raise NotInGuild()
        return True

    return app_commands.check(predicate)


def slash_admin():
    def predicate(interaction: discord.Interaction) -> bool:
        if interaction.guild_id is None:
            raise NotInGuild()
        role = interaction.client.settings.admin_role  # type: ignore[attr-defined]
        if not is_admin_member(interaction.user, interaction.permissions, role):
            raise NotAdmin(role)
        return True

    return app_commands.check(predicate)


def prefix_guild_only():
    def predicate(ctx: commands.Context) -> bool:
        if ctx.guild is None:
            raise NotInGuild()
        return True

    return commands.check(predicate)


def ask_cooldown(interaction: discord.Interaction) -> app_commands.Cooldown | None:
    """A burst of questions, then a wait: people ask follow-ups in quick succession."""
    s = interaction.client.settings  # type: ignore[attr-defined]
    return (
        app_commands.Cooldown(max(1, s.ask_burst), s.ask_cooldown_seconds)
        if s.ask_cooldown_seconds > 0
        else None
    )


def ingest_cooldown(interaction: discord.Interaction) -> app_commands.Cooldown | None:
    s = interaction.client.settings  # type: ignore[attr-defined]
    return (
        app_commands.Cooldown(max(1, s.ingest_burst), s.ingest_cooldown_seconds)
        if s.ingest_cooldown_seconds > 0
        else None
    )
