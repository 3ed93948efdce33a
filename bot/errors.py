"""Failures a user can cause become short replies; everything else gets an error id and a
logged traceback. One place for both command kinds, so every reply reads the same."""

from __future__ import annotations

import logging
import secrets

import discord
from discord import app_commands
from discord.ext import commands

from index.errors import NewsbotError

log = logging.getLogger("newsbot.bot")


class UserError(commands.CommandError, app_commands.AppCommandError):
    """A failure whose message is written for the user who caused it."""


class NotInGuild(UserError):
    def __init__(self) -> None:
        super().__init__(
            "I only answer inside a server: each server has its own news. "
            "Use me in a channel there."
        )


class NotAdmin(UserError):
    def __init__(self, role: str = "") -> None:
        extra = f" or the {role} role" if role else ""
        super().__init__(f"Only members with Manage Server{extra} can do that.")


def sentence(text: str) -> str:
    """A core error's message ("that is not a web address …") as a reply: capitalised, ended."""
    text = text.strip()
    if not text:
        return text
    end = "" if text.endswith((".", "!", "?", "…")) else "."
    return text[0].upper() + text[1:] + end


def message_for(error: BaseException) -> tuple[str, bool]:
    """The reply for an error, and whether it was expected (no traceback logged)."""
    original = getattr(error, "original", None) or getattr(error, "__cause__", None)
    if isinstance(original, NewsbotError):
        return sentence(str(original)), True
    if isinstance(error, NewsbotError):
        return sentence(str(error)), True
    if isinstance(error, UserError):
        return str(error), True
    if isinstance(error, app_commands.CommandOnCooldown | commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s.", True
    if isinstance(error, app_commands.NoPrivateMessage | commands.NoPrivateMessage):
        return str(NotInGuild()), True
    if isinstance(error, app_commands.MissingPermissions | commands.MissingPermissions):
        return str(NotAdmin()), True
    if isinstance(error, app_commands.CheckFailure | commands.CheckFailure):
        return "You can't use that command here.", True
    if isinstance(error, commands.UserInputError):
        return f"{error} Try `!help`.", True
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't read {error.value!r} as a {error.type.name.lower()}.", True
    return "", False


def unexpected_reply(error: BaseException, where: str) -> str:
    """Log an unexpected error with a new id; the reply that names the id."""
    return _unexpected(error, where)


def _unexpected(error: BaseException, where: str) -> str:
    error_id = secrets.token_hex(4)
    log.error(
        "unexpected error %s in %s",
        error_id,
        where,
        exc_info=(type(error), error, error.__traceback__),
    )
    return f"Something went wrong on my side (error id `{error_id}`). It has been logged."


async def on_app_command_error(
    interaction: discord.Interaction, error: app_commands.AppCommandError
) -> None:
    text, expected = message_for(error)
    if not expected:
        name = interaction.command.qualified_name if interaction.command else "?"
        text = _unexpected(getattr(error, "original", error), f"/{name}")
    await send_ephemeral(interaction, text)


async def send_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Reply privately, whether or not the interaction was already answered or deferred."""
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(text, ephemeral=True)
            return
        if interaction.response.type == discord.InteractionResponseType.deferred_channel_message:
            await _drop_public_thinking(interaction)
        await interaction.followup.send(text, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not deliver an error reply for interaction %s", interaction.id)


async def _drop_public_thinking(interaction: discord.Interaction) -> None:
    """The first follow-up to a deferral fills its "thinking…" message and keeps its
    visibility: a public one is deleted first, so the failure that follows stays private."""
    original = await interaction.original_response()
    if original.flags.loading and not original.flags.ephemeral:
        await original.delete()


async def on_command_error(ctx: commands.Context, error: commands.CommandError) -> None:
    if isinstance(error, commands.CommandNotFound):
        return
    text, expected = message_for(error)
    if not expected:
        text = _unexpected(getattr(error, "original", error), f"!{ctx.invoked_with}")
    try:
        await ctx.reply(text, mention_author=False)
    except discord.HTTPException:
        log.warning("could not deliver an error reply in channel %s", ctx.channel.id)
