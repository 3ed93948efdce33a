"""👍/👎 under every answer: one vote a member an answer, changeable, kept in the store.

The buttons are persistent: each one's ``custom_id`` carries the answer's id
(``newsbot:vote:<id>:up``), and the pattern is registered when the bot starts, so a button
pressed after a restart still counts. An answer no longer kept gets a clear private reply.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

import discord

from .. import render
from ..checks import bot_of, collection_for
from ..errors import NotInGuild, send_ephemeral, unexpected_reply
from ..errors import message_for as error_reply

if TYPE_CHECKING:
    from ..client import NewsBot

log = logging.getLogger("newsbot.feedback")

VALUES = {"up": 1, "down": -1}


class VoteButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"newsbot:vote:(?P<answer>[0-9]{1,18}):(?P<value>up|down)",
):
    def __init__(self, answer_id: int, value: str) -> None:
        self.answer_id = answer_id
        self.value = value
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji=render.VOTE_EMOJI[value],
                custom_id=f"newsbot:vote:{answer_id}:{value}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ) -> VoteButton:
        return cls(int(match["answer"]), match["value"])

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        # Component callbacks bypass the command tree's error handler: replies are made here.
        try:
            if interaction.guild_id is None:
                raise NotInGuild()
            bot = bot_of(interaction)
            record = await asyncio.to_thread(
                bot.service.feedback.vote,
                collection_for(interaction.guild_id),
                self.answer_id,
                str(interaction.user.id),
                VALUES[self.value],
            )
        except Exception as exc:  # every failure: a private reply
            text, expected = error_reply(exc)
            if not expected:
                text = unexpected_reply(exc, "a vote button")
            elif "no answer" in text.lower():
                text = render.VOTE_GONE
            await send_ephemeral(interaction, text)
            return
        await interaction.response.send_message(
            render.vote_thanks(self.value, record), ephemeral=True
        )


def vote_view(answer_id: int) -> discord.ui.View:
    """The two buttons under an answer; no timeout: they work as long as the answer is kept."""
    view = discord.ui.View(timeout=None)
    view.add_item(VoteButton(answer_id, "up"))
    view.add_item(VoteButton(answer_id, "down"))
    return view


async def setup(bot: NewsBot) -> None:
    bot.add_dynamic_items(VoteButton)


async def teardown(bot: NewsBot) -> None:
    bot.remove_dynamic_items(VoteButton)


__all__ = ["VoteButton", "vote_view"]
