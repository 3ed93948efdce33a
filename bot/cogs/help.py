"""/help: what each command does, as the member asking may use it in this server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from .. import render
from ..checks import is_admin_member

if TYPE_CHECKING:
    from ..client import NewsBot

# What the context menus do (Discord gives them a name only, no description).
APP_HELP = {
    "Add to newsbot": "adds the message's links, files or text as articles, like `!ingest`",
    "Ask newsbot about this": "answers the message's text as a question, like `/ask`",
}


def _is_admin_command(command: app_commands.Command | app_commands.Group | object) -> bool:
    perms = getattr(command, "default_permissions", None)
    return perms is not None and perms.value != 0


def _rows(command: app_commands.Command | app_commands.Group) -> list[tuple[str, str]]:
    if isinstance(command, app_commands.Group):
        return [(f"/{c.qualified_name}", c.description) for c in command.walk_commands()]
    return [(f"/{command.qualified_name}", command.description)]


class Help(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What each newsbot command does here")
    async def help(self, interaction: discord.Interaction[NewsBot]) -> None:
        in_guild = interaction.guild_id is not None
        admin = in_guild and is_admin_member(
            interaction.user, interaction.permissions, self.bot.settings.admin_role
        )
        everyone: list[tuple[str, str]] = []
        admins: list[tuple[str, str]] = []
        apps: list[tuple[str, str]] = []
        for command in sorted(self.bot.tree.get_commands(), key=lambda c: c.name):
            if isinstance(command, app_commands.ContextMenu):
                if in_guild:
                    apps.append((command.name, APP_HELP.get(command.name, "")))
                continue
            if _is_admin_command(command):
                if admin:
                    admins += _rows(command)
            elif in_guild or not command.guild_only:
                everyone += _rows(command)
        await interaction.response.send_message(
            embed=render.help_embed(everyone, admins, apps), ephemeral=True
        )


async def setup(bot: NewsBot) -> None:
    await bot.add_cog(Help(bot))
