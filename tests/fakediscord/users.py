"""What members do besides slash commands: post in a guild channel, DM the bot, leave a guild
(or get banned from it).

As on Discord, the gateway delivers a post only with the intents the bot asked for, and blanks
its content without message_content; a departure is told only with the members intent, a ban
only with the moderation one.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from .gateway import Gateway
from .messages import MessageStore
from .models import (
    INTENT_DIRECT_MESSAGES,
    INTENT_GUILD_MEMBERS,
    INTENT_GUILD_MESSAGES,
    INTENT_GUILD_MODERATION,
    INTENT_MESSAGE_CONTENT,
    FakeMember,
    FakeUser,
)
from .world import World


class Users:
    """Members' own messages, stored and dispatched as MESSAGE_CREATE."""

    def __init__(self, world: World, messages: MessageStore, gateway: Gateway) -> None:
        self._world = world
        self._messages = messages
        self._gateway = gateway

    async def send_message(
        self,
        *,
        guild_id: int,
        channel_id: int,
        author: FakeUser,
        content: str,
        attachments: Sequence[dict[str, Any]] = (),
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A user posts in a guild channel: MESSAGE_CREATE (with ``member``) is dispatched.

        ``reply_to`` (a stored message) makes it a reply: type 19, with ``message_reference``
        and the ``referenced_message`` as Discord embeds it.

        As on Discord, nothing is delivered without the guild_messages intent, and content,
        embeds and attachments arrive empty without message_content unless the bot is mentioned.
        Returns the full message as stored (with content).
        """
        guild = self._world.guild(guild_id)
        guild.channel_payload(channel_id)  # 404s on an unknown channel
        self._world.users.setdefault(author.id, author)
        extra: dict[str, Any] = {}
        if reply_to is not None:
            extra = {
                "message_reference": {
                    "type": 0,
                    "message_id": str(reply_to["id"]),
                    "channel_id": str(channel_id),
                    "guild_id": str(guild_id),
                },
                "referenced_message": self._messages.copy(int(reply_to["id"])),
            }
        message = self._messages.new(
            channel_id=channel_id,
            author=author,
            content=content,
            attachments=list(attachments),
            msg_type=19 if reply_to is not None else 0,
            extra=extra,
        )
        member = self._world.find_member(guild, author.id) or FakeMember(author)
        event = copy.deepcopy(message)
        event["member"] = member.payload(with_user=False)
        intents = self._gateway.intents
        mentioned = any(int(u["id"]) == self._world.bot_user.id for u in message["mentions"])
        if not intents & INTENT_MESSAGE_CONTENT and not mentioned:
            event.update(content="", embeds=[], attachments=[], components=[])
        if intents & INTENT_GUILD_MESSAGES:
            await self._gateway.dispatch("MESSAGE_CREATE", event)
        return copy.deepcopy(message)

    async def send_dm(self, *, author: FakeUser, content: str) -> dict[str, Any]:
        """A user DMs the bot (needs the dm_messages intent; content is always visible)."""
        channel_id = self._world.dm_channel_id(author)
        message = self._messages.new(channel_id=channel_id, author=author, content=content)
        event = copy.deepcopy(message)
        event["channel_type"] = 1
        if self._gateway.intents & INTENT_DIRECT_MESSAGES:
            await self._gateway.dispatch("MESSAGE_CREATE", event)
        return copy.deepcopy(message)

    async def leave(self, *, guild_id: int, user: FakeUser, banned: bool = False) -> None:
        """``user`` leaves the guild, or is banned from it: from now on the member lookup 404s
        (Unknown Member). GUILD_BAN_ADD is dispatched for a ban with the moderation intent
        (not privileged), GUILD_MEMBER_REMOVE only with the privileged members intent."""
        self._world.remove_member(guild_id, user.id)
        data = {"guild_id": str(guild_id), "user": user.payload()}
        intents = self._gateway.intents
        if banned and intents & INTENT_GUILD_MODERATION:
            await self._gateway.dispatch("GUILD_BAN_ADD", data)
        if intents & INTENT_GUILD_MEMBERS:
            await self._gateway.dispatch("GUILD_MEMBER_REMOVE", data)
